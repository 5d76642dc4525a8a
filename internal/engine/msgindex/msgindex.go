// Package msgindex is the in-memory index of one queue's messages that the embedded engines keep
// beside their stores: which messages are ready and in what order, which are delayed or in flight
// and until when, which FIFO message groups are blocked, and each message's delivery state. It
// holds a small fixed amount per message and never a body. It is not safe for concurrent use; its
// owner locks around it.
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
	// Group is the message's MessageGroupId ("" for none).
	Group string
}

// Entry is the index's record of one message.
type Entry struct {
	State

	pending bool   // in the pending heap: delayed or in flight
	hidx    int    // position in the ready or pending heap
	gidx    int    // FIFO: position in its group's queue (when not in flight)
	group   *group // FIFO: its group
}

// InFlight reports whether the entry is invisible because it was received.
func (e *Entry) InFlight() bool { return e.pending && e.ReceiveCount > 0 }

// group is a FIFO message group: the messages not in flight, oldest first, and how many are in
// flight. A group is available (may deliver) when none is in flight and its oldest is visible.
type group struct {
	id       string
	queue    groupHeap
	inFlight int
	aidx     int // position in Index.available, or -1
}

func (g *group) availableNow() bool {
	return g.inFlight == 0 && len(g.queue) > 0 && !g.queue[0].pending
}

// Index holds one queue's entries.
type Index struct {
	fifo    bool
	bySeq   map[uint64]*Entry
	ready   seqHeap  // standard: visible messages, oldest first
	pending timeHeap // delayed and in-flight messages, soonest visible first
	// FIFO: groups by id, and the available ones ordered by their oldest message.
	groups    map[string]*group
	available availHeap
	// arrival orders messages by send time for retention. It may hold seqs already removed
	// (they are skipped when they surface) and is rebuilt when those dominate.
	arrival  arrivalHeap
	visible  int
	inFlight int
	delayed  int
}

// New returns an empty index of a standard queue.
func New() *Index { return &Index{bySeq: make(map[uint64]*Entry)} }

// NewFIFO returns an empty index of a FIFO queue: messages are delivered in order within their
// group, and a group delivers nothing while one of its messages is in flight.
func NewFIFO() *Index {
	return &Index{fifo: true, bySeq: make(map[uint64]*Entry), groups: make(map[string]*group)}
}

// Len returns the number of messages.
func (x *Index) Len() int { return len(x.bySeq) }

// Add inserts a new entry, in any order.
func (x *Index) Add(e *Entry) {
	x.bySeq[e.Seq] = e
	heap.Push(&x.arrival, arrival{sentAt: e.SentAt, seq: e.Seq})
	if x.fifo {
		g := x.groups[e.Group]
		if g == nil {
			g = &group{id: e.Group, aidx: -1}
			x.groups[e.Group] = g
		}
		e.group = g
	}
	x.place(e)
}

// place files an entry by its state.
func (x *Index) place(e *Entry) {
	e.pending = e.VisibleAt > 0 && (e.ReceiveCount > 0 || e.VisibleAt > e.SentAt)
	switch {
	case e.pending && e.ReceiveCount > 0:
		x.inFlight++
		heap.Push(&x.pending, e)
		if e.group != nil {
			e.group.inFlight++
		}
	case e.pending:
		x.delayed++
		heap.Push(&x.pending, e)
		if e.group != nil {
			heap.Push(&e.group.queue, e)
		}
	default:
		e.VisibleAt = 0
		x.visible++
		if e.group != nil {
			heap.Push(&e.group.queue, e)
		} else {
			heap.Push(&x.ready, e)
		}
	}
	x.refresh(e.group)
}

// unplace takes an entry out of every structure but bySeq and arrival.
func (x *Index) unplace(e *Entry) {
	switch {
	case e.pending && e.ReceiveCount > 0:
		x.inFlight--
		heap.Remove(&x.pending, e.hidx)
		if e.group != nil {
			e.group.inFlight--
		}
	case e.pending:
		x.delayed--
		heap.Remove(&x.pending, e.hidx)
		if e.group != nil {
			heap.Remove(&e.group.queue, e.gidx)
		}
	default:
		x.visible--
		if e.group != nil {
			heap.Remove(&e.group.queue, e.gidx)
		} else {
			heap.Remove(&x.ready, e.hidx)
		}
	}
	e.pending = false
	x.refresh(e.group)
}

