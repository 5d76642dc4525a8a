package indexed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"sluice/internal/engine"
	"sluice/internal/engine/msgindex"
)

// tombstoneTTL is how long a deleted queue's name is remembered; engine.MaxDeletedCooldown.
const tombstoneTTL = engine.MaxDeletedCooldown

// Engine is an engine.Engine over a Store.
//
// Lock order: opMu, then Engine.mu, then queueState.mu. Batches that change a queue's messages
// are handed to Store.Apply while queueState.mu is held, so the store sees them in the order
// the index made them; their fsync is awaited after the lock is released. Queue-level
// operations (create, update, delete) hold Engine.mu across their whole write.
type Engine struct {
	store Store

	// opMu is held shared by every operation and exclusively by Close, so the store is never
	// closed under a running operation.
	opMu   sync.RWMutex
	closed bool // guarded by opMu

	mu         sync.RWMutex
	byKey      map[engine.QueueKey]*queueState // guarded by mu
	byID       map[uint64]*queueState          // guarded by mu
	tombstones map[engine.QueueKey]time.Time   // guarded by mu
	nextQID    uint64                          // guarded by mu
}

type queueState struct {
	id uint64

	mu          sync.Mutex
	meta        *engine.Queue   // guarded by mu (copy-on-write: never mutated after publication)
	idx         *msgindex.Index // guarded by mu
	nextSeq     uint64          // guarded by mu
	purgedBelow uint64          // guarded by mu: sends with a lower seq that land late are dropped
	lastPurge   time.Time       // guarded by mu
	deleted     bool            // guarded by mu
}

var _ engine.Engine = (*Engine)(nil)

// New loads the store's contents and returns an engine over it.
func New(ctx context.Context, store Store) (*Engine, error) {
	e := &Engine{
		store:      store,
		byKey:      make(map[engine.QueueKey]*queueState),
		byID:       make(map[uint64]*queueState),
		tombstones: make(map[engine.QueueKey]time.Time),
		nextQID:    1,
	}
	var orphans []MessageRef
	nextSeqs := map[uint64]uint64{}
	var tombs []Tombstone
	err := store.Load(ctx, &Loader{
		Queue: func(q *engine.Queue) {
			qs := &queueState{id: q.ID, meta: q, idx: msgindex.New(), nextSeq: 1}
			e.byKey[q.Key] = qs
			e.byID[q.ID] = qs
			e.nextQID = max(e.nextQID, q.ID+1)
		},
		State: func(qid uint64, st msgindex.State) {
			qs := e.byID[qid]
			if qs == nil {
				orphans = append(orphans, MessageRef{QueueID: qid, Seq: st.Seq})
				return
			}
			qs.idx.Add(&msgindex.Entry{State: st})
			qs.nextSeq = max(qs.nextSeq, st.Seq+1)
		},
		NextSeq:     func(qid, next uint64) { nextSeqs[qid] = next },
		NextQueueID: func(next uint64) { e.nextQID = max(e.nextQID, next) },
		Tombstone:   func(t Tombstone) { tombs = append(tombs, t) },
	})
	if err != nil {
		return nil, fmt.Errorf("loading store: %w", err)
	}
	for qid, next := range nextSeqs {
		if qs := e.byID[qid]; qs != nil {
			qs.nextSeq = max(qs.nextSeq, next)
		}
	}
	for _, t := range tombs {
		e.tombstones[t.Key] = t.DeletedAt
	}
	if len(orphans) > 0 {
		if err := e.apply(ctx, &Batch{Deleted: orphans}); err != nil {
			return nil, fmt.Errorf("removing messages of deleted queues: %w", err)
		}
	}
	return e, nil
}

// apply writes a batch and waits for it; for callers that hold no per-queue lock.
func (e *Engine) apply(ctx context.Context, b *Batch) error {
	wait, err := e.store.Apply(ctx, b)
	if err != nil {
		return err
	}
	return wait()
}

// Close waits for running operations and closes the store.
func (e *Engine) Close() error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.store.Close()
}

