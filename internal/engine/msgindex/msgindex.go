// Package msgindex is the in-memory index of one queue's messages that the embedded engines keep
// beside their stores: which messages are ready and in what order, which are delayed or in flight
// and until when, and each message's delivery state. It holds a small fixed amount per message and
// never a body. It is not safe for concurrent use; its owner locks around it.
package msgindex

import (
	"container/heap"
)

// State is a message's delivery state: what a store persists beside the message so that the
// index can be rebuilt at start. Times are Unix milliseconds; VisibleAt 0 means visible.
type State struct {
	Seq            uint64
	SentAt         int64
	VisibleAt      int64
	ReceivedAt     int64
	FirstReceiveAt int64
	Token          uint64
	ReceiveCount   uint32
}

// Entry is the index's record of one message.
type Entry struct {
	State

	pending bool // in the pending heap (delayed or in flight); otherwise in the ready heap
	hidx    int  // position in its heap
}

// InFlight reports whether the entry is invisible because it was received.
func (e *Entry) InFlight() bool { return e.pending && e.ReceiveCount > 0 }

// Index holds one queue's entries.
type Index struct {
	bySeq   map[uint64]*Entry
	ready   seqHeap  // visible messages, oldest first
	pending timeHeap // delayed and in-flight messages, soonest visible first
	// arrival orders messages by send time for retention. It may hold seqs already removed
	// (they are skipped when they surface) and is rebuilt when those dominate.
	arrival  arrivalHeap
	inFlight int
	delayed  int
}

// New returns an empty index.
func New() *Index { return &Index{bySeq: make(map[uint64]*Entry)} }

// Len returns the number of messages.
func (x *Index) Len() int { return len(x.bySeq) }

// Add inserts a new entry, in any order.
func (x *Index) Add(e *Entry) {
	x.bySeq[e.Seq] = e
	heap.Push(&x.arrival, arrival{sentAt: e.SentAt, seq: e.Seq})
	x.place(e)
}

func (x *Index) place(e *Entry) {
	if e.VisibleAt > 0 && (e.ReceiveCount > 0 || e.VisibleAt > e.SentAt) {
		e.pending = true
		heap.Push(&x.pending, e)
		if e.ReceiveCount > 0 {
			x.inFlight++
		} else {
			x.delayed++
		}
		return
	}
	e.pending = false
	heap.Push(&x.ready, e)
}

func (x *Index) unplace(e *Entry) {
	if e.pending {
		heap.Remove(&x.pending, e.hidx)
		if e.ReceiveCount > 0 {
			x.inFlight--
		} else {
			x.delayed--
		}
	} else {
		heap.Remove(&x.ready, e.hidx)
	}
}

// Get returns the entry of seq, or nil.
func (x *Index) Get(seq uint64) *Entry { return x.bySeq[seq] }

// Remove deletes seq from the index and returns its entry (nil if absent).
func (x *Index) Remove(seq uint64) *Entry {
	e := x.bySeq[seq]
	if e == nil {
		return nil
	}
	x.unplace(e)
	delete(x.bySeq, seq)
	x.maybeCompact()
	return e
}

// Promote makes every pending entry whose VisibleAt has come (<= now) ready.
func (x *Index) Promote(now int64) {
	for len(x.pending) > 0 && x.pending[0].VisibleAt <= now {
		e := heap.Pop(&x.pending).(*Entry)
		if e.ReceiveCount > 0 {
			x.inFlight--
		} else {
			x.delayed--
		}
		e.pending = false
		e.VisibleAt = 0
		heap.Push(&x.ready, e)
	}
}

// Expire removes every entry sent before cutoff (whatever its state) and returns their seqs.
func (x *Index) Expire(cutoff int64) []uint64 {
	var out []uint64
	for len(x.arrival) > 0 && x.arrival[0].sentAt < cutoff {
		a := heap.Pop(&x.arrival).(arrival)
		if e := x.bySeq[a.seq]; e != nil && e.SentAt == a.sentAt {
			x.unplace(e)
			delete(x.bySeq, a.seq)
			out = append(out, a.seq)
		}
	}
	x.maybeCompact()
	return out
}

