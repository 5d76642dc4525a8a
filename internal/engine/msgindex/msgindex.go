// Package msgindex is the in-memory index of one queue's messages that the embedded engines keep
// beside their stores: which messages are ready and in what order, which are delayed or in flight
// and until when, which FIFO message groups are blocked, and each message's delivery state. It
// holds a small fixed amount per message (a 48-byte record outside the Go heap, and a few 32-bit
// ids in tables) and never a body. It is not safe for concurrent use; its owner locks around it.
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

// Entry is a handle on one message of an index. It is valid until the message leaves the index;
// its methods read the current state.
type Entry struct {
	x  *Index
	id uint32
}

func (e *Entry) rec() *rec { return e.x.recs.at(e.id) }

// State returns the entry's delivery state.
func (e *Entry) State() State { return e.x.state(e.id) }

// Seq returns the message's sequence number.
func (e *Entry) Seq() uint64 { return e.rec().seq }

// SentAt returns when the message was sent (Unix ms).
func (e *Entry) SentAt() int64 { return e.rec().sentAt }

// VisibleAt returns when the message becomes visible (Unix ms), or 0 if it is.
func (e *Entry) VisibleAt() int64 { return e.rec().visibleAt }

// ReceiveCount returns how many times the message has been received.
func (e *Entry) ReceiveCount() uint32 { return e.rec().receiveCount }

// Token returns the token of the message's latest receipt, or 0.
func (e *Entry) Token() uint64 { return e.rec().token }

// ReceivedAt returns when the message was last received (Unix ms), or 0.
func (e *Entry) ReceivedAt() int64 { return e.x.recv[e.id].receivedAt }

// FirstReceiveAt returns when the message was first received (Unix ms), or 0.
func (e *Entry) FirstReceiveAt() int64 { return e.x.recv[e.id].firstReceiveAt }

// Group returns the message's MessageGroupId, or "".
func (e *Entry) Group() string { return e.x.groupOf(e.id) }

// InFlight reports whether the entry is invisible because it was received.
func (e *Entry) InFlight() bool { r := e.rec(); return pending(r) && r.receiveCount > 0 }

// pending reports whether a record is delayed or in flight. It is derived from the fields that
// place files the record by, which change only while the record is unplaced.
func pending(r *rec) bool {
	return r.visibleAt > 0 && (r.receiveCount > 0 || r.visibleAt > r.sentAt)
}

// recvTimes are the receive times of a received message, kept aside since most of a backlog has
// never been received.
type recvTimes struct{ receivedAt, firstReceiveAt int64 }

// group is a message group: on a FIFO queue, the messages of a MessageGroupId not in flight,
// oldest first, and how many are in flight; a FIFO group is available (may deliver) when none is
// in flight and its oldest is visible. On a standard queue a group is a tenant of a fair queue:
// its queue holds only its visible messages, and it is available whenever that is not empty.
type group struct {
	id       string
	gid      uint32 // its position in Index.groupList
	queue    idHeap
	inFlight int
	aidx     int // position in Index.available, or -1
	bidx     int // standard queues: position in Index.biggest, or -1
	fifo     bool
}

func (g *group) availableNow() bool {
	if !g.fifo {
		return len(g.queue.ids) > 0
	}
	return g.inFlight == 0 && len(g.queue.ids) > 0 && !pending(g.queue.recs.at(g.queue.ids[0]))
}

// Index holds one queue's entries.
type Index struct {
	fifo  bool
	recs  *slab
	bySeq seqSet
	recv  map[uint32]recvTimes
	// Standard queues keep visible messages in two structures. fresh holds, in seq order, those
	// that became visible in the order they were sent (nearly all of a backlog): taking the
	// oldest is O(1) however long the backlog. ready holds the others (back from in flight, or
	// delayed past later ones), oldest first. A receive takes the older of their heads.
	fresh   ring
	ready   idHeap
	pending idHeap // delayed and in-flight messages, soonest visible first
	// Groups (FIFO message groups, or the tenants of a standard queue) by id and by gid, and
	// the available ones ordered by their oldest message. Standard queues also order their
	// tenants by visible backlog, largest first (see PeekReady).
	groups    map[string]*group
	groupList []*group
	freeGids  []uint32
	available availHeap
	biggest   bigHeap
	// picks counts the messages received from a standard queue, for the noisy tenants' turn.
	picks uint64
	// arrival orders messages by send time for retention. It may hold seqs already removed
	// (they are skipped when they surface) and is rebuilt when those dominate.
	arrival  arrivalHeap
	visible  int
	inFlight int
	delayed  int
}