// begin starts an operation; the caller must call the returned function when done.
func (e *Engine) begin() (func(), error) {
	e.opMu.RLock()
	if e.closed {
		e.opMu.RUnlock()
		return nil, engine.ErrClosed
	}
	return e.opMu.RUnlock, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func (e *Engine) queueByID(id uint64) (*queueState, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	qs := e.byID[id]
	if qs == nil {
		return nil, fmt.Errorf("queue id %d: %w", id, engine.ErrQueueNotFound)
	}
	return qs, nil
}

func (e *Engine) queueByKey(k engine.QueueKey) (*queueState, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	qs := e.byKey[k]
	if qs == nil {
		return nil, fmt.Errorf("queue %s/%s: %w", k.Account, k.Name, engine.ErrQueueNotFound)
	}
	return qs, nil
}

// lockLive finds a queue by id and locks it; the caller unlocks qs.mu.
func (e *Engine) lockLive(id uint64) (*queueState, error) {
	qs, err := e.queueByID(id)
	if err != nil {
		return nil, err
	}
	qs.mu.Lock()
	if qs.deleted {
		qs.mu.Unlock()
		return nil, fmt.Errorf("queue id %d: %w", id, engine.ErrQueueNotFound)
	}
	return qs, nil
}

// commitUnlock hands b to the store while qs.mu is held, so that the store sees the queue's
// batches in index order; calls undo (still locked) if the store refuses the batch; then
// releases qs.mu and waits for durability outside the lock.
func (e *Engine) commitUnlock(ctx context.Context, qs *queueState, b *Batch, undo func()) error {
	wait, err := e.store.Apply(ctx, b)
	if err != nil && undo != nil {
		undo()
	}
	qs.mu.Unlock()
	if err != nil {
		return err
	}
	return wait()
}

// QueueCreate implements engine.Engine.
func (e *Engine) QueueCreate(ctx context.Context, p *engine.QueueCreateParams) (*engine.QueueCreateResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	e.mu.Lock()
	defer e.mu.Unlock()
	if qs := e.byKey[p.Key]; qs != nil {
		qs.mu.Lock()
		meta := qs.meta
		qs.mu.Unlock()
		return &engine.QueueCreateResult{Queue: meta}, nil
	}
	at, tomb := e.tombstones[p.Key]
	if tomb && p.DeletedCooldown > 0 && p.Now.Sub(at) < p.DeletedCooldown {
		return nil, fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrQueueDeletedRecently)
	}
	q := &engine.Queue{
		ID:         e.nextQID,
		Key:        p.Key,
		Attributes: cloneMap(p.Attributes),
		Tags:       cloneMap(p.Tags),
		CreatedAt:  p.Now,
		ModifiedAt: p.Now,
	}
	b := &Batch{Sync: true, Queues: []*engine.Queue{q}, NextQueueID: q.ID + 1}
	if tomb {
		b.ClearedTombstones = []engine.QueueKey{p.Key}
	}
	if err := e.apply(ctx, b); err != nil {
		return nil, fmt.Errorf("storing queue: %w", err)
	}
	e.nextQID++
	qs := &queueState{id: q.ID, meta: q, idx: msgindex.New(), nextSeq: 1}
	e.byKey[p.Key] = qs
	e.byID[q.ID] = qs
	delete(e.tombstones, p.Key)
	return &engine.QueueCreateResult{Queue: q, Created: true}, nil
}

func cloneMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// QueueDelete implements engine.Engine.
func (e *Engine) QueueDelete(ctx context.Context, p *engine.QueueDeleteParams) error {
	done, err := e.begin()
	if err != nil {
		return err
	}
	defer done()
	e.mu.Lock()
	defer e.mu.Unlock()
	qs := e.byKey[p.Key]
	if qs == nil {
		return fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrQueueNotFound)
	}
	b := &Batch{Sync: true, DeletedQueues: []uint64{qs.id}, Tombstones: []Tombstone{{Key: p.Key, DeletedAt: p.Now}}}
	for k, at := range e.tombstones {
		if p.Now.Sub(at) > tombstoneTTL {
			b.ClearedTombstones = append(b.ClearedTombstones, k)
		}
	}
	// Hold the queue's lock while the deletion is applied, so that no message batch of this
	// queue is applied after it.
	qs.mu.Lock()
	wait, err := e.store.Apply(ctx, b)
	if err == nil {
		qs.deleted = true
		qs.idx = msgindex.New()
	}
	qs.mu.Unlock()
	if err == nil {
		err = wait()
	}
	if err != nil {
		return fmt.Errorf("deleting queue: %w", err)
	}
	delete(e.byKey, p.Key)
	delete(e.byID, qs.id)
	for _, k := range b.ClearedTombstones {
		delete(e.tombstones, k)
	}
	e.tombstones[p.Key] = p.Now
	return nil
}