// maybeCompact rebuilds the arrival heap from the live entries when removed ones dominate it.
func (x *Index) maybeCompact() {
	if len(x.arrival) < 1024 || len(x.arrival) <= 2*len(x.bySeq) {
		return
	}
	kept := make(arrivalHeap, 0, len(x.bySeq))
	for _, a := range x.arrival {
		if e := x.bySeq[a.seq]; e != nil && e.SentAt == a.sentAt {
			kept = append(kept, a)
		}
	}
	heap.Init(&kept)
	x.arrival = kept
}

// PeekReady returns the oldest ready entry without taking it, or nil.
func (x *Index) PeekReady() *Entry {
	if len(x.ready) == 0 {
		return nil
	}
	return x.ready[0]
}

// Hide makes a ready or pending entry pending until visibleAt, as a receive does (the caller
// sets ReceiveCount and Token first when it is a receive).
func (x *Index) Hide(e *Entry, visibleAt int64) {
	x.unplace(e)
	e.VisibleAt = visibleAt
	e.pending = true
	heap.Push(&x.pending, e)
	if e.ReceiveCount > 0 {
		x.inFlight++
	} else {
		x.delayed++
	}
}

// Receive marks e received at now with a new token, invisible until visibleAt.
func (x *Index) Receive(e *Entry, now, visibleAt int64, token uint64) {
	x.unplace(e)
	e.ReceiveCount++
	if e.FirstReceiveAt == 0 {
		e.FirstReceiveAt = now
	}
	e.ReceivedAt = now
	e.Token = token
	e.VisibleAt = visibleAt
	e.pending = true
	heap.Push(&x.pending, e)
	x.inFlight++
}

// SetVisibleAt changes when a received entry becomes visible; visibleAt <= now makes it ready at
// the next Promote.
func (x *Index) SetVisibleAt(e *Entry, visibleAt int64) {
	if e.pending {
		e.VisibleAt = visibleAt
		heap.Fix(&x.pending, e.hidx)
		return
	}
	x.Hide(e, visibleAt)
}

// Counts returns the numbers of ready, in-flight and delayed messages (call Promote first).
func (x *Index) Counts() (ready, inFlight, delayed int) {
	return len(x.ready), x.inFlight, x.delayed
}

// NextVisibleAt returns the soonest VisibleAt of a pending entry, or 0.
func (x *Index) NextVisibleAt() int64 {
	if len(x.pending) == 0 {
		return 0
	}
	return x.pending[0].VisibleAt
}

// RemoveAll empties the index and returns the removed seqs.
func (x *Index) RemoveAll() []uint64 {
	out := make([]uint64, 0, len(x.bySeq))
	for seq := range x.bySeq {
		out = append(out, seq)
	}
	*x = *New()
	return out
}

// arrival is a retention-heap item: a message's send time and seq.
type arrival struct {
	sentAt int64
	seq    uint64
}

type arrivalHeap []arrival

func (h arrivalHeap) Len() int { return len(h) }
func (h arrivalHeap) Less(i, j int) bool {
	if h[i].sentAt != h[j].sentAt {
		return h[i].sentAt < h[j].sentAt
	}
	return h[i].seq < h[j].seq
}
func (h arrivalHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *arrivalHeap) Push(v any)   { *h = append(*h, v.(arrival)) }
func (h *arrivalHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	*h = old[:len(old)-1]
	return a
}

type seqHeap []*Entry

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i].Seq < h[j].Seq }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].hidx = i; h[j].hidx = j }
func (h *seqHeap) Push(v any)        { e := v.(*Entry); e.hidx = len(*h); *h = append(*h, e) }
func (h *seqHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

type timeHeap []*Entry

func (h timeHeap) Len() int { return len(h) }
func (h timeHeap) Less(i, j int) bool {
	if h[i].VisibleAt != h[j].VisibleAt {
		return h[i].VisibleAt < h[j].VisibleAt
	}
	return h[i].Seq < h[j].Seq
}
func (h timeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].hidx = i; h[j].hidx = j }
func (h *timeHeap) Push(v any)   { e := v.(*Entry); e.hidx = len(*h); *h = append(*h, e) }
func (h *timeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
