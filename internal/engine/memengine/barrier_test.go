package memengine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/indexed"
	"sluice/internal/engine/memengine"
)

// prefixStore models a log whose syncs are in order: a batch is durable only once every batch
// applied before it is, and the test decides when batches become durable.
type prefixStore struct {
	*memengine.Store
	mu       sync.Mutex
	cond     *sync.Cond
	applied  int
	released int
	hold     bool
}

func newPrefixStore() *prefixStore {
	s := &prefixStore{Store: memengine.NewStore()}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *prefixStore) Apply(ctx context.Context, b *indexed.Batch) (func() error, error) {
	if _, err := s.Store.Apply(ctx, b); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.applied++
	ticket := s.applied
	if !s.hold {
		s.released = ticket
	}
	s.mu.Unlock()
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for s.released < ticket {
			s.cond.Wait()
		}
		return nil
	}, nil
}

func (s *prefixStore) setHold(hold bool) {
	s.mu.Lock()
	s.hold = hold
	if !hold {
		s.released = s.applied
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// TestRepeatedDeleteWaitsForDurability: a second delete of a message whose first delete is not
// durable yet must not be acknowledged before it is (a crash in between would bring the message
// back after both deletes were acknowledged).
func TestRepeatedDeleteWaitsForDurability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newPrefixStore()
	e, err := indexed.New(ctx, store)
	require.NoError(t, err)
	defer e.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := e.QueueCreate(ctx, &engine.QueueCreateParams{Key: engine.QueueKey{Account: "000000000000", Name: "q"}, Now: now})
	require.NoError(t, err)
	q := res.Queue
	_, err = e.MessageSend(ctx, &engine.MessageSendParams{QueueID: q.ID, Now: now,
		Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "m", Body: "m", SentAt: now}, VisibleAt: now}}})
	require.NoError(t, err)
	rcv, err := e.MessageReceive(ctx, &engine.MessageReceiveParams{QueueID: q.ID, Now: now, Max: 1, VisibleAt: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, rcv.Messages, 1)
	r := rcv.Messages[0].Receipt

	applied := func() int { store.mu.Lock(); defer store.mu.Unlock(); return store.applied }
	before := applied()
	store.setHold(true)
	defer store.setHold(false) // never leave a delete blocked, even when the test fails
	del := func(out chan<- error) {
		errs, err := e.MessageDelete(ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: now, Receipts: []engine.Receipt{r}})
		if err == nil && errs[0] != nil && !errorsIsNotFound(errs[0]) {
			err = errs[0]
		}
		out <- err
	}
	first, second := make(chan error, 1), make(chan error, 1)
	go del(first)
	require.Eventually(t, func() bool { return applied() > before }, 5*time.Second, time.Millisecond, "the first delete never wrote")
	go del(second)
	select {
	case err := <-second:
		t.Fatalf("the repeated delete was acknowledged (%v) before the first delete was durable", err)
	case <-time.After(100 * time.Millisecond):
	}
	store.setHold(false)
	require.NoError(t, <-first)
	require.NoError(t, <-second)
}

func errorsIsNotFound(err error) bool { return err == engine.ErrMessageNotFound }