// QueueGet implements engine.Engine. The returned queue must not be modified.
func (e *Engine) QueueGet(_ context.Context, p *engine.QueueGetParams) (*engine.Queue, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.queueByKey(p.Key)
	if err != nil {
		return nil, err
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.meta, nil
}

// QueueList implements engine.Engine.
func (e *Engine) QueueList(_ context.Context, p *engine.QueueListParams) ([]*engine.Queue, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []*engine.Queue
	for k, qs := range e.byKey {
		if k.Account == p.Account && strings.HasPrefix(k.Name, p.Prefix) {
			qs.mu.Lock()
			out = append(out, qs.meta)
			qs.mu.Unlock()
		}
	}
	slices.SortFunc(out, func(a, b *engine.Queue) int { return strings.Compare(a.Key.Name, b.Key.Name) })
	return out, nil
}

// QueueUpdate implements engine.Engine.
func (e *Engine) QueueUpdate(ctx context.Context, p *engine.QueueUpdateParams) (*engine.Queue, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	e.mu.Lock()
	defer e.mu.Unlock()
	qs := e.byKey[p.Key]
	if qs == nil {
		return nil, fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrQueueNotFound)
	}
	qs.mu.Lock()
	q := qs.meta.Clone()
	qs.mu.Unlock()
	if q.Attributes == nil {
		q.Attributes = map[string]string{}
	}
	if q.Tags == nil {
		q.Tags = map[string]string{}
	}
	changed := false
	for _, k := range p.RemoveAttributes {
		if _, ok := q.Attributes[k]; ok {
			delete(q.Attributes, k)
			changed = true
		}
	}
	for k, v := range p.SetAttributes {
		if old, ok := q.Attributes[k]; !ok || old != v {
			q.Attributes[k] = v
			changed = true
		}
	}
	for _, k := range p.RemoveTags {
		delete(q.Tags, k)
	}
	for k, v := range p.SetTags {
		q.Tags[k] = v
	}
	if changed {
		q.ModifiedAt = p.Now
	}
	if err := e.apply(ctx, &Batch{Sync: true, Queues: []*engine.Queue{q}}); err != nil {
		return nil, fmt.Errorf("storing queue: %w", err)
	}
	qs.mu.Lock()
	qs.meta = q
	qs.mu.Unlock()
	return q, nil
}

// QueuePurge implements engine.Engine.
func (e *Engine) QueuePurge(ctx context.Context, p *engine.QueuePurgeParams) error {
	done, err := e.begin()
	if err != nil {
		return err
	}
	defer done()
	qs, err := e.queueByKey(p.Key)
	if err != nil {
		return err
	}
	if qs, err = e.lockLive(qs.id); err != nil {
		return err
	}
	if !qs.lastPurge.IsZero() && p.MinInterval > 0 && p.Now.Sub(qs.lastPurge) < p.MinInterval {
		qs.mu.Unlock()
		return fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrPurgeInProgress)
	}
	// The index forgets the messages first; if the store refuses the purge it is restored.
	saved, savedBelow, savedPurge := qs.idx, qs.purgedBelow, qs.lastPurge
	qs.idx, qs.purgedBelow, qs.lastPurge = msgindex.New(), qs.nextSeq, p.Now
	err = e.commitUnlock(ctx, qs, &Batch{Sync: true, Purges: []MessageRef{{QueueID: qs.id, Seq: qs.nextSeq}}}, func() {
		qs.idx, qs.purgedBelow, qs.lastPurge = saved, savedBelow, savedPurge
	})
	if err != nil {
		return fmt.Errorf("purging: %w", err)
	}
	return nil
}

// expireLocked removes messages past retention from the index and adds their deletion to b.
func (qs *queueState) expireLocked(cutoff time.Time, b *Batch) {
	if cutoff.IsZero() {
		return
	}
	for _, seq := range qs.idx.Expire(cutoff.UnixMilli()) {
		b.Deleted = append(b.Deleted, MessageRef{QueueID: qs.id, Seq: seq})
	}
}

