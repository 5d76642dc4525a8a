package enginetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

// createFIFO creates a FIFO queue at base.
func (b *testBundle) createFIFO(t *testing.T, name string) *engine.Queue {
	t.Helper()
	res, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: key(name), FIFO: true, Now: base})
	require.NoError(t, err)
	require.True(t, res.Created)
	require.True(t, res.Queue.FIFO)
	return res.Queue
}

// sendGroup stores messages of one group at now; bodies double as deduplication keys when
// dedup is set.
func (b *testBundle) sendGroup(t *testing.T, q *engine.Queue, now time.Time, group string, dedup bool, bodies ...string) *engine.MessageSendResult {
	t.Helper()
	p := &engine.MessageSendParams{QueueID: q.ID, Now: now, DedupUntil: now.Add(5 * time.Minute)}
	for _, body := range bodies {
		m := newMessage(body, now)
		m.GroupID = group
		ent := engine.MessageSendEntry{Message: m, VisibleAt: now}
		if dedup {
			ent.DedupKey = body
		}
		p.Entries = append(p.Entries, ent)
	}
	res, err := b.eng.MessageSend(b.ctx, p)
	require.NoError(t, err)
	require.Len(t, res.Entries, len(bodies))
	return res
}

func receivedBodies(res *engine.MessageReceiveResult) []string {
	var out []string
	for _, m := range res.Messages {
		out = append(out, m.Message.Body)
	}
	return out
}

func exerciseFIFO(t *testing.T, open opener) {
	t.Run("GroupOrderAndBlocking", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		b.sendGroup(t, q, base, "a", false, "a1", "a2", "a3")
		b.sendGroup(t, q, base, "b", false, "b1")
		b.sendGroup(t, q, base, "a", false, "a4")

		res := b.receive(t, q, base, 2, at(time.Minute))
		require.Equal(t, []string{"a1", "a2"}, receivedBodies(res), "a batch fills from one group, in order")
		res = b.receive(t, q, base, 10, at(time.Minute))
		require.Equal(t, []string{"b1"}, receivedBodies(res), "group a is blocked while a1, a2 are in flight")
		b.receiveNone(t, q, base)
		b.requireStats(t, q, base, 2, 3, 0)

		// Deleting only a1 keeps a blocked; deleting a2 too unblocks it at a3.
		first := b.receive(t, q, at(time.Minute), 10, at(2*time.Minute))
		require.Equal(t, []string{"a1", "a2", "a3", "a4", "b1"}, receivedBodies(first), "all visible again after the timeout")
		require.NoError(t, b.deleteOne(t, q, at(time.Minute), first.Messages[0].Receipt, true))
		require.NoError(t, b.deleteOne(t, q, at(time.Minute), first.Messages[1].Receipt, true))
		// a3, a4 and b1 are still in flight.
		b.receiveNone(t, q, at(time.Minute))
		// Expiry of a3's receipt makes a3 the next of a, before a4.
		res = b.receive(t, q, at(2*time.Minute), 1, at(3*time.Minute))
		require.Equal(t, []string{"a3"}, receivedBodies(res))
		require.Equal(t, 2, res.Messages[0].ReceiveCount)
	})

	t.Run("ExpiredReceiptRequiresInFlight", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		b.sendGroup(t, q, base, "a", false, "a1")
		r := b.receiveOne(t, q, base, at(time.Second))
		err := b.deleteOne(t, q, at(2*time.Second), r.Receipt, true)
		require.ErrorIs(t, err, engine.ErrMessageNotInFlight)
		errs, err := b.eng.MessageChangeVisibility(b.ctx, &engine.MessageChangeVisibilityParams{
			QueueID: q.ID, Now: at(2 * time.Second), RequireInFlight: true,
			Entries: []engine.VisibilityChange{{Receipt: r.Receipt, VisibleAt: at(time.Hour)}}})
		require.NoError(t, err)
		require.ErrorIs(t, errs[0], engine.ErrMessageNotInFlight)
		b.requireStats(t, q, at(2*time.Second), 1, 0, 0)
	})

	t.Run("ReceiveAttempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		b.sendGroup(t, q, base, "a", false, "a1", "a2", "a3")
		recv := func(now time.Time, id string) *engine.MessageReceiveResult {
			res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: q.ID, Now: now, Max: 2,
				VisibleAt: now.Add(30 * time.Second), AttemptID: id, AttemptUntil: now.Add(5 * time.Minute)})
			require.NoError(t, err)
			return res
		}
		first := recv(base, "x")
		require.Equal(t, []string{"a1", "a2"}, receivedBodies(first))
		retry := recv(at(20*time.Second), "x")
		require.Equal(t, receipts(first.Messages), receipts(retry.Messages), "the retry returns the same receipts")
		// The retry moved the deadline: still in flight 45 s after the first receive.
		require.Empty(t, recv(at(45*time.Second), "y").Messages)
		// A different attempt after the deadline receives anew.
		again := recv(at(51*time.Second), "z")
		require.Equal(t, []string{"a1", "a2"}, receivedBodies(again))
		require.NotEqual(t, receipts(first.Messages), receipts(again.Messages))
		// The old attempt no longer replays: its receipts are stale.
		stale := recv(at(52*time.Second), "x")
		require.Empty(t, stale.Messages, "group a is in flight under attempt z")
	})

	t.Run("ConcurrentConsumersKeepGroupOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		const groups, per = 8, 50
		for i := range per {
			for g := range groups {
				b.sendGroup(t, q, base, fmt.Sprint("g", g), false, fmt.Sprintf("g%d-%03d", g, i))
			}
		}
		var mu sync.Mutex
		seen := map[string][]string{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range groups * per {
					res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: q.ID, Now: base, Max: 3, VisibleAt: at(time.Hour)})
					if err != nil || len(res.Messages) == 0 {
						if err != nil {
							t.Error(err)
						}
						return
					}
					mu.Lock()
					for _, m := range res.Messages {
						seen[m.Message.GroupID] = append(seen[m.Message.GroupID], m.Message.Body)
					}
					mu.Unlock()
					errs, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: base, Receipts: receipts(res.Messages), RequireInFlight: true})
					if err != nil {
						t.Error(err)
						return
					}
					for _, e := range errs {
						if e != nil {
							t.Error(e)
						}
					}
				}
			}()
		}
		wg.Wait()
		require.Len(t, seen, groups)
		for g := range groups {
			got := seen[fmt.Sprint("g", g)]
			require.Len(t, got, per)
			for i, body := range got {
				require.Equal(t, fmt.Sprintf("g%d-%03d", g, i), body)
			}
		}
	})
}

