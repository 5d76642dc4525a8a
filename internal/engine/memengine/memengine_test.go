package memengine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/enginetest"
	"sluice/internal/engine/indexed"
	"sluice/internal/engine/memengine"
)

func TestConformance(t *testing.T) {
	enginetest.Exercise(t, func(t *testing.T) engine.Engine { return memengine.New() })
}

func TestFair(t *testing.T) {
	enginetest.ExerciseFair(t, func(t *testing.T) engine.Engine { return memengine.New() })
}

func BenchmarkEngine(b *testing.B) {
	enginetest.Benchmark(b, func(testing.TB) engine.Engine { return memengine.New() })
}

var base = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func key(name string) engine.QueueKey { return engine.QueueKey{Account: "000000000000", Name: name} }

// reopen closes eng and opens a new engine over the same store, as a restart would.
func reopen(t *testing.T, eng *indexed.Engine, store indexed.Store) *indexed.Engine {
	t.Helper()
	require.NoError(t, eng.Close())
	e, err := indexed.New(context.Background(), store)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func open(t *testing.T, store indexed.Store) *indexed.Engine {
	t.Helper()
	e, err := indexed.New(context.Background(), store)
	require.NoError(t, err)
	return e
}

func create(t *testing.T, e engine.Engine, name string, now time.Time) *engine.Queue {
	t.Helper()
	res, err := e.QueueCreate(context.Background(), &engine.QueueCreateParams{Key: key(name), Now: now})
	require.NoError(t, err)
	require.True(t, res.Created)
	return res.Queue
}

func send(t *testing.T, e engine.Engine, q *engine.Queue, now, visibleAt time.Time, bodies ...string) {
	t.Helper()
	var entries []engine.MessageSendEntry
	for _, body := range bodies {
		entries = append(entries, engine.MessageSendEntry{
			Message:   &engine.Message{ID: "id-" + body, Body: body, SentAt: now, Attributes: map[string]engine.MessageAttribute{"k": {DataType: "String", StringValue: body}}},
			VisibleAt: visibleAt,
		})
	}
	_, err := e.MessageSend(context.Background(), &engine.MessageSendParams{QueueID: q.ID, Now: now, Entries: entries})
	require.NoError(t, err)
}

func receive(t *testing.T, e engine.Engine, q *engine.Queue, now time.Time, max int, visibleAt time.Time) []engine.ReceivedMessage {
	t.Helper()
	res, err := e.MessageReceive(context.Background(), &engine.MessageReceiveParams{QueueID: q.ID, Now: now, Max: max, VisibleAt: visibleAt})
	require.NoError(t, err)
	return res.Messages
}

func deleteReceipt(t *testing.T, e engine.Engine, q *engine.Queue, now time.Time, r engine.Receipt) error {
	t.Helper()
	errs, err := e.MessageDelete(context.Background(), &engine.MessageDeleteParams{QueueID: q.ID, Now: now, Receipts: []engine.Receipt{r}})
	require.NoError(t, err)
	require.Len(t, errs, 1)
	return errs[0]
}

func stats(t *testing.T, e engine.Engine, q *engine.Queue, now time.Time) engine.QueueStats {
	t.Helper()
	s, err := e.QueueStats(context.Background(), &engine.QueueStatsParams{Key: q.Key, Now: now})
	require.NoError(t, err)
	return *s
}

// TestReload uses an engine, then opens a second engine over its store and checks that queues,
// messages and delivery states survived: the load path of the indexed engine.
func TestReload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memengine.NewStore()
	e1 := open(t, store)

	res, err := e1.QueueCreate(ctx, &engine.QueueCreateParams{
		Key: key("main"), Now: base,
		Attributes: map[string]string{"VisibilityTimeout": "30"}, Tags: map[string]string{"team": "a"},
	})
	require.NoError(t, err)
	q := res.Queue
	_, err = e1.QueueUpdate(ctx, &engine.QueueUpdateParams{Key: q.Key, Now: at(time.Second), SetAttributes: map[string]string{"DelaySeconds": "5"}})
	require.NoError(t, err)
	other := create(t, e1, "other", base)
	doomed := create(t, e1, "doomed", base)
	send(t, e1, doomed, base, base, "lost-with-queue")
	require.NoError(t, e1.QueueDelete(ctx, &engine.QueueDeleteParams{Key: doomed.Key, Now: at(time.Second)}))

	// main: a, b, c, d visible; e delayed until +1h.
	send(t, e1, q, at(2*time.Second), at(2*time.Second), "a", "b", "c", "d")
	send(t, e1, q, at(3*time.Second), at(time.Hour), "e")
	send(t, e1, other, at(3*time.Second), at(3*time.Second), "o")
	// a: received twice, in flight until +10m.  b: received, deleted.
	// c: received, visibility expired at +20s.  d: never received.
	recv := receive(t, e1, q, at(4*time.Second), 3, at(20*time.Second))
	require.Len(t, recv, 3)
	rb := recv[1].Receipt
	require.NoError(t, deleteReceipt(t, e1, q, at(5*time.Second), rb))
	changes, err := e1.MessageChangeVisibility(ctx, &engine.MessageChangeVisibilityParams{
		QueueID: q.ID, Now: at(5 * time.Second), Entries: []engine.VisibilityChange{{Receipt: recv[0].Receipt, VisibleAt: at(5 * time.Second)}},
	})
	require.NoError(t, err)
	require.Equal(t, []error{nil}, changes)
	a2 := receive(t, e1, q, at(5*time.Second), 1, at(10*time.Minute))
	require.Len(t, a2, 1)
	require.Equal(t, "a", a2[0].Message.Body)
	ra := a2[0].Receipt
	rc := recv[2].Receipt
	require.Equal(t, engine.QueueStats{Visible: 1, InFlight: 2, Delayed: 1}, stats(t, e1, q, at(6*time.Second)))

	e2 := reopen(t, e1, store)

	// Queues.
	qs, err := e2.QueueList(ctx, &engine.QueueListParams{Account: "000000000000"})
	require.NoError(t, err)
	require.Len(t, qs, 2)
	require.Equal(t, "main", qs[0].Key.Name)
	require.Equal(t, q.ID, qs[0].ID)
	require.Equal(t, map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "5"}, qs[0].Attributes)
	require.Equal(t, map[string]string{"team": "a"}, qs[0].Tags)
	require.True(t, base.Equal(qs[0].CreatedAt))
	require.True(t, at(time.Second).Equal(qs[0].ModifiedAt))
	require.Equal(t, other.ID, qs[1].ID)
	_, err = e2.QueueGet(ctx, &engine.QueueGetParams{Key: doomed.Key})
	require.ErrorIs(t, err, engine.ErrQueueNotFound)

	// Messages and their states.
	require.Equal(t, engine.QueueStats{Visible: 1, InFlight: 2, Delayed: 1}, stats(t, e2, q, at(6*time.Second)))
	require.Equal(t, engine.QueueStats{Visible: 2, InFlight: 1, Delayed: 1}, stats(t, e2, q, at(20*time.Second)))
	require.ErrorIs(t, deleteReceipt(t, e2, q, at(20*time.Second), rb), engine.ErrMessageNotFound)
	require.ErrorIs(t, deleteReceipt(t, e2, q, at(20*time.Second), recv[0].Receipt), engine.ErrReceiptSuperseded)

	got := receive(t, e2, q, at(20*time.Second), 10, at(time.Minute))
	require.Len(t, got, 2)
	require.Equal(t, "c", got[0].Message.Body, "oldest first after reload")
	require.Equal(t, 2, got[0].ReceiveCount)
	require.True(t, at(4*time.Second).Equal(got[0].FirstReceiveAt))
	require.Equal(t, "d", got[1].Message.Body)
	require.Equal(t, 1, got[1].ReceiveCount)
	require.Equal(t, "d", got[1].Message.Attributes["k"].StringValue)
	require.ErrorIs(t, deleteReceipt(t, e2, q, at(20*time.Second), rc), engine.ErrReceiptSuperseded)

	// a's receipt survived the restart.
	require.NoError(t, deleteReceipt(t, e2, q, at(30*time.Second), ra))

	// The delayed message is still delayed, and new messages come after the old ones.
	send(t, e2, q, at(time.Minute), at(time.Minute), "f")
	got = receive(t, e2, q, at(time.Hour), 10, at(2*time.Hour))
	bodies := []string{}
	for _, m := range got {
		bodies = append(bodies, m.Message.Body)
	}
	require.Equal(t, []string{"c", "d", "e", "f"}, bodies)

	other2 := receive(t, e2, other, at(time.Hour), 10, at(2*time.Hour))
	require.Len(t, other2, 1)
	require.Equal(t, "o", other2[0].Message.Body)
}

