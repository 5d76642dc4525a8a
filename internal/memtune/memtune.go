// Package memtune keeps the Go garbage collector's target suited to a server whose live heap
// grows with its backlog. A high target (GOGC) saves the CPU of collecting short-lived request
// garbage while the live heap is small, but multiplies a large live heap (a backlog's index):
// so the target falls as the live heap grows, keeping the heap's headroom over the live data
// within a budget, and never goes below Go's default of 100.
package memtune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"sluice/internal/clock"
)

// DefaultBudget is the default Options.Budget.
const DefaultBudget = 256 << 20

// Percent returns the GC target for a live heap of live bytes: top while that leaves at most
// budget bytes of headroom, less as the live heap grows (budget / live), down to 100. A top of
// 100 or below (-1: off) is returned as it is.
func Percent(top int, budget, live uint64) int {
	if top <= 100 {
		return top
	}
	if live == 0 {
		return top
	}
	fit := budget * 100 / live
	if fit >= uint64(top) {
		return top
	}
	return max(int(fit), 100)
}

// Options configure Run.
type Options struct {
	// Max is the GC target while the live heap is small (what --gc-percent sets); at 100 or
	// below, or -1 (off), Run sets it once and returns.
	Max int
	// Budget bounds the heap's headroom over the live data once the live heap is large (0:
	// DefaultBudget).
	Budget uint64
	// Every is how often the live heap is read (0: 1s).
	Every time.Duration
	// Clock makes the timers; nil is the wall clock.
	Clock clock.Clock
	// Live reads the live heap in bytes; nil reads runtime/metrics' /gc/heap/live:bytes.
	Live func() uint64
	// Set applies a target; nil is debug.SetGCPercent.
	Set func(int)
	// Logger gets a debug line when the target changes; nil discards.
	Logger *slog.Logger
}

// Run sets the GC target from the live heap every o.Every until ctx ends.
func Run(ctx context.Context, o Options) {
	if o.Set == nil {
		o.Set = func(p int) { debug.SetGCPercent(p) }
	}
	if o.Max <= 100 {
		o.Set(o.Max)
		return
	}
	if o.Budget == 0 {
		o.Budget = DefaultBudget
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Live == nil {
		o.Live = liveHeap
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cur := -2
	for {
		if p := Percent(o.Max, o.Budget, o.Live()); p != cur {
			o.Set(p)
			o.Logger.Debug("gc target", "percent", p)
			cur = p
		}
		t := o.Clock.NewTimer(o.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// liveHeap returns the live heap as of the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