func exerciseDedup(t *testing.T, open opener) {
	t.Run("Window", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		first := b.sendGroup(t, q, base, "a", true, "k1")
		dup := b.sendGroup(t, q, at(time.Minute), "a", true, "k1", "k2", "k2")
		require.True(t, dup.Entries[0].Duplicate)
		require.Equal(t, first.Entries[0].MessageID, dup.Entries[0].MessageID)
		require.Equal(t, first.Entries[0].Seq, dup.Entries[0].Seq)
		require.False(t, dup.Entries[1].Duplicate)
		require.True(t, dup.Entries[2].Duplicate, "a repeat within one call is a duplicate")
		require.Equal(t, dup.Entries[1].MessageID, dup.Entries[2].MessageID)
		require.Greater(t, dup.Entries[1].Seq, first.Entries[0].Seq)
		b.requireStats(t, q, at(time.Minute), 2, 0, 0)

		// Remembered after the message is deleted.
		r := b.receive(t, q, at(time.Minute), 10, at(2*time.Minute))
		for _, m := range r.Messages {
			require.NoError(t, b.deleteOne(t, q, at(time.Minute), m.Receipt, true))
		}
		require.True(t, b.sendGroup(t, q, at(4*time.Minute), "a", true, "k1").Entries[0].Duplicate)
		// Forgotten after the window.
		later := b.sendGroup(t, q, at(5*time.Minute), "a", true, "k1")
		require.False(t, later.Entries[0].Duplicate)
		require.NotEqual(t, first.Entries[0].MessageID, later.Entries[0].MessageID)
	})

	t.Run("PurgeForgets", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		b.sendGroup(t, q, base, "a", true, "k1")
		require.NoError(t, b.eng.QueuePurge(b.ctx, &engine.QueuePurgeParams{Key: q.Key, Now: base}))
		require.False(t, b.sendGroup(t, q, base, "a", true, "k1").Entries[0].Duplicate)
		b.requireStats(t, q, base, 1, 0, 0)
	})

	t.Run("ConcurrentDuplicates", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		var wg sync.WaitGroup
		ids := make(chan string, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := newMessage("once", base)
				m.GroupID = "a"
				res, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{QueueID: q.ID, Now: base, DedupUntil: at(5 * time.Minute),
					Entries: []engine.MessageSendEntry{{Message: m, VisibleAt: base, DedupKey: "once"}}})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- res.Entries[0].MessageID
			}()
		}
		wg.Wait()
		close(ids)
		distinct := map[string]bool{}
		for id := range ids {
			distinct[id] = true
		}
		require.Len(t, distinct, 1)
		b.requireStats(t, q, base, 1, 0, 0)
	})
}