// TestReloadQueueIDs checks that a queue deleted before a restart does not hand its ID to the
// next queue created after it (engine.Queue.ID: "changes when a queue is deleted and created
// again, so receipts of the old queue never match the new one").
func TestReloadQueueIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memengine.NewStore()
	e1 := open(t, store)
	create(t, e1, "keep", base)
	q := create(t, e1, "q", base)
	require.NoError(t, e1.QueueDelete(ctx, &engine.QueueDeleteParams{Key: q.Key, Now: base}))

	e2 := reopen(t, e1, store)
	q2 := create(t, e2, "q", at(time.Hour))
	require.NotEqual(t, q.ID, q2.ID, "a recreated queue got its old ID back after a restart")
}

// TestReloadDeletedCooldown checks that the DeletedCooldown of QueueCreate holds across a restart.
func TestReloadDeletedCooldown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memengine.NewStore()
	e1 := open(t, store)
	q := create(t, e1, "q", base)
	require.NoError(t, e1.QueueDelete(ctx, &engine.QueueDeleteParams{Key: q.Key, Now: base}))

	e2 := reopen(t, e1, store)
	_, err := e2.QueueCreate(ctx, &engine.QueueCreateParams{Key: q.Key, Now: at(time.Second), DeletedCooldown: time.Minute})
	require.ErrorIs(t, err, engine.ErrQueueDeletedRecently)
}

