package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func (b *testBundle) peek(t *testing.T, q *engine.Queue, now time.Time, max int) []engine.PeekedMessage {
	t.Helper()
	ms, err := b.eng.MessagePeek(b.ctx, &engine.MessagePeekParams{QueueID: q.ID, Now: now, Max: max})
	require.NoError(t, err)
	return ms
}

func peekedBodies(ms []engine.PeekedMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Message.Body)
	}
	return out
}

func exercisePeek(t *testing.T, open opener) {
	t.Run("ChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		sent := b.send(t, q, base, "a", "b", "c")
		b.sendDelayed(t, q, base, at(time.Minute), "delayed")

		got := b.peek(t, q, base, 10)
		require.Equal(t, []string{"a", "b", "c"}, peekedBodies(got))
		require.Equal(t, sent[0].ID, got[0].Message.ID)
		require.Zero(t, got[0].ReceiveCount)
		// Peeking twice gives the same, and the messages stay visible and unreceived.
		require.Equal(t, peekedBodies(got), peekedBodies(b.peek(t, q, base, 10)))
		b.requireStats(t, q, base, 3, 0, 1)
		res := b.receive(t, q, base, 10, at(30*time.Second))
		require.Equal(t, []string{"a", "b", "c"}, receivedBodies(res))
		require.Equal(t, 1, res.Messages[0].ReceiveCount)
	})

	t.Run("OrderLimitAndInFlight", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		for _, body := range []string{"m1", "m2", "m3", "m4", "m5"} {
			b.send(t, q, base, body)
		}
		require.Equal(t, []string{"m1", "m2"}, peekedBodies(b.peek(t, q, base, 2)))
		m := b.receiveOne(t, q, base, at(30*time.Second))
		require.Equal(t, "m1", m.Message.Body)
		require.Equal(t, []string{"m2", "m3", "m4", "m5"}, peekedBodies(b.peek(t, q, at(time.Second), 10)))
		// After its visibility timeout the received message is back, first, with its count.
		got := b.peek(t, q, at(time.Minute), 10)
		require.Equal(t, []string{"m1", "m2", "m3", "m4", "m5"}, peekedBodies(got))
		require.Equal(t, 1, got[0].ReceiveCount)
		// Max 0 asks for nothing.
		require.Empty(t, b.peek(t, q, base, 0))
	})

	t.Run("FIFOGroups", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createFIFO(t, "q.fifo")
		b.sendGroup(t, q, base, "g1", false, "g1-a", "g1-b")
		b.sendGroup(t, q, base, "g2", false, "g2-a")
		b.sendGroup(t, q, base, "g1", false, "g1-c")
		require.Equal(t, []string{"g1-a", "g1-b", "g1-c", "g2-a"}, peekedBodies(b.peek(t, q, base, 10)))
		m := b.receiveOne(t, q, base, at(30*time.Second))
		require.Equal(t, "g1-a", m.Message.Body)
		// g1 is held back while one of its messages is in flight.
		require.Equal(t, []string{"g2-a"}, peekedBodies(b.peek(t, q, base, 10)))
		require.Equal(t, "g1", b.peek(t, q, at(time.Minute), 1)[0].Message.GroupID)
	})

	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "old")
		b.send(t, q, at(time.Hour), "new")
		ms, err := b.eng.MessagePeek(b.ctx, &engine.MessagePeekParams{QueueID: q.ID, Now: at(time.Hour), Max: 10,
			RetentionCutoff: at(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, []string{"new"}, peekedBodies(ms))
	})

	t.Run("MissingQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		require.NoError(t, b.eng.QueueDelete(b.ctx, &engine.QueueDeleteParams{Key: q.Key, Now: base}))
		_, err := b.eng.MessagePeek(b.ctx, &engine.MessagePeekParams{QueueID: q.ID, Now: base, Max: 1})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})
}