// New returns an empty index of a standard queue.
func New() *Index { return newIndex(false) }

// NewFIFO returns an empty index of a FIFO queue: messages are delivered in order within their
// group, and a group delivers nothing while one of its messages is in flight.
func NewFIFO() *Index { return newIndex(true) }

func newIndex(fifo bool) *Index {
	s := newSlab()
	x := &Index{fifo: fifo, recs: s, bySeq: seqSet{recs: s}, recv: map[uint32]recvTimes{},
		ready: idHeap{recs: s, less: bySeq, pos: hidx}, pending: idHeap{recs: s, less: byVisibleAt, pos: hidx}}
	x.groups = map[string]*group{}
	x.groupList = []*group{nil}
	return x
}

func (x *Index) entry(id uint32) *Entry {
	if id == 0 {
		return nil
	}
	return &Entry{x: x, id: id}
}

func (x *Index) state(id uint32) State {
	r := x.recs.at(id)
	t := x.recv[id]
	return State{Seq: r.seq, SentAt: r.sentAt, VisibleAt: r.visibleAt, ReceivedAt: t.receivedAt,
		FirstReceiveAt: t.firstReceiveAt, Token: r.token, ReceiveCount: r.receiveCount, Group: x.groupOf(id)}
}

func (x *Index) groupOf(id uint32) string {
	if g := x.recs.at(id).group; g != 0 {
		return x.groupList[g].id
	}
	return ""
}

// Len returns the number of messages.
func (x *Index) Len() int { return x.bySeq.len() }

// Add inserts a message in the given state, in any order of seqs. A seq already present is
// replaced.
func (x *Index) Add(st State) {
	if old := x.bySeq.get(st.Seq); old != 0 {
		x.Remove(st.Seq)
	}
	id, r := x.recs.alloc()
	*r = rec{seq: st.Seq, sentAt: st.SentAt, visibleAt: st.VisibleAt, token: st.Token, receiveCount: st.ReceiveCount}
	if st.ReceivedAt != 0 || st.FirstReceiveAt != 0 {
		x.recv[id] = recvTimes{receivedAt: st.ReceivedAt, firstReceiveAt: st.FirstReceiveAt}
	}
	x.bySeq.put(id)
	x.arrival.push(arrival{sentAt: st.SentAt, seq: st.Seq})
	if x.fifo || st.Group != "" {
		g := x.groups[st.Group]
		if g == nil {
			g = &group{id: st.Group, aidx: -1, bidx: -1, fifo: x.fifo, queue: idHeap{recs: x.recs, less: bySeq, pos: gidx}}
			if n := len(x.freeGids); n > 0 {
				g.gid = x.freeGids[n-1]
				x.freeGids = x.freeGids[:n-1]
				x.groupList[g.gid] = g
			} else {
				g.gid = uint32(len(x.groupList))
				x.groupList = append(x.groupList, g)
			}
			x.groups[st.Group] = g
		}
		r.group = g.gid
	}
	x.place(id)
}

func (x *Index) groupByRec(r *rec) *group {
	if r.group == 0 {
		return nil
	}
	return x.groupList[r.group]
}

