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

// Entry is the index's record of one message. It is kept small (48 bytes): the fields a message
// needs only once it has been received, or only on a standard queue with group ids, live in a
// separate record allocated then, since most of a large backlog has never been received.
type Entry struct {
	seq       uint64
	sentAt    int64
	visibleAt int64 // 0: visible
	hidx      int32 // position in the ready or pending heap
	gidx      int32 // FIFO: position in its group's queue (when not in flight)
	ext       *extra
	group     *group // FIFO: its group
}

// extra holds the state of a message that has been received, and the group id of a message of a
// standard queue.
type extra struct {
	receivedAt     int64
	firstReceiveAt int64
	token          uint64
	receiveCount   uint32
	groupID        string // standard queues only; FIFO entries name their group through group
}

// NewEntry returns an entry holding st.
func NewEntry(st State) *Entry {
	e := &Entry{seq: st.Seq, sentAt: st.SentAt, visibleAt: st.VisibleAt}
	if st.ReceiveCount > 0 || st.ReceivedAt != 0 || st.FirstReceiveAt != 0 || st.Token != 0 || st.Group != "" {
		e.ext = &extra{receivedAt: st.ReceivedAt, firstReceiveAt: st.FirstReceiveAt, token: st.Token,
			receiveCount: st.ReceiveCount, groupID: st.Group}
	}
	return e
}

// State returns the entry's delivery state.
func (e *Entry) State() State {
	st := State{Seq: e.seq, SentAt: e.sentAt, VisibleAt: e.visibleAt, Group: e.Group()}
	if e.ext != nil {
		st.ReceivedAt, st.FirstReceiveAt, st.Token, st.ReceiveCount = e.ext.receivedAt, e.ext.firstReceiveAt, e.ext.token, e.ext.receiveCount
	}
	return st
}

// Seq returns the message's sequence number.
func (e *Entry) Seq() uint64 { return e.seq }

// SentAt returns when the message was sent (Unix ms).
func (e *Entry) SentAt() int64 { return e.sentAt }

// VisibleAt returns when the message becomes visible (Unix ms), or 0 if it is.
func (e *Entry) VisibleAt() int64 { return e.visibleAt }

// ReceiveCount returns how many times the message has been received.
func (e *Entry) ReceiveCount() uint32 {
	if e.ext == nil {
		return 0
	}
	return e.ext.receiveCount
}

// ReceivedAt returns when the message was last received (Unix ms), or 0.
func (e *Entry) ReceivedAt() int64 {
	if e.ext == nil {
		return 0
	}
	return e.ext.receivedAt
}

// FirstReceiveAt returns when the message was first received (Unix ms), or 0.
func (e *Entry) FirstReceiveAt() int64 {
	if e.ext == nil {
		return 0
	}
	return e.ext.firstReceiveAt
}

// Token returns the token of the message's latest receipt, or 0.
func (e *Entry) Token() uint64 {
	if e.ext == nil {
		return 0
	}
	return e.ext.token
}

// Group returns the message's MessageGroupId, or "".
func (e *Entry) Group() string {
	switch {
	case e.group != nil:
		return e.group.id
	case e.ext != nil:
		return e.ext.groupID
	}
	return ""
}

// pending reports whether the entry is delayed or in flight. It is derived from the fields that
// place files the entry by, which change only while the entry is unplaced.
func (e *Entry) pending() bool {
	return e.visibleAt > 0 && (e.ReceiveCount() > 0 || e.visibleAt > e.sentAt)
}

// InFlight reports whether the entry is invisible because it was received.
func (e *Entry) InFlight() bool { return e.pending() && e.ReceiveCount() > 0 }

// group is a FIFO message group: the messages not in flight, oldest first, and how many are in
// flight. A group is available (may deliver) when none is in flight and its oldest is visible.
type group struct {
	id       string
	queue    groupHeap
	inFlight int
	aidx     int // position in Index.available, or -1
}

func (g *group) availableNow() bool {
	return g.inFlight == 0 && len(g.queue) > 0 && !g.queue[0].pending()
}

