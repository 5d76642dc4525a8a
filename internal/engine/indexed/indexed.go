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

// Engine is an engine.Engine over a Store.
//
// Lock order: Engine.mu before queueState.mu. Neither is held across Store.Apply except by the
// rare queue-level operations (create, update, delete), which hold Engine.mu.
type Engine struct {
	store Store

	mu         sync.RWMutex
	byKey      map[engine.QueueKey]*queueState // guarded by mu
	byID       map[uint64]*queueState          // guarded by mu
	tombstones map[engine.QueueKey]time.Time   // guarded by mu
	nextQID    uint64                          // guarded by mu
	closed     bool                            // guarded by mu
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
	err := store.Load(ctx, func(q *engine.Queue) {
		qs := &queueState{id: q.ID, meta: q, idx: msgindex.New(), nextSeq: 1}
		e.byKey[q.Key] = qs
		e.byID[q.ID] = qs
		if q.ID >= e.nextQID {
			e.nextQID = q.ID + 1
		}
	}, func(qid uint64, st msgindex.State) {
		qs := e.byID[qid]
		if qs == nil {
			orphans = append(orphans, MessageRef{QueueID: qid, Seq: st.Seq})
			return
		}
		qs.idx.Add(&msgindex.Entry{State: st})
		if st.Seq >= qs.nextSeq {
			qs.nextSeq = st.Seq + 1
		}
	})
	if err != nil {
		return nil, fmt.Errorf("loading store: %w", err)
	}
	if len(orphans) > 0 {
		if err := store.Apply(ctx, &Batch{Deleted: orphans}); err != nil {
			return nil, fmt.Errorf("removing messages of deleted queues: %w", err)
		}
	}
	return e, nil
}

// Close closes the store.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.store.Close()
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
	if e.closed {
		return nil, engine.ErrClosed
	}
	qs := e.byID[id]
	if qs == nil {
		return nil, fmt.Errorf("queue id %d: %w", id, engine.ErrQueueNotFound)
	}
	return qs, nil
}

func (e *Engine) queueByKey(k engine.QueueKey) (*queueState, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, engine.ErrClosed
	}
	qs := e.byKey[k]
	if qs == nil {
		return nil, fmt.Errorf("queue %s/%s: %w", k.Account, k.Name, engine.ErrQueueNotFound)
	}
	return qs, nil
}

// QueueCreate implements engine.Engine.
func (e *Engine) QueueCreate(ctx context.Context, p *engine.QueueCreateParams) (*engine.QueueCreateResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, engine.ErrClosed
	}
	if qs := e.byKey[p.Key]; qs != nil {
		qs.mu.Lock()
		meta := qs.meta
		qs.mu.Unlock()
		return &engine.QueueCreateResult{Queue: meta}, nil
	}
	if at, ok := e.tombstones[p.Key]; ok && p.DeletedCooldown > 0 && p.Now.Sub(at) < p.DeletedCooldown {
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
	if err := e.store.Apply(ctx, &Batch{Sync: true, Queues: []*engine.Queue{q}}); err != nil {
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return engine.ErrClosed
	}
	qs := e.byKey[p.Key]
	if qs == nil {
		return fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrQueueNotFound)
	}
	if err := e.store.Apply(ctx, &Batch{Sync: true, DeletedQueues: []uint64{qs.id}}); err != nil {
		return fmt.Errorf("deleting queue: %w", err)
	}
	qs.mu.Lock()
	qs.deleted = true
	qs.idx = msgindex.New()
	qs.mu.Unlock()
	delete(e.byKey, p.Key)
	delete(e.byID, qs.id)
	e.tombstones[p.Key] = p.Now
	return nil
}

// QueueGet implements engine.Engine. The returned queue must not be modified.
func (e *Engine) QueueGet(_ context.Context, p *engine.QueueGetParams) (*engine.Queue, error) {
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
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, engine.ErrClosed
	}
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, engine.ErrClosed
	}
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
	for _, k := range p.RemoveAttributes {
		delete(q.Attributes, k)
	}
	for k, v := range p.SetAttributes {
		q.Attributes[k] = v
	}
	for _, k := range p.RemoveTags {
		delete(q.Tags, k)
	}
	for k, v := range p.SetTags {
		q.Tags[k] = v
	}
	if len(p.SetAttributes)+len(p.RemoveAttributes) > 0 {
		q.ModifiedAt = p.Now
	}
	if err := e.store.Apply(ctx, &Batch{Sync: true, Queues: []*engine.Queue{q}}); err != nil {
		return nil, fmt.Errorf("storing queue: %w", err)
	}
	qs.mu.Lock()
	qs.meta = q
	qs.mu.Unlock()
	return q, nil
}

// QueuePurge implements engine.Engine.
func (e *Engine) QueuePurge(ctx context.Context, p *engine.QueuePurgeParams) error {
	qs, err := e.queueByKey(p.Key)
	if err != nil {
		return err
	}
	qs.mu.Lock()
	if !qs.lastPurge.IsZero() && p.MinInterval > 0 && p.Now.Sub(qs.lastPurge) < p.MinInterval {
		qs.mu.Unlock()
		return fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrPurgeInProgress)
	}
	qs.lastPurge = p.Now
	qs.idx.RemoveAll()
	qs.purgedBelow = qs.nextSeq
	below := qs.nextSeq
	qs.mu.Unlock()
	if err := e.store.Apply(ctx, &Batch{Sync: true, Purges: []MessageRef{{QueueID: qs.id, Seq: below}}}); err != nil {
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
	qs, err := e.queueByKey(p.Key)
	if err != nil {
		return nil, err
	}
	var b Batch
	qs.mu.Lock()
	qs.expireLocked(p.RetentionCutoff, &b)
	qs.idx.Promote(ms(p.Now))
	r, f, d := qs.idx.Counts()
	qs.mu.Unlock()
	if !b.Empty() {
		// Expiry need not be durable: it is redone after a restart.
		if err := e.store.Apply(ctx, &b); err != nil {
			return nil, fmt.Errorf("expiring messages: %w", err)
		}
	}
	return &engine.QueueStats{Visible: int64(r), InFlight: int64(f), Delayed: int64(d)}, nil
}