// QueueStats implements engine.Engine.
func (e *Engine) QueueStats(ctx context.Context, p *engine.QueueStatsParams) (*engine.QueueStats, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.queueByKey(p.Key)
	if err != nil {
		return nil, err
	}
	// Expiry need not be durable (it is redone after a restart), so the batch is not synced.
	var b Batch
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.deleted {
		return nil, fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrQueueNotFound)
	}
	qs.expireLocked(p.RetentionCutoff, &b)
	qs.idx.Promote(ms(p.Now))
	r, f, d := qs.idx.Counts()
	if !b.Empty() {
		if _, err := e.store.Apply(ctx, &b); err != nil {
			return nil, fmt.Errorf("expiring messages: %w", err)
		}
	}
	return &engine.QueueStats{Visible: int64(r), InFlight: int64(f), Delayed: int64(d)}, nil
}

// MessageSend implements engine.Engine.
func (e *Engine) MessageSend(ctx context.Context, p *engine.MessageSendParams) (*engine.MessageSendResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.lockLive(p.QueueID)
	if err != nil {
		return nil, err
	}
	b := &Batch{Sync: true, Messages: make([]NewMessage, len(p.Entries))}
	first := qs.nextSeq
	for i, ent := range p.Entries {
		st := msgindex.State{Seq: first + uint64(i), SentAt: ms(ent.Message.SentAt)}
		if ent.VisibleAt.After(ent.Message.SentAt) {
			st.VisibleAt = ms(ent.VisibleAt)
		}
		b.Messages[i] = NewMessage{QueueID: qs.id, Message: ent.Message, State: st}
	}
	b.NextSeqs = []MessageRef{{QueueID: qs.id, Seq: first + uint64(len(p.Entries))}}
	// The sequences are taken even if the write fails: a failed batch may still have been
	// partly synced, and sequences are never reused.
	qs.nextSeq += uint64(len(p.Entries))
	if err := e.commitUnlock(ctx, qs, b, nil); err != nil {
		return nil, fmt.Errorf("storing messages: %w", err)
	}
	// Only now, durable, do the messages become receivable. A purge or queue deletion applied
	// meanwhile has already deleted them from the store.
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.deleted {
		return nil, fmt.Errorf("queue id %d: %w", p.QueueID, engine.ErrQueueNotFound)
	}
	for _, m := range b.Messages {
		if m.State.Seq >= qs.purgedBelow {
			qs.idx.Add(&msgindex.Entry{State: m.State})
		}
	}
	return &engine.MessageSendResult{}, nil
}

// MessageReceive implements engine.Engine.
func (e *Engine) MessageReceive(ctx context.Context, p *engine.MessageReceiveParams) (*engine.MessageReceiveResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.lockLive(p.QueueID)
	if err != nil {
		return nil, err
	}
	now, vis := ms(p.Now), ms(p.VisibleAt)
	b := &Batch{Sync: true}
	res := &engine.MessageReceiveResult{}
	qs.expireLocked(p.RetentionCutoff, b)
	qs.idx.Promote(now)
	_, inFlight, _ := qs.idx.Counts()
	if p.MaxInFlight > 0 && inFlight >= p.MaxInFlight {
		qs.mu.Unlock()
		return nil, fmt.Errorf("queue id %d: %w", p.QueueID, engine.ErrInFlightLimit)
	}
	var taken []msgindex.State
	for len(taken) < p.Max {
		ent := qs.idx.PeekReady()
		if ent == nil {
			break
		}
		qs.idx.Receive(ent, now, vis, newToken())
		taken = append(taken, ent.State)
		b.States = append(b.States, QueueState{QueueID: qs.id, State: ent.State})
	}
	if len(taken) == 0 {
		res.NextVisibleAt = fromMS(qs.idx.NextVisibleAt())
	}
	wait := func() error { return nil }
	if !b.Empty() {
		wait, err = e.store.Apply(ctx, b)
		if err != nil {
			// Nobody holds these receipts: make the messages visible again.
			for _, st := range taken {
				if cur := qs.idx.Get(st.Seq); cur != nil && cur.Token == st.Token {
					qs.idx.SetVisibleAt(cur, now)
				}
			}
		}
	}
	qs.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("storing receive: %w", err)
	}

	for _, st := range taken {
		m, err := e.store.Message(ctx, qs.id, st.Seq)
		if err != nil {
			continue // deleted or purged meanwhile
		}
		res.Messages = append(res.Messages, engine.ReceivedMessage{
			Message:        m,
			Receipt:        engine.Receipt{QueueID: qs.id, Seq: st.Seq, Token: st.Token},
			ReceiveCount:   int(st.ReceiveCount),
			FirstReceiveAt: fromMS(st.FirstReceiveAt),
		})
	}
	if err := wait(); err != nil {
		return nil, fmt.Errorf("storing receive: %w", err)
	}
	return res, nil
}

