package memtune

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"sluice/internal/clock"
)

func TestPercent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		top          int
		budget, live uint64
		want         int
	}{
		{400, 256 * mib, 0, 400},
		{400, 256 * mib, 32 * mib, 400},   // 800% would fit: capped at the top
		{400, 256 * mib, 64 * mib, 400},   // exactly the budget
		{400, 256 * mib, 128 * mib, 200},  // headroom 256 MiB
		{400, 256 * mib, 512 * mib, 100},  // 50% would fit: never below Go's default
		{400, 256 * mib, 4096 * mib, 100}, // a big backlog's index
		{100, 256 * mib, 32 * mib, 100},
		{50, 256 * mib, 32 * mib, 50},
		{-1, 256 * mib, 32 * mib, -1},
	} {
		if got := Percent(tc.top, tc.budget, tc.live); got != tc.want {
			t.Errorf("Percent(%d, %d MiB, %d MiB) = %d, want %d", tc.top, tc.budget/mib, tc.live/mib, got, tc.want)
		}
	}
}

// TestRunFollowsLiveHeap drives Run with a fake clock and a scripted live heap: the target
// follows the heap each period, and only changes are applied.
func TestRunFollowsLiveHeap(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	fc := clock.NewFake(time.Unix(0, 0))
	var mu sync.Mutex
	live := uint64(16 * mib)
	var set []int
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Options{Max: 400, Budget: 256 * mib, Every: time.Second, Clock: fc,
			Live: func() uint64 { mu.Lock(); defer mu.Unlock(); return live },
			Set:  func(p int) { mu.Lock(); defer mu.Unlock(); set = append(set, p) }})
	}()
	applied := func(n int) []int {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			got := append([]int(nil), set...)
			mu.Unlock()
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitTimer := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for fc.Waiters() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if got := applied(1); len(got) != 1 || got[0] != 400 {
		t.Fatalf("first target %v, want [400]", got)
	}
	for _, step := range []struct {
		live uint64
		want []int
	}{
		{16 * mib, []int{400}},             // unchanged: nothing applied
		{128 * mib, []int{400, 200}},       // grown
		{1024 * mib, []int{400, 200, 100}}, // a backlog
		{8 * mib, []int{400, 200, 100, 400}},
	} {
		mu.Lock()
		live = step.live
		mu.Unlock()
		waitTimer()
		fc.Advance(time.Second)
		if got := applied(len(step.want)); !slices.Equal(got, step.want) {
			t.Fatalf("after live %d MiB: applied %v, want %v", step.live/mib, got, step.want)
		}
	}
	cancel()
	<-done
}

func TestRunFixedTarget(t *testing.T) {
	t.Parallel()
	for _, top := range []int{-1, 50, 100} {
		var set []int
		Run(t.Context(), Options{Max: top, Set: func(p int) { set = append(set, p) }})
		if len(set) != 1 || set[0] != top {
			t.Errorf("Run with Max %d applied %v, want [%d] once", top, set, top)
		}
	}
}
