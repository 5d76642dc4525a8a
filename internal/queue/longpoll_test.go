package queue_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/memengine"
	"sluice/internal/queue"
)

// watchedEngine is a memory engine that also implements engine.Watcher, as the PostgreSQL
// engine does, so that a test can wake long polls spuriously (the PostgreSQL engine wakes
// every waiter whenever its LISTEN connection comes up). hook, when set, runs inside each
// MessageReceive.
type watchedEngine struct {
	engine.Engine
	mu   sync.Mutex
	fns  []func(engine.QueueKey)
	hook atomic.Pointer[func()]
}

func (w *watchedEngine) Watch(fn func(engine.QueueKey)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fns = append(w.fns, fn)
}

func (w *watchedEngine) wakeAll() {
	w.mu.Lock()
	fns := append([]func(engine.QueueKey){}, w.fns...)
	w.mu.Unlock()
	for _, fn := range fns {
		fn(engine.QueueKey{})
	}
}

func (w *watchedEngine) MessageReceive(ctx context.Context, p *engine.MessageReceiveParams) (*engine.MessageReceiveResult, error) {
	if h := w.hook.Load(); h != nil {
		(*h)()
	}
	return w.Engine.MessageReceive(ctx, p)
}

// TestLongPollSpuriousWakeAndAdvance is the regression test of a hang of the SDK suite on the
// PostgreSQL engine: a long poll woken spuriously (by the engine's watcher) read the time, and
// the test advanced the fake clock to the end of the wait before the poll set its next timer;
// the timer was then set a whole wait after the new time and never fired, so the receive
// waited forever. The poll must end when the clock passes its deadline, whenever the clock
// moves.
func TestLongPollSpuriousWakeAndAdvance(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng := &watchedEngine{Engine: memengine.New()}
	defer eng.Close()
	svc := queue.New(queue.Options{Engine: eng, Clock: fc, SweepEvery: -1})
	require.NoError(t, svc.Start(ctx))
	defer svc.Close()
	c := &queue.Caller{Account: "000000000000", Region: "us-east-1", BaseURL: "http://x"}
	q, err := svc.CreateQueue(ctx, c, &queue.CreateQueueInput{QueueName: "q"})
	require.NoError(t, err)

	// The receive gives up after 10 s of real time at most; a correct one returns at once once
	// the clock has passed its deadline.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	type result struct {
		out *queue.ReceiveMessageOutput
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := svc.ReceiveMessage(rctx, c, &queue.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: aws(5)})
		res <- result{out, err}
	}()
	for fc.Waiters() < 1 {
		time.Sleep(time.Millisecond)
	}
	// Wake the poll spuriously; while it looks at the queue again (after it read the time),
	// the test advances the clock past the end of the wait.
	var once sync.Once
	advanced := make(chan struct{})
	hook := func() { once.Do(func() { fc.Advance(5 * time.Second); close(advanced) }) }
	eng.hook.Store(&hook)
	eng.wakeAll()
	<-advanced
	r := <-res
	require.NoError(t, r.err)
	require.Empty(t, r.out.Messages)
	require.NoError(t, rctx.Err(), "the long poll outlived its deadline on the clock: it returned only when its context ended")
}

func aws(v int32) *int32 { return &v }
