package indexed

import (
	"context"
	"errors"
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

	// taskMu orders message move task writes (it is taken after opMu, and alone).
	taskMu sync.Mutex
	tasks  map[string]*engine.MoveTask // guarded by taskMu; by Handle
}

type queueState struct {
	id   uint64
	fifo bool

	mu          sync.Mutex
	meta        *engine.Queue   // guarded by mu (copy-on-write: never mutated after publication)
	idx         *msgindex.Index // guarded by mu
	nextSeq     uint64          // guarded by mu
	purgedBelow uint64          // guarded by mu: sends with a lower seq that land late are dropped
	lastPurge   time.Time       // guarded by mu
	deleted     bool            // guarded by mu
	// pubs are written batches of new messages waiting to enter the index, in sequence order:
	// a message becomes receivable only once it is durable and every earlier one has entered.
	pubs []*publication // guarded by mu
	// dedup maps deduplication keys to the message first sent with them; dedupOrder lists the
	// keys by expiry for pruning.
	dedup      map[string]*dedupEntry // guarded by mu
	dedupOrder []dedupExpiry          // guarded by mu
	// attempts remembers receive attempts by ReceiveRequestAttemptId (in memory only).
	attempts map[string]*attempt // guarded by mu
}

// publication is a batch of new messages written to the store and not yet in the index.
type publication struct {
	entries   []msgindex.State
	dedupKeys []string // keys whose dedupEntry points here
	done      bool
	failed    bool
	ch        chan struct{} // closed when the publication is resolved
}

type dedupEntry struct {
	messageID string
	seq       uint64
	until     int64
	pub       *publication // nil once published
}

type dedupExpiry struct {
	key   string
	until int64
}

type attempt struct {
	until    int64
	receipts []engine.Receipt
}

func newQueueState(q *engine.Queue) *queueState {
	qs := &queueState{id: q.ID, fifo: q.FIFO, meta: q, nextSeq: 1,
		dedup: map[string]*dedupEntry{}, attempts: map[string]*attempt{}}
	qs.idx = qs.newIndex()
	return qs
}