// newToken returns a random receive token; 0 is never issued, so it can mean "not received".
func newToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}

// checkReceipt finds the entry a receipt refers to, or says why it cannot be used.
func (qs *queueState) checkReceipt(r engine.Receipt, now int64, requireInFlight bool) (*msgindex.Entry, error) {
	ent := qs.idx.Get(r.Seq)
	if ent == nil || r.QueueID != qs.id || ent.ReceiveCount == 0 || r.Token == 0 {
		return nil, engine.ErrMessageNotFound
	}
	if ent.Token != r.Token {
		return nil, engine.ErrReceiptSuperseded
	}
	if requireInFlight && !(ent.InFlight() && ent.VisibleAt > now) {
		return nil, engine.ErrMessageNotInFlight
	}
	return ent, nil
}

// MessageDelete implements engine.Engine.
func (e *Engine) MessageDelete(ctx context.Context, p *engine.MessageDeleteParams) ([]error, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.lockLive(p.QueueID)
	if err != nil {
		return nil, err
	}
	now := ms(p.Now)
	errs := make([]error, len(p.Receipts))
	b := &Batch{Sync: true}
	var removed []msgindex.State
	qs.idx.Promote(now)
	for i, r := range p.Receipts {
		ent, err := qs.checkReceipt(r, now, p.RequireInFlight)
		if err != nil {
			errs[i] = err
			continue
		}
		qs.idx.Remove(r.Seq)
		removed = append(removed, ent.State)
		b.Deleted = append(b.Deleted, MessageRef{QueueID: qs.id, Seq: r.Seq})
	}
	if b.Empty() {
		qs.mu.Unlock()
		return errs, nil
	}
	err = e.commitUnlock(ctx, qs, b, func() {
		for _, st := range removed {
			qs.idx.Add(&msgindex.Entry{State: st})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("storing delete: %w", err)
	}
	return errs, nil
}

// MessageChangeVisibility implements engine.Engine.
func (e *Engine) MessageChangeVisibility(ctx context.Context, p *engine.MessageChangeVisibilityParams) ([]error, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.lockLive(p.QueueID)
	if err != nil {
		return nil, err
	}
	now := ms(p.Now)
	errs := make([]error, len(p.Entries))
	b := &Batch{Sync: true}
	qs.idx.Promote(now)
	type undo struct {
		ent *msgindex.Entry
		vis int64
	}
	var undos []undo
	for i, c := range p.Entries {
		ent, err := qs.checkReceipt(c.Receipt, now, p.RequireInFlight)
		if err != nil {
			errs[i] = err
			continue
		}
		vis := ms(c.VisibleAt)
		if p.MaxSinceReceive > 0 && vis-ent.ReceivedAt > p.MaxSinceReceive.Milliseconds() {
			errs[i] = engine.ErrVisibilityTooLong
			continue
		}
		undos = append(undos, undo{ent, max(ent.VisibleAt, now)})
		qs.idx.SetVisibleAt(ent, vis)
		b.States = append(b.States, QueueState{QueueID: qs.id, State: ent.State})
	}
	if b.Empty() {
		qs.mu.Unlock()
		return errs, nil
	}
	err = e.commitUnlock(ctx, qs, b, func() {
		for _, u := range undos {
			qs.idx.SetVisibleAt(u.ent, u.vis)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("storing visibility: %w", err)
	}
	return errs, nil
}