// Index holds one queue's entries.
type Index struct {
	fifo    bool
	bySeq   seqSet
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
func New() *Index { return &Index{} }

// NewFIFO returns an empty index of a FIFO queue: messages are delivered in order within their
// group, and a group delivers nothing while one of its messages is in flight.
func NewFIFO() *Index {
	return &Index{fifo: true, groups: make(map[string]*group)}
}

// Len returns the number of messages.
func (x *Index) Len() int { return x.bySeq.len() }

// Add inserts a new entry, in any order.
func (x *Index) Add(e *Entry) {
	x.bySeq.put(e)
	heap.Push(&x.arrival, arrival{sentAt: e.sentAt, seq: e.seq})
	if x.fifo {
		id := e.Group()
		g := x.groups[id]
		if g == nil {
			g = &group{id: id, aidx: -1}
			x.groups[id] = g
		}
		e.group = g
		if e.ext != nil {
			// The group names it now; drop the copy, and the record if that was all it held.
			if e.ext.groupID = ""; *e.ext == (extra{}) {
				e.ext = nil
			}
		}
	}
	x.place(e)
}

// place files an entry by its state.
func (x *Index) place(e *Entry) {
	switch pending := e.pending(); {
	case pending && e.ReceiveCount() > 0:
		x.inFlight++
		heap.Push(&x.pending, e)
		if e.group != nil {
			e.group.inFlight++
		}
	case pending:
		x.delayed++
		heap.Push(&x.pending, e)
		if e.group != nil {
			heap.Push(&e.group.queue, e)
		}
	default:
		e.visibleAt = 0
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
	switch pending := e.pending(); {
	case pending && e.ReceiveCount() > 0:
		x.inFlight--
		heap.Remove(&x.pending, int(e.hidx))
		if e.group != nil {
			e.group.inFlight--
		}
	case pending:
		x.delayed--
		heap.Remove(&x.pending, int(e.hidx))
		if e.group != nil {
			heap.Remove(&e.group.queue, int(e.gidx))
		}
	default:
		x.visible--
		if e.group != nil {
			heap.Remove(&e.group.queue, int(e.gidx))
		} else {
			heap.Remove(&x.ready, int(e.hidx))
		}
	}
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
func (x *Index) Get(seq uint64) *Entry { return x.bySeq.get(seq) }

// Remove deletes seq from the index and returns its entry (nil if absent).
func (x *Index) Remove(seq uint64) *Entry {
	e := x.bySeq.remove(seq)
	if e == nil {
		return nil
	}
	x.unplace(e)
	x.dropIfEmpty(e.group)
	x.maybeCompact()
	return e
}

// Promote makes every pending entry whose VisibleAt has come (<= now) visible.
func (x *Index) Promote(now int64) {
	for len(x.pending) > 0 && x.pending[0].visibleAt <= now {
		e := x.pending[0]
		x.unplace(e)
		e.visibleAt = 0
		x.place(e)
	}
}

// Expire removes entries sent before cutoff (whatever their state), oldest first, at most max
// of them (max <= 0: all), and returns their seqs.
func (x *Index) Expire(cutoff int64, max int) []uint64 {
	var out []uint64
	for len(x.arrival) > 0 && x.arrival[0].sentAt < cutoff && (max <= 0 || len(out) < max) {
		a := heap.Pop(&x.arrival).(arrival)
		if e := x.bySeq.get(a.seq); e != nil && e.sentAt == a.sentAt {
			x.unplace(e)
			x.bySeq.remove(a.seq)
			x.dropIfEmpty(e.group)
			out = append(out, a.seq)
		}
	}
	x.maybeCompact()
	return out
}

// maybeCompact rebuilds the arrival heap from the live entries when removed ones dominate it.
func (x *Index) maybeCompact() {
	if len(x.arrival) < 1024 || len(x.arrival) <= 2*x.bySeq.len() {
		return
	}
	kept := make(arrivalHeap, 0, x.bySeq.len())
	for _, a := range x.arrival {
		if e := x.bySeq.get(a.seq); e != nil && e.sentAt == a.sentAt {
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
	if g == nil || len(g.queue) == 0 || g.queue[0].pending() {
		return nil
	}
	return g.queue[0]
}

// Receive marks e received at now with a new token, invisible until visibleAt.
func (x *Index) Receive(e *Entry, now, visibleAt int64, token uint64) {
	x.unplace(e)
	if e.ext == nil {
		e.ext = &extra{}
	}
	e.ext.receiveCount++
	if e.ext.firstReceiveAt == 0 {
		e.ext.firstReceiveAt = now
	}
	e.ext.receivedAt = now
	e.ext.token = token
	e.visibleAt = visibleAt
	x.place(e)
}

// SetVisibleAt changes when an entry becomes visible; visibleAt <= now makes it visible at the
// next Promote. On an entry that was not received yet it delays it.
func (x *Index) SetVisibleAt(e *Entry, visibleAt int64) {
	x.unplace(e)
	e.visibleAt = max(visibleAt, 1)
	if e.ReceiveCount() == 0 && e.visibleAt <= e.sentAt {
		e.visibleAt = 0
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
	return x.pending[0].visibleAt
}

// RemoveAll empties the index and returns the removed seqs.
func (x *Index) RemoveAll() []uint64 {
	out := make([]uint64, 0, x.bySeq.len())
	x.bySeq.each(func(e *Entry) { out = append(out, e.seq) })
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
func (h seqHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].hidx = int32(i); h[j].hidx = int32(j) }
func (h *seqHeap) Push(v any)        { e := v.(*Entry); e.hidx = int32(len(*h)); *h = append(*h, e) }
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
func (h groupHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h groupHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].gidx = int32(i)
	h[j].gidx = int32(j)
}
func (h *groupHeap) Push(v any) { e := v.(*Entry); e.gidx = int32(len(*h)); *h = append(*h, e) }
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
func (h availHeap) Less(i, j int) bool { return h[i].queue[0].seq < h[j].queue[0].seq }
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
	if h[i].visibleAt != h[j].visibleAt {
		return h[i].visibleAt < h[j].visibleAt
	}
	return h[i].seq < h[j].seq
}
func (h timeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].hidx = int32(i); h[j].hidx = int32(j) }
func (h *timeHeap) Push(v any)   { e := v.(*Entry); e.hidx = int32(len(*h)); *h = append(*h, e) }
func (h *timeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