// place files a record by its state.
func (x *Index) place(id uint32) {
	r := x.recs.at(id)
	g := x.groupByRec(r)
	switch p := pending(r); {
	case p && r.receiveCount > 0:
		x.inFlight++
		x.pending.push(id)
		if g != nil {
			g.inFlight++
		}
	case p:
		x.delayed++
		x.pending.push(id)
		if g != nil && g.fifo {
			g.queue.push(id)
		}
	default:
		r.visibleAt = 0
		x.visible++
		switch {
		case g != nil:
			g.queue.push(id)
		case r.seq > x.fresh.maxSeq:
			x.fresh.maxSeq = r.seq
			x.fresh.push(x.recs, id)
		default:
			x.ready.push(id)
		}
	}
	x.refresh(g)
}

// unplace takes a record out of every structure but bySeq and arrival.
func (x *Index) unplace(id uint32) {
	r := x.recs.at(id)
	g := x.groupByRec(r)
	switch p := pending(r); {
	case p && r.receiveCount > 0:
		x.inFlight--
		x.pending.remove(int(r.hidx))
		if g != nil {
			g.inFlight--
		}
	case p:
		x.delayed--
		x.pending.remove(int(r.hidx))
		if g != nil && g.fifo {
			g.queue.remove(int(r.gidx))
		}
	default:
		x.visible--
		switch {
		case g != nil:
			g.queue.remove(int(r.gidx))
		case r.hidx <= ringMark:
			x.fresh.unmark(r)
		default:
			x.ready.remove(int(r.hidx))
		}
	}
	x.refresh(g)
}