// MessageSend implements engine.Engine.
func (e *Engine) MessageSend(ctx context.Context, p *engine.MessageSendParams) (*engine.MessageSendResult, error) {
	qs, err := e.queueByID(p.QueueID)
	if err != nil {
		return nil, err
	}
	b := &Batch{Sync: true, Messages: make([]NewMessage, len(p.Entries))}
	qs.mu.Lock()
	first := qs.nextSeq
	qs.nextSeq += uint64(len(p.Entries))
	qs.mu.Unlock()
	for i, ent := range p.Entries {
		st := msgindex.State{Seq: first + uint64(i), SentAt: ms(ent.Message.SentAt)}
		if ent.VisibleAt.After(ent.Message.SentAt) {
			st.VisibleAt = ms(ent.VisibleAt)
		}
		b.Messages[i] = NewMessage{QueueID: qs.id, Message: ent.Message, State: st}
	}
	if err := e.store.Apply(ctx, b); err != nil {
		return nil, fmt.Errorf("storing messages: %w", err)
	}
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
	qs, err := e.queueByID(p.QueueID)
	if err != nil {
		return nil, err
	}
	now, vis := ms(p.Now), ms(p.VisibleAt)
	b := &Batch{Sync: true}
	res := &engine.MessageReceiveResult{}
	qs.mu.Lock()
	qs.expireLocked(p.RetentionCutoff, b)
	qs.idx.Promote(now)
	_, inFlight, _ := qs.idx.Counts()
	if p.MaxInFlight > 0 && inFlight >= p.MaxInFlight {
		qs.mu.Unlock()
		return nil, fmt.Errorf("queue id %d: %w", p.QueueID, engine.ErrInFlightLimit)
	}
	var taken []*msgindex.Entry
	for len(taken) < p.Max {
		ent := qs.idx.PeekReady()
		if ent == nil {
			break
		}
		qs.idx.Receive(ent, now, vis, newToken())
		taken = append(taken, ent)
		b.States = append(b.States, QueueState{QueueID: qs.id, State: ent.State})
	}
	if len(taken) == 0 {
		res.NextVisibleAt = fromMS(qs.idx.NextVisibleAt())
	}
	qs.mu.Unlock()

	for i := range b.States {
		st := b.States[i].State
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
	if b.Empty() {
		return res, nil
	}
	if err := e.store.Apply(ctx, b); err != nil {
		// Nobody holds these receipts: make the messages visible again.
		qs.mu.Lock()
		for _, ent := range taken {
			if cur := qs.idx.Get(ent.Seq); cur == ent && cur.Token == ent.Token {
				qs.idx.SetVisibleAt(cur, now)
			}
		}
		qs.mu.Unlock()
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
	qs, err := e.queueByID(p.QueueID)
	if err != nil {
		return nil, err
	}
	now := ms(p.Now)
	errs := make([]error, len(p.Receipts))
	b := &Batch{Sync: true}
	var removed []*msgindex.Entry
	qs.mu.Lock()
	qs.idx.Promote(now)
	for i, r := range p.Receipts {
		ent, err := qs.checkReceipt(r, now, p.RequireInFlight)
		if err != nil {
			errs[i] = err
			continue
		}
		qs.idx.Remove(r.Seq)
		removed = append(removed, ent)
		b.Deleted = append(b.Deleted, MessageRef{QueueID: qs.id, Seq: r.Seq})
	}
	qs.mu.Unlock()
	if b.Empty() {
		return errs, nil
	}
	if err := e.store.Apply(ctx, b); err != nil {
		qs.mu.Lock()
		for _, ent := range removed {
			if !qs.deleted && qs.idx.Get(ent.Seq) == nil && ent.Seq >= qs.purgedBelow {
				qs.idx.Add(&msgindex.Entry{State: ent.State})
			}
		}
		qs.mu.Unlock()
		return nil, fmt.Errorf("storing delete: %w", err)
	}
	return errs, nil
}

// MessageChangeVisibility implements engine.Engine.
func (e *Engine) MessageChangeVisibility(ctx context.Context, p *engine.MessageChangeVisibilityParams) ([]error, error) {
	qs, err := e.queueByID(p.QueueID)
	if err != nil {
		return nil, err
	}
	now := ms(p.Now)
	errs := make([]error, len(p.Entries))
	b := &Batch{Sync: true}
	qs.mu.Lock()
	qs.idx.Promote(now)
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
		qs.idx.SetVisibleAt(ent, vis)
		b.States = append(b.States, QueueState{QueueID: qs.id, State: ent.State})
	}
	qs.mu.Unlock()
	if b.Empty() {
		return errs, nil
	}
	if err := e.store.Apply(ctx, b); err != nil {
		return nil, fmt.Errorf("storing visibility: %w", err)
	}
	return errs, nil
}
