package msgindex

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// counts is Counts as one comparable value.
type counts struct{ ready, inFlight, delayed int }

func countsOf(x *Index) counts {
	r, f, d := x.Counts()
	return counts{r, f, d}
}

func ready(seq uint64, sentAt int64) State {
	return State{Seq: seq, SentAt: sentAt}
}

func delayed(seq uint64, sentAt, visibleAt int64) State {
	return State{Seq: seq, SentAt: sentAt, VisibleAt: visibleAt}
}

// takeAll receives every ready entry at now and returns their seqs in order.
func takeAll(x *Index, now, visibleAt int64) []uint64 {
	var out []uint64
	for e := x.PeekReady(); e != nil; e = x.PeekReady() {
		x.Receive(e, now, visibleAt, e.Seq()+1000)
		out = append(out, e.Seq())
	}
	return out
}

func TestAddPlacesEntries(t *testing.T) {
	t.Parallel()
	x := New()
	require.Equal(t, 0, x.Len())
	require.Nil(t, x.PeekReady())
	require.Zero(t, x.NextVisibleAt())

	x.Add(ready(1, 1000))
	x.Add(delayed(2, 1000, 5000))
	// VisibleAt not after SentAt is no delay.
	x.Add(delayed(3, 1000, 1000))
	// Loaded states: received and in flight, received and since promoted.
	x.Add(State{Seq: 4, SentAt: 1000, VisibleAt: 7000, ReceivedAt: 2000, FirstReceiveAt: 2000, ReceiveCount: 1, Token: 9})
	x.Add(State{Seq: 5, SentAt: 1000, ReceiveCount: 2, Token: 8})

	require.Equal(t, 5, x.Len())
	require.Equal(t, counts{3, 1, 1}, countsOf(x))
	require.Equal(t, uint64(1), x.PeekReady().Seq())
	require.Equal(t, int64(5000), x.NextVisibleAt())
	require.False(t, x.Get(2).InFlight())
	require.True(t, x.Get(4).InFlight())
	require.False(t, x.Get(5).InFlight())
	require.Nil(t, x.Get(6))
}

func TestReadyOrderIsSeqOrder(t *testing.T) {
	t.Parallel()
	x := New()
	for _, seq := range []uint64{5, 3, 9, 1, 7} {
		x.Add(ready(seq, int64(seq)))
	}
	require.Equal(t, []uint64{1, 3, 5, 7, 9}, takeAll(x, 100, 200))
	require.Equal(t, counts{0, 5, 0}, countsOf(x))
}

func TestPromote(t *testing.T) {
	t.Parallel()
	x := New()
	x.Add(delayed(1, 1000, 5000))
	x.Add(delayed(2, 1000, 3000))
	x.Add(delayed(3, 1000, 5000))
	require.Equal(t, int64(3000), x.NextVisibleAt())

	x.Promote(2999)
	require.Equal(t, counts{0, 0, 3}, countsOf(x))
	x.Promote(3000)
	require.Equal(t, counts{1, 0, 2}, countsOf(x))
	require.Equal(t, uint64(2), x.PeekReady().Seq())
	require.Zero(t, x.Get(2).VisibleAt(), "a promoted entry is visible")
	require.Equal(t, int64(5000), x.NextVisibleAt())

	x.Promote(10_000)
	require.Equal(t, counts{3, 0, 0}, countsOf(x))
	require.Zero(t, x.NextVisibleAt())
	require.Equal(t, []uint64{1, 2, 3}, takeAll(x, 10_000, 20_000))
}

func TestReceive(t *testing.T) {
	t.Parallel()
	x := New()
	x.Add(ready(1, 1000))
	e := x.PeekReady()

	x.Receive(e, 2000, 32_000, 7)
	require.Equal(t, State{Seq: 1, SentAt: 1000, VisibleAt: 32_000, ReceivedAt: 2000, FirstReceiveAt: 2000, Token: 7, ReceiveCount: 1}, e.State())
	require.True(t, e.InFlight())
	require.Nil(t, x.PeekReady())
	require.Equal(t, counts{0, 1, 0}, countsOf(x))
	require.Equal(t, int64(32_000), x.NextVisibleAt())

	x.Promote(31_999)
	require.Equal(t, counts{0, 1, 0}, countsOf(x))
	x.Promote(32_000)
	require.Equal(t, counts{1, 0, 0}, countsOf(x))
	require.False(t, e.InFlight())
	require.Equal(t, e.Seq(), x.PeekReady().Seq())

	x.Receive(e, 40_000, 70_000, 8)
	require.Equal(t, uint32(2), e.ReceiveCount())
	require.Equal(t, int64(2000), e.FirstReceiveAt(), "FirstReceiveAt is kept")
	require.Equal(t, int64(40_000), e.ReceivedAt())
	require.Equal(t, uint64(8), e.Token())
	require.Equal(t, counts{0, 1, 0}, countsOf(x))
}