// refresh keeps a FIFO group's place in the available heap in step with its state.
func (x *Index) refresh(g *group) {
	if g == nil {
		return
	}
	if !g.fifo {
		switch n := len(g.queue.ids); {
		case n > 0 && g.bidx < 0:
			heap.Push(&x.biggest, g)
		case n > 0:
			heap.Fix(&x.biggest, g.bidx)
		case g.bidx >= 0:
			heap.Remove(&x.biggest, g.bidx)
		}
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

// drop forgets a record that leaves the index for good, and its FIFO group if that has no
// message left. (A group is momentarily empty inside every Receive, and its in-flight message
// must keep pointing at the group that later messages join, so only here.)
func (x *Index) drop(id uint32) {
	r := x.recs.at(id)
	if g := x.groupByRec(r); g != nil && g.inFlight == 0 && len(g.queue.ids) == 0 {
		delete(x.groups, g.id)
		x.groupList[g.gid] = nil
		x.freeGids = append(x.freeGids, g.gid)
	}
	delete(x.recv, id)
	x.recs.release(id)
	if x.recs.live == 0 {
		// The slab starts its ids over: forget the ids the ring still holds (all stale).
		x.fresh.reset()
	}
}

// Get returns the entry of seq, or nil.
func (x *Index) Get(seq uint64) *Entry { return x.entry(x.bySeq.get(seq)) }

// Remove deletes seq from the index and reports whether it was there. Entries of seq are
// invalid afterwards.
func (x *Index) Remove(seq uint64) bool {
	id := x.bySeq.remove(seq)
	if id == 0 {
		return false
	}
	x.unplace(id)
	x.drop(id)
	x.maybeCompact()
	return true
}

// Promote makes every pending entry whose VisibleAt has come (<= now) visible.
func (x *Index) Promote(now int64) {
	for len(x.pending.ids) > 0 {
		id := x.pending.ids[0]
		r := x.recs.at(id)
		if r.visibleAt > now {
			return
		}
		x.unplace(id)
		r.visibleAt = 0
		x.place(id)
	}
}

// Expire removes entries sent before cutoff (whatever their state), oldest first, at most max
// of them (max <= 0: all), and returns their seqs.
func (x *Index) Expire(cutoff int64, max int) []uint64 {
	var out []uint64
	for len(x.arrival) > 0 && x.arrival[0].sentAt < cutoff && (max <= 0 || len(out) < max) {
		a := x.arrival.pop()
		if id := x.bySeq.get(a.seq); id != 0 && x.recs.at(id).sentAt == a.sentAt {
			x.bySeq.remove(a.seq)
			x.unplace(id)
			x.drop(id)
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
		if id := x.bySeq.get(a.seq); id != 0 && x.recs.at(id).sentAt == a.sentAt {
			kept = append(kept, a)
		}
	}
	kept.init()
	x.arrival = kept
}

// PeekReady returns the next entry a receive would take, without taking it, or nil: the oldest
// visible message (standard), or the oldest message of the available group with the oldest
// message (FIFO). A standard queue whose messages carry group ids is a fair queue: see
// pickFair.
func (x *Index) PeekReady() *Entry {
	if x.fifo {
		if len(x.available) == 0 {
			return nil
		}
		return x.entry(x.available[0].queue.ids[0])
	}
	best := x.fresh.head(x.recs)
	if len(x.ready.ids) > 0 && (best == 0 || x.recs.at(x.ready.ids[0]).seq < x.recs.at(best).seq) {
		best = x.ready.ids[0]
	}
	if len(x.available) > 0 {
		best = x.pickFair(best)
	}
	return x.entry(best)
}

// Fair queues. A tenant (a group id on a standard queue) is noisy while it holds at least
// noisyMin visible messages and more than one noisyShare-th of the queue's visible messages;
// messages without a group id are never noisy. A receive takes the oldest visible message of a
// quiet tenant (or without group id), except that every noisyTurn-th message it takes comes from
// the noisy tenant with the largest backlog, so that a flood delays nobody else and still drains
// at a tenth of the rate. With no quiet message, noisy tenants take every turn.
const (
	noisyMin   = 30
	noisyShare = 10
	noisyTurn  = 10
)

func (x *Index) noisy(g *group) bool {
	n := len(g.queue.ids)
	return n >= noisyMin && n*noisyShare > x.visible
}

// pickFair chooses between ungrouped, the oldest visible message without a group id (0 for none),
// and the tenants' messages. Noisy tenants are few (at most noisyShare), so skipping them while
// walking the tenants oldest first costs a few steps.
func (x *Index) pickFair(ungrouped uint32) uint32 {
	var loud *group
	if len(x.biggest) > 0 && x.noisy(x.biggest[0]) {
		loud = x.biggest[0]
	}
	if loud != nil && x.picks%noisyTurn == noisyTurn-1 {
		return loud.queue.ids[0]
	}
	best := ungrouped
	heapWalk(len(x.available), x.available.Less, func(i int) bool {
		g := x.available[i]
		if x.noisy(g) {
			return true
		}
		if head := g.queue.ids[0]; best == 0 || x.recs.at(head).seq < x.recs.at(best).seq {
			best = head
		}
		return false
	})
	if best == 0 && loud != nil {
		return loud.queue.ids[0]
	}
	return best
}

// Tenants returns the number of tenants of a standard queue with visible messages and the
// largest visible backlog of one of them (0, 0 for a FIFO queue or without group ids).
func (x *Index) Tenants() (active, largest int) {
	if x.fifo || len(x.biggest) == 0 {
		return 0, 0
	}
	return len(x.biggest), len(x.biggest[0].queue.ids)
}

// NextInGroup returns the entry a FIFO receive may take after e in the same batch: the next
// visible message of e's group, or nil. (A receive fills its batch from one group first.)
func (x *Index) NextInGroup(e *Entry) *Entry {
	if !x.fifo {
		return nil
	}
	g := x.groupByRec(e.rec())
	if g == nil || len(g.queue.ids) == 0 || pending(x.recs.at(g.queue.ids[0])) {
		return nil
	}
	return x.entry(g.queue.ids[0])
}

// Receive marks e received at now with a new token, invisible until visibleAt.
func (x *Index) Receive(e *Entry, now, visibleAt int64, token uint64) {
	x.unplace(e.id)
	x.picks++
	r := e.rec()
	r.receiveCount++
	t := x.recv[e.id]
	if t.firstReceiveAt == 0 {
		t.firstReceiveAt = now
	}
	t.receivedAt = now
	x.recv[e.id] = t
	r.token = token
	r.visibleAt = visibleAt
	x.place(e.id)
}

// SetVisibleAt changes when an entry becomes visible; visibleAt <= now makes it visible at the
// next Promote. On an entry that was not received yet it delays it.
func (x *Index) SetVisibleAt(e *Entry, visibleAt int64) {
	x.unplace(e.id)
	r := e.rec()
	r.visibleAt = max(visibleAt, 1)
	if r.receiveCount == 0 && r.visibleAt <= r.sentAt {
		r.visibleAt = 0
	}
	x.place(e.id)
}

// Counts returns the numbers of visible, in-flight and delayed messages (call Promote first).
// Visible messages of blocked FIFO groups count as visible, as on SQS.
func (x *Index) Counts() (visible, inFlight, delayed int) {
	return x.visible, x.inFlight, x.delayed
}

// Groups returns the number of groups with messages: FIFO message groups, or the tenants of a
// standard queue (in flight included).
func (x *Index) Groups() int { return len(x.groups) }

// NextVisibleAt returns the soonest VisibleAt of a pending entry, or 0.
func (x *Index) NextVisibleAt() int64 {
	if len(x.pending.ids) == 0 {
		return 0
	}
	return x.recs.at(x.pending.ids[0]).visibleAt
}

// Release returns the index's memory at once instead of when the collector finds the index
// unreachable, and leaves it empty. Entries of it are invalid afterwards.
func (x *Index) Release() {
	x.recs.freeAll()
	*x = *newIndex(x.fifo)
}

// RemoveAll empties the index and returns the removed seqs.
func (x *Index) RemoveAll() []uint64 {
	out := make([]uint64, 0, x.bySeq.len())
	x.bySeq.each(func(id uint32) { out = append(out, x.recs.at(id).seq) })
	// The old slab's chunks are unmapped when the collector finds it unreachable.
	*x = *newIndex(x.fifo)
	return out
}

// ringMark and below, in a record's hidx, say that the record is in the fresh ring, and at
// which position: ringMark - (position mod 2^30). A ring slot is live only while its record
// still carries its position, so slots of records that left (whose ids may have been reused)
// are recognised and skipped without being searched for.
const ringMark = -2

// ring is a queue of record ids in seq order, taken from the front, with lazy removal.
type ring struct {
	ids    []uint32
	first  int    // ids[first:] are the slots not yet taken
	base   uint64 // absolute position of ids[0]
	live   int
	maxSeq uint64 // the largest seq ever pushed
}

func ringCode(pos uint64) int32 { return ringMark - int32(pos&(1<<30-1)) }

func (q *ring) push(recs *slab, id uint32) {
	recs.at(id).hidx = ringCode(q.base + uint64(len(q.ids)))
	q.ids = append(q.ids, id)
	q.live++
	if stale := len(q.ids) - q.first - q.live; stale > 1024 && stale > q.live {
		q.compact(recs)
	}
}

// unmark takes a record out of the ring; its slot becomes stale.
func (q *ring) unmark(r *rec) {
	r.hidx = -1
	q.live--
}

// head returns the id of the oldest live record, dropping stale slots before it, or 0.
func (q *ring) head(recs *slab) uint32 {
	for q.first < len(q.ids) {
		id := q.ids[q.first]
		if recs.at(id).hidx == ringCode(q.base+uint64(q.first)) {
			return id
		}
		q.first++
		if q.first > 4096 && q.first > len(q.ids)/2 {
			q.compact(recs)
		}
	}
	return 0
}

// compact drops the taken and stale slots.
func (q *ring) compact(recs *slab) {
	kept := q.ids[:0]
	for i := q.first; i < len(q.ids); i++ {
		id := q.ids[i]
		if recs.at(id).hidx == ringCode(q.base+uint64(i)) {
			kept = append(kept, id)
		}
	}
	q.base += uint64(len(q.ids))
	for i, id := range kept {
		recs.at(id).hidx = ringCode(q.base + uint64(i))
	}
	if cap(kept) > 1024 && len(kept) < cap(kept)/4 {
		kept = append([]uint32(nil), kept...)
	}
	q.ids, q.first, q.live = kept, 0, len(kept)
}

// reset forgets every slot (all must be stale).
func (q *ring) reset() {
	q.base += uint64(len(q.ids))
	q.ids, q.first, q.live = q.ids[:0], 0, 0
}

// idHeap is a binary heap of record ids that keeps each record's position in it (in the field
// that pos selects), so that any record can be removed or fixed in place.
type idHeap struct {
	recs *slab
	ids  []uint32
	less func(a, b *rec) bool
	pos  func(r *rec) *int32
}

func bySeq(a, b *rec) bool { return a.seq < b.seq }

func byVisibleAt(a, b *rec) bool {
	if a.visibleAt != b.visibleAt {
		return a.visibleAt < b.visibleAt
	}
	return a.seq < b.seq
}

func hidx(r *rec) *int32 { return &r.hidx }
func gidx(r *rec) *int32 { return &r.gidx }

func (h *idHeap) lessAt(i, j int) bool { return h.less(h.recs.at(h.ids[i]), h.recs.at(h.ids[j])) }

func (h *idHeap) swap(i, j int) {
	h.ids[i], h.ids[j] = h.ids[j], h.ids[i]
	*h.pos(h.recs.at(h.ids[i])) = int32(i)
	*h.pos(h.recs.at(h.ids[j])) = int32(j)
}

func (h *idHeap) push(id uint32) {
	*h.pos(h.recs.at(id)) = int32(len(h.ids))
	h.ids = append(h.ids, id)
	h.up(len(h.ids) - 1)
}

func (h *idHeap) remove(i int) {
	n := len(h.ids) - 1
	if i != n {
		h.swap(i, n)
	}
	h.ids = h.ids[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	if cap(h.ids) > 1024 && len(h.ids) < cap(h.ids)/4 {
		h.ids = append([]uint32(nil), h.ids...)
	}
}

func (h *idHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.lessAt(j, i) {
			return
		}
		h.swap(i, j)
		j = i
	}
}

func (h *idHeap) down(i0 int) bool {
	i, n := i0, len(h.ids)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && h.lessAt(j2, j) {
			j = j2
		}
		if !h.lessAt(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// arrival is a retention-heap item: a message's send time and seq.
type arrival struct {
	sentAt int64
	seq    uint64
}

// arrivalHeap is a binary heap of arrivals, oldest first.
type arrivalHeap []arrival

func (h arrivalHeap) less(i, j int) bool {
	if h[i].sentAt != h[j].sentAt {
		return h[i].sentAt < h[j].sentAt
	}
	return h[i].seq < h[j].seq
}

func (h *arrivalHeap) push(a arrival) {
	*h = append(*h, a)
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2
		if !s.less(j, i) {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

func (h *arrivalHeap) pop() arrival {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	s.down(0)
	*h = s
	return top
}

func (h arrivalHeap) down(i int) {
	for n := len(h); ; {
		j := 2*i + 1
		if j >= n {
			return
		}
		if j2 := j + 1; j2 < n && h.less(j2, j) {
			j = j2
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h arrivalHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// bigHeap orders a standard queue's tenants by visible backlog, largest first.
type bigHeap []*group

func (h bigHeap) Len() int           { return len(h) }
func (h bigHeap) Less(i, j int) bool { return len(h[i].queue.ids) > len(h[j].queue.ids) }
func (h bigHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].bidx = i; h[j].bidx = j }
func (h *bigHeap) Push(v any)        { g := v.(*group); g.bidx = len(*h); *h = append(*h, g) }
func (h *bigHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	g.bidx = -1
	*h = old[:len(old)-1]
	return g
}

// availHeap orders available groups by their oldest message.
type availHeap []*group

func (h availHeap) Len() int { return len(h) }
func (h availHeap) Less(i, j int) bool {
	return h[i].queue.recs.at(h[i].queue.ids[0]).seq < h[j].queue.recs.at(h[j].queue.ids[0]).seq
}
func (h availHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].aidx = i; h[j].aidx = j }
func (h *availHeap) Push(v any)   { g := v.(*group); g.aidx = len(*h); *h = append(*h, g) }
func (h *availHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	g.aidx = -1
	*h = old[:len(old)-1]
	return g
}