// TestReloadDeletedReceipt checks that the receipt of a message deleted before a restart still
// names a deleted message afterwards, even once new messages have been sent.
func TestReloadDeletedReceipt(t *testing.T) {
	t.Parallel()
	store := memengine.NewStore()
	e1 := open(t, store)
	q := create(t, e1, "q", base)
	send(t, e1, q, base, base, "old")
	old := receive(t, e1, q, base, 1, at(time.Minute))
	require.Len(t, old, 1)
	require.NoError(t, deleteReceipt(t, e1, q, base, old[0].Receipt))

	e2 := reopen(t, e1, store)
	send(t, e2, q, at(time.Second), at(time.Second), "new")
	require.Len(t, receive(t, e2, q, at(time.Second), 1, at(time.Minute)), 1)
	require.ErrorIs(t, deleteReceipt(t, e2, q, at(time.Second), old[0].Receipt), engine.ErrMessageNotFound)
}

// gatedStore is a Store whose Apply, for the first batch that matches, does not finish its
// durability wait until released: it lets a test stop an operation between its store write
// and its acknowledgement.
type gatedStore struct {
	indexed.Store
	match   func(*indexed.Batch) bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGatedStore(match func(*indexed.Batch) bool) *gatedStore {
	return &gatedStore{
		Store: memengine.NewStore(), match: match,
		entered: make(chan struct{}), release: make(chan struct{}),
	}
}

// Apply applies the batch at once (in call order, as the contract requires) and, for the
// first matching batch, holds its durability wait until released: the window in which another
// operation can run between a batch's application and its acknowledgement.
func (s *gatedStore) Apply(ctx context.Context, b *indexed.Batch) (func() error, error) {
	wait, err := s.Store.Apply(ctx, b)
	if err != nil || !s.match(b) {
		return wait, err
	}
	gate := false
	s.once.Do(func() { gate = true })
	if !gate {
		return wait, nil
	}
	return func() error {
		close(s.entered)
		<-s.release
		return wait()
	}, nil
}

// TestReloadPurgeRacingSend: a send whose store write lands after a concurrent purge is dropped
// by the purge in memory; a restart must not bring it back.
func TestReloadPurgeRacingSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newGatedStore(func(b *indexed.Batch) bool { return len(b.Messages) > 0 })
	e1 := open(t, store)
	q := create(t, e1, "q", base)

	sendDone := make(chan error)
	go func() {
		_, err := e1.MessageSend(ctx, &engine.MessageSendParams{
			QueueID: q.ID, Now: base,
			Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "m", Body: "m", SentAt: base}, VisibleAt: base}},
		})
		sendDone <- err
	}()
	<-store.entered
	require.NoError(t, e1.QueuePurge(ctx, &engine.QueuePurgeParams{Key: q.Key, Now: base, MinInterval: time.Minute}))
	close(store.release)
	require.NoError(t, <-sendDone)

	before := stats(t, e1, q, at(time.Second))
	e2 := reopen(t, e1, store)
	require.Equal(t, before, stats(t, e2, q, at(time.Second)), "a restart changed the queue's contents")
}

// TestReloadReceiveRacingReceive: two receives of one message (the first with a zero visibility
// timeout) whose store writes land out of order; after a restart the later receive's receipt
// must still be the current one.
func TestReloadReceiveRacingReceive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newGatedStore(func(b *indexed.Batch) bool { return len(b.States) > 0 })
	e1 := open(t, store)
	q := create(t, e1, "q", base)
	send(t, e1, q, base, base, "m")

	firstDone := make(chan error)
	go func() {
		_, err := e1.MessageReceive(ctx, &engine.MessageReceiveParams{QueueID: q.ID, Now: base, Max: 1, VisibleAt: base})
		firstDone <- err
	}()
	<-store.entered
	second := receive(t, e1, q, base, 1, at(time.Minute))
	require.Len(t, second, 1)
	require.Equal(t, 2, second[0].ReceiveCount)
	close(store.release)
	require.NoError(t, <-firstDone)
	require.Equal(t, engine.QueueStats{InFlight: 1}, stats(t, e1, q, at(time.Second)))

	e2 := reopen(t, e1, store)
	require.Equal(t, engine.QueueStats{InFlight: 1}, stats(t, e2, q, at(time.Second)), "a restart changed the message's state")
	require.NoError(t, deleteReceipt(t, e2, q, at(time.Second), second[0].Receipt))
}