func TestSetVisibleAtPending(t *testing.T) {
	t.Parallel()
	x := New()
	for seq := uint64(1); seq <= 3; seq++ {
		x.Add(ready(seq, 1000))
	}
	x.Receive(x.Get(1), 2000, 10_000, 1)
	x.Receive(x.Get(2), 2000, 20_000, 2)
	x.Receive(x.Get(3), 2000, 30_000, 3)
	require.Equal(t, int64(10_000), x.NextVisibleAt())

	// Earlier than the others: it becomes the next to show.
	x.SetVisibleAt(x.Get(3), 5000)
	require.Equal(t, int64(5000), x.NextVisibleAt())
	require.Equal(t, counts{0, 3, 0}, countsOf(x))
	x.Promote(5000)
	require.Equal(t, counts{1, 2, 0}, countsOf(x))
	require.Equal(t, uint64(3), x.PeekReady().Seq())

	// Later: it no longer comes first.
	x.SetVisibleAt(x.Get(1), 25_000)
	require.Equal(t, int64(20_000), x.NextVisibleAt())
	x.Promote(20_000)
	require.Equal(t, counts{2, 1, 0}, countsOf(x))
	require.True(t, x.Get(1).InFlight())
	require.False(t, x.Get(2).InFlight())

	// A delayed entry stays delayed when its time changes.
	x.Add(delayed(4, 1000, 90_000))
	x.SetVisibleAt(x.Get(4), 50_000)
	require.Equal(t, counts{2, 1, 1}, countsOf(x))
	x.Promote(50_000)
	require.Equal(t, counts{4, 0, 0}, countsOf(x))
}

func TestSetVisibleAtReady(t *testing.T) {
	t.Parallel()
	x := New()
	x.Add(ready(1, 1000))
	x.Add(ready(2, 1000))
	e := x.Get(1)
	x.Receive(e, 2000, 10_000, 5)
	x.Promote(10_000)
	require.Equal(t, counts{2, 0, 0}, countsOf(x))

	// A received entry whose visibility expired is hidden again: in flight, same receive.
	x.SetVisibleAt(e, 40_000)
	require.Equal(t, counts{1, 1, 0}, countsOf(x))
	require.True(t, e.InFlight())
	require.Equal(t, uint32(1), e.ReceiveCount())
	require.Equal(t, uint64(5), e.Token())
	require.Equal(t, uint64(2), x.PeekReady().Seq())
	require.Equal(t, int64(40_000), x.NextVisibleAt())

	// A never-received entry hidden counts as delayed.
	x.SetVisibleAt(x.Get(2), 30_000)
	require.Equal(t, counts{0, 1, 1}, countsOf(x))
	require.Equal(t, int64(30_000), x.NextVisibleAt())

	// A deadline already due: ready at the next Promote.
	x.SetVisibleAt(e, 10_000)
	x.Promote(10_000)
	require.Equal(t, counts{1, 0, 1}, countsOf(x))
	require.Equal(t, e.Seq(), x.PeekReady().Seq())
}

func TestRemove(t *testing.T) {
	t.Parallel()
	x := New()
	x.Add(ready(1, 1000))
	x.Add(ready(2, 1000))
	x.Add(delayed(3, 1000, 9000))
	x.Receive(x.Get(2), 2000, 8000, 1)
	require.Equal(t, counts{1, 1, 1}, countsOf(x))

	require.True(t, x.Remove(2))
	require.Equal(t, counts{1, 0, 1}, countsOf(x))
	require.Equal(t, int64(9000), x.NextVisibleAt())
	require.True(t, x.Remove(3))
	require.Equal(t, counts{1, 0, 0}, countsOf(x))
	require.Zero(t, x.NextVisibleAt())
	require.True(t, x.Remove(1))
	require.Equal(t, counts{0, 0, 0}, countsOf(x))
	require.Nil(t, x.PeekReady())

	require.False(t, x.Remove(1), "removing twice")
	require.Nil(t, x.Get(1))
	require.Zero(t, x.Len())
	require.Empty(t, x.Expire(1<<62, 0), "removed entries do not expire again")
}