func exerciseDeadLetter(t *testing.T, open opener) {
	t.Run("MovedAtReceive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		src := b.createQueue(t, "src")
		dlq := b.createQueue(t, "dlq")
		sent := b.send(t, src, base, "poison")[0]
		dl := &engine.DeadLetter{QueueID: dlq.ID, MaxReceiveCount: 2, SourceArn: "arn:aws:sqs:us-east-1:000000000000:src"}
		recv := func(now time.Time) *engine.MessageReceiveResult {
			res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: src.ID, Now: now, Max: 10,
				VisibleAt: now.Add(time.Second), DeadLetter: dl})
			require.NoError(t, err)
			return res
		}
		require.Len(t, recv(base).Messages, 1)
		require.Len(t, recv(at(time.Second)).Messages, 1)
		third := recv(at(2 * time.Second))
		require.Empty(t, third.Messages, "the third delivery goes to the dead-letter queue instead")
		require.Equal(t, 1, third.DeadLettered)
		b.requireStats(t, src, at(2*time.Second), 0, 0, 0)
		b.requireStats(t, dlq, at(2*time.Second), 1, 0, 0)
		moved := b.receiveOne(t, dlq, at(2*time.Second), at(time.Minute))
		require.Equal(t, sent.ID, moved.Message.ID)
		require.Equal(t, "poison", moved.Message.Body)
		require.Equal(t, dl.SourceArn, moved.Message.DeadLetterSourceArn)
		require.Equal(t, 3, moved.ReceiveCount, "the receive count continues")
		requireTime(t, base, moved.Message.SentAt, "a standard queue keeps the original send time")

		// A move task step brings it back to its source.
		res, err := b.eng.MessageMove(b.ctx, &engine.MessageMoveParams{QueueID: dlq.ID, Now: at(2 * time.Minute), Max: 10,
			Sources: map[string]uint64{dl.SourceArn: src.ID}})
		require.NoError(t, err)
		require.Equal(t, 1, res.Moved)
		require.Empty(t, res.Unroutable)
		back := b.receiveOne(t, src, at(2*time.Minute), at(3*time.Minute))
		require.Equal(t, sent.ID, back.Message.ID)
		require.Equal(t, 1, back.ReceiveCount, "a moved message starts over")
		require.Empty(t, back.Message.DeadLetterSourceArn)
		b.requireStats(t, dlq, at(2*time.Minute), 0, 0, 0)
	})

	t.Run("MoveUnroutable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		dlq := b.createQueue(t, "dlq")
		m := newMessage("orphan", base)
		m.DeadLetterSourceArn = "arn:aws:sqs:us-east-1:000000000000:gone"
		_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{QueueID: dlq.ID, Now: base, Entries: []engine.MessageSendEntry{{Message: m, VisibleAt: base}}})
		require.NoError(t, err)
		res, err := b.eng.MessageMove(b.ctx, &engine.MessageMoveParams{QueueID: dlq.ID, Now: base, Max: 10, Sources: map[string]uint64{}})
		require.NoError(t, err)
		require.Zero(t, res.Moved)
		require.Equal(t, m.DeadLetterSourceArn, res.Unroutable)
		b.requireStats(t, dlq, base, 1, 0, 0)
	})

	t.Run("FIFOResetsSentAt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		src := b.createFIFO(t, "src.fifo")
		dlq := b.createFIFO(t, "dlq.fifo")
		b.sendGroup(t, src, base, "g", false, "p1", "p2")
		dl := &engine.DeadLetter{QueueID: dlq.ID, MaxReceiveCount: 1, SourceArn: "arn:src", ResetSentAt: true}
		res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: src.ID, Now: base, Max: 1, VisibleAt: at(time.Second), DeadLetter: dl})
		require.NoError(t, err)
		require.Equal(t, []string{"p1"}, receivedBodies(res))
		res, err = b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: src.ID, Now: at(time.Hour), Max: 1, VisibleAt: at(2 * time.Hour), DeadLetter: dl})
		require.NoError(t, err)
		require.Equal(t, []string{"p2"}, receivedBodies(res), "p1 went to the dead-letter queue, unblocking p2")
		require.Equal(t, 1, res.DeadLettered)
		moved := b.receiveOne(t, dlq, at(time.Hour), at(2*time.Hour))
		requireTime(t, at(time.Hour), moved.Message.SentAt, "a FIFO dead-letter queue restarts retention")
		require.Equal(t, "g", moved.Message.GroupID)
	})
}