// refresh keeps a FIFO group's place in the available heap in step with its state.
func (x *Index) refresh(g *group) {
	if g == nil {
		return
	}
	switch avail := g.availableNow(); {
	case avail && g.aidx < 0:
		heap.Push(&x.available, g)
	case avail:
		heap.Fix(&x.available, g.aidx)
	case g.aidx >= 0:
		heap.Remove(&x.available, g.aidx)
	}
}

// dropIfEmpty forgets a FIFO group that has no message left. It is called only when a message
// leaves the index for good: a group is momentarily empty inside every Receive, and its
// in-flight message must keep pointing at the group that later messages join.
func (x *Index) dropIfEmpty(g *group) {
	if g != nil && g.inFlight == 0 && len(g.queue) == 0 {
		delete(x.groups, g.id)
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
	x.dropIfEmpty(e.group)
	x.maybeCompact()
	return e
}

// Promote makes every pending entry whose VisibleAt has come (<= now) visible.
func (x *Index) Promote(now int64) {
	for len(x.pending) > 0 && x.pending[0].VisibleAt <= now {
		e := x.pending[0]
		x.unplace(e)
		e.VisibleAt = 0
		x.place(e)
	}
}

// Expire removes entries sent before cutoff (whatever their state), oldest first, at most max
// of them (max <= 0: all), and returns their seqs.
func (x *Index) Expire(cutoff int64, max int) []uint64 {
	var out []uint64
	for len(x.arrival) > 0 && x.arrival[0].sentAt < cutoff && (max <= 0 || len(out) < max) {
		a := heap.Pop(&x.arrival).(arrival)
		if e := x.bySeq[a.seq]; e != nil && e.SentAt == a.sentAt {
			x.unplace(e)
			delete(x.bySeq, a.seq)
			x.dropIfEmpty(e.group)
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

// PeekReady returns the next entry a receive would take, without taking it, or nil: the oldest
// visible message (standard), or the oldest message of the available group with the oldest
// message (FIFO).
func (x *Index) PeekReady() *Entry {
	if x.fifo {
		if len(x.available) == 0 {
			return nil
		}
		return x.available[0].queue[0]
	}
	if len(x.ready) == 0 {
		return nil
	}
	return x.ready[0]
}

// NextInGroup returns the entry a FIFO receive may take after e in the same batch: the next
// visible message of e's group, or nil. (A receive fills its batch from one group first.)
func (x *Index) NextInGroup(e *Entry) *Entry {
	g := e.group
	if g == nil || len(g.queue) == 0 || g.queue[0].pending {
		return nil
	}
	return g.queue[0]
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
	x.place(e)
}

// SetVisibleAt changes when an entry becomes visible; visibleAt <= now makes it visible at the
// next Promote. On an entry that was not received yet it delays it.
func (x *Index) SetVisibleAt(e *Entry, visibleAt int64) {
	x.unplace(e)
	e.VisibleAt = max(visibleAt, 1)
	if e.ReceiveCount == 0 && e.VisibleAt <= e.SentAt {
		e.VisibleAt = 0
	}
	x.place(e)
}

// Counts returns the numbers of visible, in-flight and delayed messages (call Promote first).
// Visible messages of blocked FIFO groups count as visible, as on SQS.
func (x *Index) Counts() (visible, inFlight, delayed int) {
	return x.visible, x.inFlight, x.delayed
}

// Groups returns the number of FIFO groups with messages (0 for a standard queue).
func (x *Index) Groups() int { return len(x.groups) }

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
	if x.fifo {
		*x = *NewFIFO()
	} else {
		*x = *New()
	}
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

// groupHeap is a group's queue: like seqHeap, but positions are kept in gidx, since a delayed
// entry sits in the pending heap and its group's queue at once.
type groupHeap []*Entry

func (h groupHeap) Len() int           { return len(h) }
func (h groupHeap) Less(i, j int) bool { return h[i].Seq < h[j].Seq }
func (h groupHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].gidx = i; h[j].gidx = j }
func (h *groupHeap) Push(v any)        { e := v.(*Entry); e.gidx = len(*h); *h = append(*h, e) }
func (h *groupHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// availHeap orders available FIFO groups by their oldest message.
type availHeap []*group

func (h availHeap) Len() int           { return len(h) }
func (h availHeap) Less(i, j int) bool { return h[i].queue[0].Seq < h[j].queue[0].Seq }
func (h availHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].aidx = i; h[j].aidx = j }
func (h *availHeap) Push(v any)        { g := v.(*group); g.aidx = len(*h); *h = append(*h, g) }
func (h *availHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	g.aidx = -1
	*h = old[:len(old)-1]
	return g
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