func TestExpire(t *testing.T) {
	t.Parallel()
	x := New()
	// seq i sent at i*1000; 2 and 5 in flight, 3 and 8 delayed.
	for seq := uint64(1); seq <= 10; seq++ {
		if seq == 3 || seq == 8 {
			x.Add(delayed(seq, int64(seq)*1000, 100_000))
			continue
		}
		x.Add(ready(seq, int64(seq)*1000))
	}
	x.Receive(x.Get(2), 11_000, 50_000, 1)
	x.Receive(x.Get(5), 11_000, 50_000, 2)
	x.Remove(4)
	require.Equal(t, counts{5, 2, 2}, countsOf(x))

	require.Empty(t, x.Expire(1000, 0), "sent at the cutoff is kept")
	require.Equal(t, []uint64{1, 2, 3, 5}, x.Expire(5001, 0))
	require.Equal(t, 5, x.Len())
	require.Equal(t, counts{4, 0, 1}, countsOf(x))
	for _, seq := range []uint64{1, 2, 3, 4, 5} {
		require.Nil(t, x.Get(seq))
	}
	require.Empty(t, x.Expire(5001, 0))
	require.Equal(t, uint64(6), x.PeekReady().Seq())

	require.Equal(t, []uint64{6, 7, 8, 9, 10}, x.Expire(1<<62, 0))
	require.Equal(t, counts{0, 0, 0}, countsOf(x))
	require.Zero(t, x.NextVisibleAt())

	// The index keeps working after it was emptied.
	x.Add(ready(11, 20_000))
	require.Empty(t, x.Expire(20_000, 0))
	require.Equal(t, []uint64{11}, x.Expire(20_001, 0))
}

func TestExpireOrder(t *testing.T) {
	t.Parallel()
	x := New()
	// Added (as loaded from a store, or by racing senders) in neither seq nor SentAt order.
	// Equal SentAts break ties by seq.
	for _, e := range []State{ready(4, 3000), ready(1, 1000), ready(3, 2000), ready(2, 2000), ready(5, 500)} {
		x.Add(e)
	}
	require.Equal(t, []uint64{5, 1}, x.Expire(2000, 0))
	require.Equal(t, []uint64{2, 3}, x.Expire(2001, 0))
	require.Equal(t, []uint64{4}, x.Expire(1<<62, 0))
}

func TestCompaction(t *testing.T) {
	t.Parallel()
	x := New()
	const n = 5000
	for seq := uint64(1); seq <= n; seq++ {
		x.Add(ready(seq, int64(seq)))
	}
	// Remove four of every five, out of order of arrival.
	for seq := uint64(n); seq >= 1; seq-- {
		if seq%5 != 0 {
			require.True(t, x.Remove(seq))
		}
	}
	require.Equal(t, n/5, x.Len())
	require.LessOrEqual(t, len(x.arrival), max(2*x.Len(), 1024), "arrival list not compacted")

	// Retention still sees every live entry, in order.
	var want []uint64
	for seq := uint64(5); seq <= 2500; seq += 5 {
		want = append(want, seq)
	}
	require.Equal(t, want, x.Expire(2501, 0))
	require.Equal(t, n/5-len(want), x.Len())

	// Steady churn with few live entries keeps the list bounded.
	next := uint64(n + 1)
	for range 100_000 {
		x.Add(ready(next, int64(next)))
		x.Remove(next)
		next++
	}
	require.LessOrEqual(t, len(x.arrival), 2048, "arrival list grows without bound under churn")
	require.Equal(t, n/5-len(want), x.Len())
	got := x.Expire(1<<62, 0)
	require.Len(t, got, n/5-len(want))
	require.True(t, slices.IsSorted(got))
	require.Zero(t, x.Len())
}