func (qs *queueState) newIndex() *msgindex.Index {
	if qs.fifo {
		return msgindex.NewFIFO()
	}
	return msgindex.New()
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
		tasks:      make(map[string]*engine.MoveTask),
	}
	var orphans []MessageRef
	nextSeqs := map[uint64]uint64{}
	var tombs []Tombstone
	var dedups []Dedup
	err := store.Load(ctx, &Loader{
		Queue: func(q *engine.Queue) {
			qs := newQueueState(q)
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
			qs.idx.Add(st)
			qs.nextSeq = max(qs.nextSeq, st.Seq+1)
		},
		NextSeq:     func(qid, next uint64) { nextSeqs[qid] = next },
		NextQueueID: func(next uint64) { e.nextQID = max(e.nextQID, next) },
		Tombstone:   func(t Tombstone) { tombs = append(tombs, t) },
		Dedup:       func(d Dedup) { dedups = append(dedups, d) },
		MoveTask:    func(t *engine.MoveTask) { e.tasks[t.Handle] = t.Clone() },
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
	slices.SortFunc(dedups, func(a, b Dedup) int { return a.Until.Compare(b.Until) })
	for _, d := range dedups {
		if qs := e.byID[d.QueueID]; qs != nil {
			until := ms(d.Until)
			qs.dedup[d.Key] = &dedupEntry{messageID: d.MessageID, seq: d.Seq, until: until}
			qs.dedupOrder = append(qs.dedupOrder, dedupExpiry{key: d.Key, until: until})
		}
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
	err := e.store.Close()
	// No operation is in progress (they hold opMu) and none will start: give the indexes'
	// memory back now, so that a process that reopens the store does not hold two.
	for _, qs := range e.byID {
		qs.mu.Lock()
		qs.idx.Release()
		qs.mu.Unlock()
	}
	return err
}

// begin starts an operation; the caller must call the returned function when done.
//
// A store that has failed for good (the disk engine after a storage error) says so with Err, and
// then every operation fails with its error: the index may be ahead of the store
// (a batch that failed after it was applied is not undone), so no answer may rest on it until
// the engine is reopened. Otherwise a retried delete would find its message gone from the
// index and succeed, and a retried FIFO send would find its deduplication id and succeed, with
// neither written.
func (e *Engine) begin() (func(), error) {
	e.opMu.RLock()
	if e.closed {
		e.opMu.RUnlock()
		return nil, engine.ErrClosed
	}
	if err := e.store.Err(); err != nil {
		e.opMu.RUnlock()
		return nil, err
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
		FIFO:       p.FIFO,
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
	qs := newQueueState(q)
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
		qs.idx = qs.newIndex()
		qs.dedup, qs.dedupOrder = map[string]*dedupEntry{}, nil
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
		if (p.Account == "" || k.Account == p.Account) && strings.HasPrefix(k.Name, p.Prefix) {
			qs.mu.Lock()
			out = append(out, qs.meta)
			qs.mu.Unlock()
		}
	}
	slices.SortFunc(out, func(a, b *engine.Queue) int {
		if c := strings.Compare(a.Key.Account, b.Key.Account); c != 0 {
			return c
		}
		return strings.Compare(a.Key.Name, b.Key.Name)
	})
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
	saved, savedBelow, savedPurge, savedDedup, savedOrder := qs.idx, qs.purgedBelow, qs.lastPurge, qs.dedup, qs.dedupOrder
	qs.idx, qs.purgedBelow, qs.lastPurge = qs.newIndex(), qs.nextSeq, p.Now
	qs.dedup, qs.dedupOrder = map[string]*dedupEntry{}, nil
	err = e.commitUnlock(ctx, qs, &Batch{Sync: true, Purges: []MessageRef{{QueueID: qs.id, Seq: qs.nextSeq}}}, func() {
		qs.idx, qs.purgedBelow, qs.lastPurge = saved, savedBelow, savedPurge
		qs.dedup, qs.dedupOrder = savedDedup, savedOrder
	})
	if err != nil {
		return fmt.Errorf("purging: %w", err)
	}
	return nil
}

// inlineExpiry bounds how many expired messages one receive or stats call removes, so that the
// expiry of a large backlog never holds a queue's lock for long; MessageExpire does the rest.
const inlineExpiry = 1024

// expireLocked removes up to max messages past retention from the index, adds their deletion to
// b, and returns how many.
func (qs *queueState) expireLocked(cutoff time.Time, max int, b *Batch) int {
	if cutoff.IsZero() {
		return 0
	}
	seqs := qs.idx.Expire(cutoff.UnixMilli(), max)
	addDeletions(b, qs.id, seqs)
	return len(seqs)
}

// minRun is the shortest run of consecutive seqs that a batch deletes as a range.
const minRun = 16

// addDeletions adds the deletion of seqs to b: runs of consecutive seqs (most of a retention
// expiry) as range deletions, which the store writes as one tombstone instead of one per key,
// and the rest one by one.
func addDeletions(b *Batch, queueID uint64, seqs []uint64) {
	slices.Sort(seqs)
	for i := 0; i < len(seqs); {
		j := i + 1
		for j < len(seqs) && seqs[j] == seqs[j-1]+1 {
			j++
		}
		if j-i >= minRun {
			b.DeletedRuns = append(b.DeletedRuns, SeqRun{QueueID: queueID, From: seqs[i], To: seqs[j-1] + 1})
		} else {
			for _, seq := range seqs[i:j] {
				b.Deleted = append(b.Deleted, MessageRef{QueueID: queueID, Seq: seq})
			}
		}
		i = j
	}
}

// MessageExpire implements engine.Engine.
func (e *Engine) MessageExpire(ctx context.Context, p *engine.MessageExpireParams) (int, error) {
	done, err := e.begin()
	if err != nil {
		return 0, err
	}
	defer done()
	qs, err := e.queueByKey(p.Key)
	if err != nil {
		return 0, err
	}
	if qs, err = e.lockLive(qs.id); err != nil {
		return 0, err
	}
	// Expiry need not be durable (it is redone after a restart), so the batch is not synced.
	var b Batch
	n := qs.expireLocked(p.RetentionCutoff, p.Max, &b)
	if err := e.commitUnlock(ctx, qs, &b, nil); err != nil {
		return 0, fmt.Errorf("expiring messages: %w", err)
	}
	return n, nil
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
	qs.expireLocked(p.RetentionCutoff, inlineExpiry, &b)
	qs.idx.Promote(ms(p.Now))
	r, f, d := qs.idx.Counts()
	tenants, largest := qs.idx.Tenants()
	if !b.Empty() {
		if _, err := e.store.Apply(ctx, &b); err != nil {
			return nil, fmt.Errorf("expiring messages: %w", err)
		}
	}
	return &engine.QueueStats{Visible: int64(r), InFlight: int64(f), Delayed: int64(d),
		Tenants: int64(tenants), LargestTenant: int64(largest)}, nil
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
	now := ms(p.Now)
	res := &engine.MessageSendResult{Entries: make([]engine.SentMessage, len(p.Entries))}
	b := &Batch{Sync: true}
	qs.pruneDedup(now, b)
	pub := &publication{ch: make(chan struct{})}
	var waitFor []*publication // earlier publications that duplicates refer to
	added := map[string]bool{}
	for i, ent := range p.Entries {
		if ent.DedupKey != "" {
			if d := qs.dedup[ent.DedupKey]; d != nil && d.until > now {
				res.Entries[i] = engine.SentMessage{Seq: d.seq, Duplicate: true, MessageID: d.messageID}
				if d.pub != nil && d.pub != pub {
					waitFor = append(waitFor, d.pub)
				}
				continue
			}
		}
		st := msgindex.State{Seq: qs.nextSeq, SentAt: ms(ent.Message.SentAt), Group: ent.Message.GroupID}
		qs.nextSeq++
		if ent.VisibleAt.After(ent.Message.SentAt) {
			st.VisibleAt = ms(ent.VisibleAt)
		}
		b.Messages = append(b.Messages, NewMessage{QueueID: qs.id, Message: ent.Message, State: st})
		pub.entries = append(pub.entries, st)
		res.Entries[i] = engine.SentMessage{Seq: st.Seq, MessageID: ent.Message.ID}
		if ent.DedupKey != "" {
			until := ms(p.DedupUntil)
			qs.dedup[ent.DedupKey] = &dedupEntry{messageID: ent.Message.ID, seq: st.Seq, until: until, pub: pub}
			pub.dedupKeys = append(pub.dedupKeys, ent.DedupKey)
			qs.dedupOrder = append(qs.dedupOrder, dedupExpiry{key: ent.DedupKey, until: until})
			b.Dedups = append(b.Dedups, Dedup{QueueID: qs.id, Key: ent.DedupKey, MessageID: ent.Message.ID, Seq: st.Seq, Until: p.DedupUntil})
			added[ent.DedupKey] = true
		}
	}
	if len(b.Messages) > 0 {
		b.NextSeqs = []MessageRef{{QueueID: qs.id, Seq: qs.nextSeq}}
	}
	// Sequences are taken even if the write fails: a failed batch may still have been partly
	// synced, and sequences are never reused.
	var wait func() error
	if !b.Empty() {
		wait, err = e.store.Apply(ctx, b)
		if err != nil {
			for k := range added {
				delete(qs.dedup, k)
			}
			qs.mu.Unlock()
			return nil, fmt.Errorf("storing messages: %w", err)
		}
	}
	if len(pub.entries) > 0 {
		qs.pubs = append(qs.pubs, pub)
	}
	qs.mu.Unlock()
	if wait != nil {
		err = wait()
	}
	if len(pub.entries) > 0 {
		qs.mu.Lock()
		pub.done, pub.failed = true, err != nil
		qs.flushPublications()
		qs.mu.Unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("storing messages: %w", err)
	}
	// A duplicate is acknowledged only once the message it duplicates is.
	for _, w := range waitFor {
		select {
		case <-w.ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if w.failed {
			return nil, fmt.Errorf("storing the message this one duplicates failed: %w", engine.ErrMessageNotFound)
		}
	}
	return res, nil
}

// flushPublications moves resolved publications at the head of the line into the index.
func (qs *queueState) flushPublications() {
	for len(qs.pubs) > 0 && qs.pubs[0].done {
		pub := qs.pubs[0]
		qs.pubs[0] = nil
		qs.pubs = qs.pubs[1:]
		if !pub.failed && !qs.deleted {
			for _, st := range pub.entries {
				if st.Seq >= qs.purgedBelow {
					qs.idx.Add(st)
				}
			}
		}
		for _, k := range pub.dedupKeys {
			if d := qs.dedup[k]; d != nil && d.pub == pub {
				d.pub = nil
			}
		}
		close(pub.ch)
	}
}

// pruneDedup forgets deduplication keys that expired by now, and deletes them from the store
// with b.
func (qs *queueState) pruneDedup(now int64, b *Batch) {
	n := 0
	for n < len(qs.dedupOrder) && qs.dedupOrder[n].until <= now {
		x := qs.dedupOrder[n]
		if d := qs.dedup[x.key]; d != nil && d.until == x.until {
			delete(qs.dedup, x.key)
			b.DeletedDedups = append(b.DeletedDedups, DedupRef{QueueID: qs.id, Key: x.key})
		}
		n++
	}
	if n > 0 {
		qs.dedupOrder = append(qs.dedupOrder[:0], qs.dedupOrder[n:]...)
	}
}

// lockQueues locks the live queues of ids in id order (so that two operations over the same
// queues cannot deadlock); unlock releases them. A missing queue fails the call unless optional
// says which ids may be missing (they are then left out).
func (e *Engine) lockQueues(ids []uint64, optional map[uint64]bool) (map[uint64]*queueState, func(), error) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	e.mu.RLock()
	var qss []*queueState
	for _, id := range sorted {
		qs := e.byID[id]
		if qs == nil {
			if optional[id] {
				continue
			}
			e.mu.RUnlock()
			return nil, nil, fmt.Errorf("queue id %d: %w", id, engine.ErrQueueNotFound)
		}
		qss = append(qss, qs)
	}
	e.mu.RUnlock()
	out := make(map[uint64]*queueState, len(qss))
	var locked []*queueState
	unlock := func() {
		for _, qs := range locked {
			qs.mu.Unlock()
		}
	}
	for _, qs := range qss {
		qs.mu.Lock()
		locked = append(locked, qs)
		if qs.deleted {
			if optional[qs.id] {
				continue
			}
			unlock()
			return nil, nil, fmt.Errorf("queue id %d: %w", qs.id, engine.ErrQueueNotFound)
		}
		out[qs.id] = qs
	}
	return out, unlock, nil
}

// transfer moves ent out of src into dst as a new message (same id, body and attributes) with
// the given state changes, adding the writes to b and a publication to pubs.
func (e *Engine) transfer(src, dst *queueState, ent *msgindex.Entry, m *engine.Message,
	st msgindex.State, b *Batch, pubs map[*queueState]*publication) {
	b.Deleted = append(b.Deleted, MessageRef{QueueID: src.id, Seq: ent.Seq()})
	src.idx.Remove(ent.Seq())
	st.Seq = dst.nextSeq
	dst.nextSeq++
	b.Messages = append(b.Messages, NewMessage{QueueID: dst.id, Message: m, State: st})
	b.NextSeqs = append(b.NextSeqs, MessageRef{QueueID: dst.id, Seq: dst.nextSeq})
	pub := pubs[dst]
	if pub == nil {
		pub = &publication{ch: make(chan struct{})}
		pubs[dst] = pub
	}
	pub.entries = append(pub.entries, st)
}

// commitMove applies a batch built under the locks of several queues, registers its
// publications, unlocks, waits, and publishes.
func (e *Engine) commitMove(ctx context.Context, b *Batch, pubs map[*queueState]*publication, unlock func()) error {
	if b.Empty() {
		unlock()
		return nil
	}
	wait, err := e.store.Apply(ctx, b)
	if err != nil {
		unlock()
		return err
	}
	for qs, pub := range pubs {
		qs.pubs = append(qs.pubs, pub)
	}
	unlock()
	err = wait()
	for qs, pub := range pubs {
		qs.mu.Lock()
		pub.done, pub.failed = true, err != nil
		qs.flushPublications()
		qs.mu.Unlock()
	}
	return err
}

// MessageReceive implements engine.Engine.
func (e *Engine) MessageReceive(ctx context.Context, p *engine.MessageReceiveParams) (*engine.MessageReceiveResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	ids := []uint64{p.QueueID}
	dl := p.DeadLetter
	if dl != nil && dl.QueueID != p.QueueID {
		ids = append(ids, dl.QueueID)
	} else {
		dl = nil
	}
	var optional map[uint64]bool
	if dl != nil {
		optional = map[uint64]bool{dl.QueueID: true}
	}
	locked, unlock, err := e.lockQueues(ids, optional)
	if err != nil {
		return nil, err
	}
	qs := locked[p.QueueID]
	var dlq *queueState
	if dl != nil {
		dlq = locked[dl.QueueID] // nil if the dead-letter queue is gone: messages stay
	}
	now, vis := ms(p.Now), ms(p.VisibleAt)
	b := &Batch{Sync: true}
	res := &engine.MessageReceiveResult{}
	pubs := map[*queueState]*publication{}
	qs.expireLocked(p.RetentionCutoff, inlineExpiry, b)
	qs.idx.Promote(now)
	cutoff := ms(p.RetentionCutoff)

	var taken []msgindex.State
	if p.AttemptID != "" {
		taken = qs.retryAttempt(p.AttemptID, now, vis, b)
	}
	if taken == nil {
		_, inFlight, _ := qs.idx.Counts()
		if p.MaxInFlight > 0 && inFlight >= p.MaxInFlight {
			unlock()
			return nil, fmt.Errorf("queue id %d: %w", p.QueueID, engine.ErrInFlightLimit)
		}
		var last *msgindex.Entry
		skipped := 0
		taken = make([]msgindex.State, 0, p.Max)
		b.States = slices.Grow(b.States, p.Max)
		for len(taken) < p.Max {
			var ent *msgindex.Entry
			if last != nil {
				ent = qs.idx.NextInGroup(last)
			}
			if ent == nil {
				ent = qs.idx.PeekReady()
			}
			if ent == nil {
				break
			}
			if cutoff != 0 && ent.SentAt() < cutoff {
				// Past retention but not swept yet: expire it rather than deliver it, up to a
				// bound (the sweeper does the rest; this receive may come back short).
				if skipped++; skipped > inlineExpiry {
					break
				}
				b.Deleted = append(b.Deleted, MessageRef{QueueID: qs.id, Seq: ent.Seq()})
				qs.idx.Remove(ent.Seq())
				continue
			}
			if dlq != nil && int(ent.ReceiveCount()) >= dl.MaxReceiveCount {
				m, err := e.store.Message(ctx, qs.id, ent.Seq())
				if err != nil {
					unlock()
					return nil, fmt.Errorf("reading a message to dead-letter: %w", err)
				}
				moved := *m
				moved.DeadLetterSourceArn = dl.SourceArn
				st := msgindex.State{SentAt: ent.SentAt(), ReceiveCount: ent.ReceiveCount(),
					FirstReceiveAt: ent.FirstReceiveAt(), ReceivedAt: ent.ReceivedAt(), Group: ent.Group()}
				if dl.ResetSentAt {
					st.SentAt = now
					moved.SentAt = p.Now
				}
				e.transfer(qs, dlq, ent, &moved, st, b, pubs)
				res.DeadLettered++
				continue
			}
			qs.idx.Receive(ent, now, vis, newToken())
			st := ent.State()
			taken = append(taken, st)
			b.States = append(b.States, QueueState{QueueID: qs.id, State: st})
			last = ent
		}
		if p.AttemptID != "" && len(taken) > 0 {
			qs.rememberAttempt(p.AttemptID, ms(p.AttemptUntil), now, taken)
		}
	}
	if len(taken) == 0 {
		res.NextVisibleAt = fromMS(qs.idx.NextVisibleAt())
	}
	if err := e.commitMove(ctx, b, pubs, unlock); err != nil {
		// A failed receive leaves the messages in flight under receipts nobody holds; they
		// become visible again when their timeout ends.
		return nil, fmt.Errorf("storing receive: %w", err)
	}
	if len(taken) > 0 {
		res.Messages = make([]engine.ReceivedMessage, 0, len(taken))
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
	return res, nil
}

// retryAttempt returns the messages of a remembered receive attempt, with their visibility
// reset to vis, if every one of them is still in flight under the attempt's receipts; nil
// otherwise.
func (qs *queueState) retryAttempt(id string, now, vis int64, b *Batch) []msgindex.State {
	a := qs.attempts[id]
	if a == nil || a.until <= now {
		return nil
	}
	ents := make([]*msgindex.Entry, 0, len(a.receipts))
	for _, r := range a.receipts {
		ent := qs.idx.Get(r.Seq)
		if ent == nil || ent.Token() != r.Token || !ent.InFlight() || ent.VisibleAt() <= now {
			return nil
		}
		ents = append(ents, ent)
	}
	out := make([]msgindex.State, 0, len(ents))
	for _, ent := range ents {
		qs.idx.SetVisibleAt(ent, vis)
		st := ent.State()
		out = append(out, st)
		b.States = append(b.States, QueueState{QueueID: qs.id, State: st})
	}
	return out
}

// rememberAttempt records a receive attempt's receipts, and forgets expired attempts.
func (qs *queueState) rememberAttempt(id string, until, now int64, taken []msgindex.State) {
	if len(qs.attempts) >= 1024 {
		for k, a := range qs.attempts {
			if a.until <= now {
				delete(qs.attempts, k)
			}
		}
	}
	a := &attempt{until: until}
	for _, st := range taken {
		a.receipts = append(a.receipts, engine.Receipt{QueueID: qs.id, Seq: st.Seq, Token: st.Token})
	}
	qs.attempts[id] = a
}

// MessageMove implements engine.Engine.
func (e *Engine) MessageMove(ctx context.Context, p *engine.MessageMoveParams) (*engine.MessageMoveResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	ids := []uint64{p.QueueID}
	optional := map[uint64]bool{}
	if p.Destination != 0 {
		ids = append(ids, p.Destination)
	}
	for _, id := range p.Sources {
		ids = append(ids, id)
		optional[id] = true
	}
	locked, unlock, err := e.lockQueues(ids, optional)
	if err != nil {
		return nil, err
	}
	qs := locked[p.QueueID]
	now := ms(p.Now)
	qs.idx.Promote(now)
	b := &Batch{Sync: true}
	pubs := map[*queueState]*publication{}
	res := &engine.MessageMoveResult{}
	for res.Moved < p.Max {
		ent := qs.idx.PeekReady()
		if ent == nil {
			break
		}
		m, err := e.store.Message(ctx, qs.id, ent.Seq())
		if err != nil {
			unlock()
			return nil, fmt.Errorf("reading a message to move: %w", err)
		}
		dstID := p.Destination
		if dstID == 0 {
			dstID = p.Sources[m.DeadLetterSourceArn]
		}
		dst := locked[dstID]
		if dst == nil || dst == qs {
			res.Unroutable = m.DeadLetterSourceArn
			if res.Unroutable == "" {
				res.Unroutable = "?"
			}
			break
		}
		moved := *m
		moved.DeadLetterSourceArn = ""
		moved.SentAt = p.Now
		e.transfer(qs, dst, ent, &moved, msgindex.State{SentAt: now, Group: ent.Group()}, b, pubs)
		res.Moved++
	}
	if err := e.commitMove(ctx, b, pubs, unlock); err != nil {
		return nil, fmt.Errorf("storing move: %w", err)
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
	if ent == nil || r.QueueID != qs.id || ent.ReceiveCount() == 0 || r.Token == 0 {
		return nil, engine.ErrMessageNotFound
	}
	if ent.Token() != r.Token {
		return nil, engine.ErrReceiptSuperseded
	}
	if requireInFlight && !(ent.InFlight() && ent.VisibleAt() > now) {
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
		removed = append(removed, ent.State())
		qs.idx.Remove(r.Seq)
		b.Deleted = append(b.Deleted, MessageRef{QueueID: qs.id, Seq: r.Seq})
	}
	if b.Empty() {
		// Nothing to delete. If a receipt's message is already gone, a concurrent delete of it
		// may not be durable yet: write a barrier (rewriting the queue's sequence record) whose
		// durability implies that of every earlier batch, so that this success never
		// acknowledges a deletion a crash could undo.
		gone := false
		for _, err := range errs {
			gone = gone || errors.Is(err, engine.ErrMessageNotFound)
		}
		if !gone {
			qs.mu.Unlock()
			return errs, nil
		}
		b.NextSeqs = []MessageRef{{QueueID: qs.id, Seq: qs.nextSeq}}
	}
	err = e.commitUnlock(ctx, qs, b, func() {
		for _, st := range removed {
			qs.idx.Add(st)
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
		if p.MaxSinceReceive > 0 && vis-ent.ReceivedAt() > p.MaxSinceReceive.Milliseconds() {
			errs[i] = engine.ErrVisibilityTooLong
			continue
		}
		undos = append(undos, undo{ent, max(ent.VisibleAt(), now)})
		qs.idx.SetVisibleAt(ent, vis)
		b.States = append(b.States, QueueState{QueueID: qs.id, State: ent.State()})
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

// MoveTaskPut implements engine.Engine.
func (e *Engine) MoveTaskPut(ctx context.Context, t *engine.MoveTask) error {
	done, err := e.begin()
	if err != nil {
		return err
	}
	defer done()
	c := t.Clone()
	c.StartedAt = fromMS(ms(c.StartedAt))
	e.taskMu.Lock()
	defer e.taskMu.Unlock()
	if err := e.apply(ctx, &Batch{Sync: true, MoveTasks: []*engine.MoveTask{c}}); err != nil {
		return fmt.Errorf("storing move task: %w", err)
	}
	e.tasks[c.Handle] = c
	return nil
}

// MoveTaskList implements engine.Engine.
func (e *Engine) MoveTaskList(_ context.Context, p *engine.MoveTaskListParams) ([]*engine.MoveTask, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	e.taskMu.Lock()
	defer e.taskMu.Unlock()
	var out []*engine.MoveTask
	for _, t := range e.tasks {
		if p.SourceQueueID == 0 || t.SourceQueueID == p.SourceQueueID {
			out = append(out, t.Clone())
		}
	}
	return out, nil
}
