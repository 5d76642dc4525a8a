// Package memengine is the in-memory engine: the indexed engine over a store of Go maps. It is
// the fastest engine for tests and for `sluice serve --storage=memory`, and it is not durable:
// everything is lost when the process ends.
package memengine

import (
	"context"
	"fmt"
	"sync"

	"sluice/internal/engine"
	"sluice/internal/engine/indexed"
	"sluice/internal/engine/msgindex"
)

// New returns an empty in-memory engine.
func New() *indexed.Engine {
	e, err := indexed.New(context.Background(), NewStore())
	if err != nil {
		// Loading an empty map store cannot fail.
		panic(fmt.Sprintf("memengine: %v", err))
	}
	return e
}

// Store is an indexed.Store in memory. It is exported so that tests can reopen an engine over
// the same store to exercise the load path.
type Store struct {
	mu          sync.RWMutex
	queues      map[uint64]*engine.Queue              // guarded by mu
	messages    map[uint64]map[uint64]*storedMessage  // guarded by mu
	nextSeqs    map[uint64]uint64                     // guarded by mu
	tombstones  map[engine.QueueKey]indexed.Tombstone // guarded by mu
	nextQueueID uint64                                // guarded by mu
	dedups      map[uint64]map[string]indexed.Dedup   // guarded by mu
	moveTasks   map[string]*engine.MoveTask           // guarded by mu; by Handle
}

type storedMessage struct {
	msg   *engine.Message
	state msgindex.State
}

var _ indexed.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		queues: map[uint64]*engine.Queue{}, messages: map[uint64]map[uint64]*storedMessage{},
		nextSeqs: map[uint64]uint64{}, tombstones: map[engine.QueueKey]indexed.Tombstone{},
		dedups: map[uint64]map[string]indexed.Dedup{}, moveTasks: map[string]*engine.MoveTask{},
	}
}

// Load implements indexed.Store.
func (s *Store) Load(_ context.Context, l *indexed.Loader) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l.Queue != nil {
		for _, q := range s.queues {
			l.Queue(q.Clone())
		}
	}
	if l.State != nil {
		for qid, ms := range s.messages {
			for _, m := range ms {
				l.State(qid, m.state)
			}
		}
	}
	if l.NextSeq != nil {
		for qid, next := range s.nextSeqs {
			l.NextSeq(qid, next)
		}
	}
	if l.NextQueueID != nil && s.nextQueueID != 0 {
		l.NextQueueID(s.nextQueueID)
	}
	if l.Tombstone != nil {
		for _, t := range s.tombstones {
			l.Tombstone(t)
		}
	}
	if l.Dedup != nil {
		for _, ds := range s.dedups {
			for _, d := range ds {
				l.Dedup(d)
			}
		}
	}
	if l.MoveTask != nil {
		for _, t := range s.moveTasks {
			l.MoveTask(t.Clone())
		}
	}
	return nil
}

func noWait() error { return nil }

// Apply implements indexed.Store.
func (s *Store) Apply(_ context.Context, b *indexed.Batch) (func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range b.Queues {
		s.queues[q.ID] = q.Clone()
	}
	for _, id := range b.DeletedQueues {
		delete(s.queues, id)
		delete(s.messages, id)
		delete(s.nextSeqs, id)
		delete(s.dedups, id)
	}
	for _, m := range b.Messages {
		qm := s.messages[m.QueueID]
		if qm == nil {
			qm = map[uint64]*storedMessage{}
			s.messages[m.QueueID] = qm
		}
		qm[m.State.Seq] = &storedMessage{msg: m.Message, state: m.State}
	}
	for _, st := range b.States {
		if m := s.messages[st.QueueID][st.State.Seq]; m != nil {
			m.state = st.State
		}
	}
	for _, d := range b.Deleted {
		delete(s.messages[d.QueueID], d.Seq)
	}
	for _, r := range b.DeletedRuns {
		for seq := r.From; seq < r.To; seq++ {
			delete(s.messages[r.QueueID], seq)
		}
	}
	for _, p := range b.Purges {
		delete(s.dedups, p.QueueID)
		for seq := range s.messages[p.QueueID] {
			if seq < p.Seq {
				delete(s.messages[p.QueueID], seq)
			}
		}
	}
	for _, n := range b.NextSeqs {
		s.nextSeqs[n.QueueID] = n.Seq
	}
	if b.NextQueueID != 0 {
		s.nextQueueID = b.NextQueueID
	}
	for _, d := range b.DeletedDedups {
		delete(s.dedups[d.QueueID], d.Key)
	}
	for _, d := range b.Dedups {
		if s.dedups[d.QueueID] == nil {
			s.dedups[d.QueueID] = map[string]indexed.Dedup{}
		}
		s.dedups[d.QueueID][d.Key] = d
	}
	for _, k := range b.ClearedTombstones {
		delete(s.tombstones, k)
	}
	for _, t := range b.Tombstones {
		s.tombstones[t.Key] = t
	}
	for _, t := range b.MoveTasks {
		s.moveTasks[t.Handle] = t.Clone()
	}
	return noWait, nil
}

// Message implements indexed.Store.
func (s *Store) Message(_ context.Context, qid, seq uint64) (*engine.Message, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.messages[qid][seq]
	if m == nil {
		return nil, engine.ErrMessageNotFound
	}
	return m.msg, nil
}

// Err implements indexed.Store: a map store never fails.
func (s *Store) Err() error { return nil }

// Close implements indexed.Store.
func (s *Store) Close() error { return nil }