func TestRemoveAll(t *testing.T) {
	t.Parallel()
	x := New()
	x.Add(ready(1, 1000))
	x.Add(ready(2, 1000))
	x.Add(delayed(3, 1000, 9000))
	x.Receive(x.Get(2), 2000, 8000, 1)

	got := x.RemoveAll()
	slices.Sort(got)
	require.Equal(t, []uint64{1, 2, 3}, got)
	require.Zero(t, x.Len())
	require.Equal(t, counts{0, 0, 0}, countsOf(x))
	require.Nil(t, x.PeekReady())
	require.Zero(t, x.NextVisibleAt())
	require.Empty(t, x.Expire(1<<62, 0))

	x.Add(ready(4, 3000))
	require.Equal(t, uint64(4), x.PeekReady().Seq())
	require.Equal(t, []uint64{4}, x.Expire(1<<62, 0))
}

// TestModel runs random operations against the index and a plain model of it.
func TestModel(t *testing.T) {
	t.Parallel()
	type modelEntry struct {
		sentAt, visibleAt int64 // visibleAt 0: ready
		received          bool
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := New()
	model := map[uint64]*modelEntry{}
	var now int64 = 1000
	var nextSeq uint64 = 1

	check := func(step int) {
		t.Helper()
		var want counts
		var minReady uint64
		var next int64
		for seq, m := range model {
			switch {
			case m.visibleAt == 0 || m.visibleAt <= now:
				want.ready++
				if minReady == 0 || seq < minReady {
					minReady = seq
				}
			case m.received:
				want.inFlight++
			default:
				want.delayed++
			}
			if m.visibleAt > now && (next == 0 || m.visibleAt < next) {
				next = m.visibleAt
			}
		}
		x.Promote(now)
		require.Equal(t, want, countsOf(x), "step %d", step)
		require.Equal(t, len(model), x.Len(), "step %d", step)
		require.Equal(t, next, x.NextVisibleAt(), "step %d", step)
		if minReady == 0 {
			require.Nil(t, x.PeekReady(), "step %d", step)
		} else {
			require.Equal(t, minReady, x.PeekReady().Seq(), "step %d", step)
		}
	}
	pick := func() (uint64, bool) {
		if len(model) == 0 {
			return 0, false
		}
		keys := make([]uint64, 0, len(model))
		for k := range model {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys[rng.IntN(len(keys))], true
	}

	for step := range 5000 {
		now += rng.Int64N(300)
		switch op := rng.IntN(10); {
		case op < 3: // send, maybe delayed
			var vis int64
			if rng.IntN(3) == 0 {
				vis = now + 1 + rng.Int64N(2000)
			}
			x.Add(State{Seq: nextSeq, SentAt: now, VisibleAt: vis})
			model[nextSeq] = &modelEntry{sentAt: now, visibleAt: vis}
			nextSeq++
		case op < 6: // receive
			x.Promote(now)
			if e := x.PeekReady(); e != nil {
				vis := now + rng.Int64N(2000)
				x.Receive(e, now, vis, uint64(step))
				model[e.Seq()].visibleAt, model[e.Seq()].received = vis, true
			}
		case op < 7: // change visibility of a received entry
			if seq, ok := pick(); ok && model[seq].received {
				vis := now + rng.Int64N(2000) - 500
				x.Promote(now)
				x.SetVisibleAt(x.Get(seq), vis)
				model[seq].visibleAt = vis
			}
		case op < 9: // delete
			if seq, ok := pick(); ok {
				require.True(t, x.Remove(seq))
				delete(model, seq)
			}
		default: // retention
			cutoff := now - 3000
			var want []uint64
			for seq, m := range model {
				if m.sentAt < cutoff {
					want = append(want, seq)
					delete(model, seq)
				}
			}
			slices.Sort(want)
			got := x.Expire(cutoff, 0)
			slices.Sort(got)
			if len(want) == 0 {
				require.Empty(t, got, "step %d", step)
			} else {
				require.Equal(t, want, got, "step %d", step)
			}
		}
		check(step)
	}
}

// BenchmarkIndexMemory reports the index's memory per message (bytes/msg): its Go heap part
// (heap-bytes/msg) and its slab of records outside the heap (slab-bytes/msg). The disk engine
// keeps bodies on disk, so this is what a backlog costs in RAM.
func BenchmarkIndexMemory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		x := New()
		for seq := uint64(1); seq <= n; seq++ {
			x.Add(State{Seq: seq, SentAt: int64(seq)})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heapB := float64(after.HeapAlloc-before.HeapAlloc) / n
		slabB := float64(len(x.recs.chunks)*chunkLen*int(recSize)) / n
		b.ReportMetric(heapB, "heap-bytes/msg")
		b.ReportMetric(slabB, "slab-bytes/msg")
		b.ReportMetric(heapB+slabB, "bytes/msg")
		runtime.KeepAlive(x)
	}
}

func TestExpireMax(t *testing.T) {
	t.Parallel()
	x := New()
	for seq := uint64(1); seq <= 10; seq++ {
		x.Add(ready(seq, int64(seq)))
	}
	require.Equal(t, []uint64{1, 2, 3}, x.Expire(100, 3))
	require.Equal(t, []uint64{4, 5, 6, 7, 8, 9, 10}, x.Expire(100, 0))
	require.Zero(t, x.Len())
}

// TestFIFOGroupSurvivesReceiveOfItsOnlyMessage is the regression test of a bug the crash harness
// found: receiving a group's only waiting message dropped the group, so the next message of the
// group was delivered while the first was in flight.
func TestFIFOGroupSurvivesReceiveOfItsOnlyMessage(t *testing.T) {
	t.Parallel()
	x := NewFIFO()
	x.Add(State{Seq: 1, SentAt: 1, Group: "g"})
	x.Receive(x.PeekReady(), 10, 10_000, 7)
	x.Add(State{Seq: 2, SentAt: 20, Group: "g"})
	require.Nil(t, x.PeekReady(), "group g is blocked while seq 1 is in flight")
	x.Promote(10_000)
	require.Equal(t, uint64(1), x.PeekReady().Seq(), "seq 1 comes back first")
	x.Remove(1)
	require.Equal(t, uint64(2), x.PeekReady().Seq())
	x.Remove(2)
	require.Zero(t, x.Groups(), "an emptied group is forgotten")
}

// BenchmarkReceiveRemove receives and removes the oldest message of a standard queue holding a
// backlog of the given size: the index's part of a receive+delete, at full backlog and near
// empty.
func BenchmarkReceiveRemove(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000, 10_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := New()
			next := uint64(1)
			for ; next <= uint64(n); next++ {
				x.Add(State{Seq: next, SentAt: int64(next)})
			}
			b.ResetTimer()
			for b.Loop() {
				e := x.PeekReady()
				x.Receive(e, 1, 1<<40, 1)
				x.Remove(e.Seq())
				x.Add(State{Seq: next, SentAt: int64(next)})
				next++
			}
		})
	}
}

