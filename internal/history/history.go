// Package history keeps, in memory, a recent history of every queue's depth and throughput for
// the web console's charts: a sampler reads each queue's counts every Interval (through the
// injected clock) into a fixed-size ring per queue covering Window, and counts the messages
// sent, received and deleted between samples as a queue.Observer. Nothing is stored on disk;
// a restart starts an empty history.
package history

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/queue"
)

// Defaults of Options.
const (
	DefaultInterval  = 5 * time.Second
	DefaultWindow    = time.Hour
	DefaultMaxQueues = 1000
)

// Options configure a History.
type Options struct {
	Engine engine.Engine
	Clock  clock.Clock
	Logger *slog.Logger
	// Interval between samples (default 5 s) and Window kept (default 1 h).
	Interval, Window time.Duration
	// MaxQueues bounds the queues sampled (default 1000), so a sample costs bounded work.
	MaxQueues int
}

// Sample is one queue's state at one time. Sent, Received and Deleted count the messages of
// the interval that ended at At.
type Sample struct {
	At                         time.Time
	Visible, InFlight, Delayed int64
	Sent, Received, Deleted    uint64
}

// counts are the messages seen since the last sample.
type counts struct{ sent, received, deleted uint64 }

// ring is a fixed-size buffer of samples.
type ring struct {
	buf  []Sample
	next int // where the next sample goes
	full bool
}

func (r *ring) add(s Sample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) samples() []Sample {
	if !r.full {
		return append([]Sample(nil), r.buf[:r.next]...)
	}
	return append(append([]Sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// History is the in-memory history. It implements queue.Observer.
type History struct {
	o Options

	mu      sync.Mutex
	pending map[engine.QueueKey]*counts // guarded by mu
	rings   map[engine.QueueKey]*ring   // guarded by mu
}

// New returns an empty History; Run samples it.
func New(o Options) *History {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxQueues <= 0 {
		o.MaxQueues = DefaultMaxQueues
	}
	return &History{o: o, pending: map[engine.QueueKey]*counts{}, rings: map[engine.QueueKey]*ring{}}
}

// Interval returns the time between samples.
func (h *History) Interval() time.Duration { return h.o.Interval }

// Observe implements queue.Observer.
func (h *History) Observe(ev queue.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Kind == queue.EventQueueDeleted {
		delete(h.pending, ev.Queue)
		delete(h.rings, ev.Queue)
		return
	}
	c := h.pending[ev.Queue]
	if c == nil {
		if len(h.pending) >= 4*h.o.MaxQueues {
			return // bounded memory, whatever the events
		}
		c = &counts{}
		h.pending[ev.Queue] = c
	}
	n := uint64(max(ev.Count, 0))
	switch ev.Kind {
	case queue.EventSent:
		c.sent += n
	case queue.EventReceived:
		c.received += n
	case queue.EventDeleted:
		c.deleted += n
	}
}

// Run samples every Interval until ctx is done.
func (h *History) Run(ctx context.Context) {
	for {
		t := h.o.Clock.NewTimer(h.o.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		h.SampleNow(ctx)
	}
}

// SampleNow takes one sample of every queue (up to MaxQueues of them).
func (h *History) SampleNow(ctx context.Context) {
	qs, err := h.o.Engine.QueueList(ctx, &engine.QueueListParams{})
	if err != nil {
		h.o.Logger.Warn("history: listing queues", "err", err)
		return
	}
	if len(qs) > h.o.MaxQueues {
		qs = qs[:h.o.MaxQueues]
	}
	now := h.o.Clock.Now()
	type stat struct {
		k  engine.QueueKey
		st *engine.QueueStats
	}
	stats := make([]stat, 0, len(qs))
	for _, q := range qs {
		st, err := h.o.Engine.QueueStats(ctx, &engine.QueueStatsParams{Key: q.Key, Now: now})
		if err != nil {
			continue
		}
		stats = append(stats, stat{q.Key, st})
	}
	size := int(h.o.Window / h.o.Interval)
	h.mu.Lock()
	defer h.mu.Unlock()
	live := make(map[engine.QueueKey]bool, len(stats))
	for _, s := range stats {
		live[s.k] = true
		r := h.rings[s.k]
		if r == nil {
			r = &ring{buf: make([]Sample, max(size, 1))}
			h.rings[s.k] = r
		}
		smp := Sample{At: now, Visible: s.st.Visible, InFlight: s.st.InFlight, Delayed: s.st.Delayed}
		if c := h.pending[s.k]; c != nil {
			smp.Sent, smp.Received, smp.Deleted = c.sent, c.received, c.deleted
		}
		r.add(smp)
	}
	clear(h.pending)
	for k := range h.rings {
		if !live[k] {
			delete(h.rings, k)
		}
	}
}

// Samples returns a queue's samples, oldest first (nil if it has none).
func (h *History) Samples(k engine.QueueKey) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rings[k]; r != nil {
		return r.samples()
	}
	return nil
}

// Rate is a queue's throughput over the last span of samples, in messages per second.
type Rate struct{ Sent, Received, Deleted float64 }

// Rates returns a queue's throughput over the samples of the last span (zero without samples).
func (h *History) Rates(k engine.QueueKey, span time.Duration) Rate {
	ss := h.Samples(k)
	if len(ss) == 0 {
		return Rate{}
	}
	n := min(max(int(span/h.o.Interval), 1), len(ss))
	var sent, recv, del uint64
	for _, s := range ss[len(ss)-n:] {
		sent += s.Sent
		recv += s.Received
		del += s.Deleted
	}
	secs := (time.Duration(n) * h.o.Interval).Seconds()
	return Rate{Sent: float64(sent) / secs, Received: float64(recv) / secs, Deleted: float64(del) / secs}
}
