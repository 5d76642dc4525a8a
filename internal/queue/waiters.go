package queue

import (
	"sync"

	"sluice/internal/engine"
)

// waiters wakes long polls: each queue has a channel that is closed (and replaced) whenever a
// message may have become available, so any number of waiters wake at once without polling.
type waiters struct {
	mu sync.Mutex
	ch map[engine.QueueKey]chan struct{} // guarded by mu
}

func newWaiters() *waiters { return &waiters{ch: map[engine.QueueKey]chan struct{}{}} }

// wait returns a channel closed at the next notify of k. Take it before checking the queue so
// that no notification between the check and the wait is missed.
func (w *waiters) wait(k engine.QueueKey) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.ch[k]
	if c == nil {
		c = make(chan struct{})
		w.ch[k] = c
	}
	return c
}

// notify wakes every waiter of k.
func (w *waiters) notify(k engine.QueueKey) {
	w.mu.Lock()
	c := w.ch[k]
	delete(w.ch, k)
	w.mu.Unlock()
	if c != nil {
		close(c)
	}
}

// notifyEngine wakes the waiters of k or, for the zero key, every waiter (engine.Watcher).
func (w *waiters) notifyEngine(k engine.QueueKey) {
	if k != (engine.QueueKey{}) {
		w.notify(k)
		return
	}
	w.mu.Lock()
	chs := w.ch
	w.ch = map[engine.QueueKey]chan struct{}{}
	w.mu.Unlock()
	for _, c := range chs {
		close(c)
	}
}