func TestReleaseLeavesAnEmptyIndex(t *testing.T) {
	t.Parallel()
	for _, x := range []*Index{New(), NewFIFO()} {
		for seq := uint64(1); seq <= 3*chunkLen; seq++ {
			x.Add(State{Seq: seq, SentAt: 1, Group: "g"})
		}
		x.Release()
		require.Zero(t, x.Len())
		require.Nil(t, x.PeekReady())
		x.Add(State{Seq: 7, SentAt: 1, Group: "g"})
		require.Equal(t, uint64(7), x.PeekReady().Seq(), "a released index works as a new one")
	}
}

func TestTenants(t *testing.T) {
	t.Parallel()
	x := New()
	for seq := uint64(1); seq <= 50; seq++ {
		x.Add(State{Seq: seq, SentAt: 1, Group: "a"})
	}
	x.Add(State{Seq: 51, SentAt: 1, Group: "b"})
	x.Add(State{Seq: 52, SentAt: 1})
	active, largest := x.Tenants()
	require.Equal(t, 2, active)
	require.Equal(t, 50, largest)
	// a is noisy (50 of 52 visible): b and the message without group come first, then a.
	require.Equal(t, uint64(51), x.PeekReady().Seq())
	x.Receive(x.PeekReady(), 1, 100, 1)
	require.Equal(t, uint64(52), x.PeekReady().Seq())
	x.Receive(x.PeekReady(), 1, 100, 2)
	require.Equal(t, uint64(1), x.PeekReady().Seq(), "with no quiet message left, the noisy tenant is served")
	require.Nil(t, x.NextInGroup(x.PeekReady()), "a tenant is not a FIFO group: batches are not filled from one tenant")
	active, largest = NewFIFO().Tenants()
	require.Zero(t, active+largest)
}
