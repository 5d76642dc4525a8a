package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseRetention(t *testing.T, open opener) {
	t.Run("Receive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "old-in-flight")
		oldVisible := b.send(t, q, base, "old-visible")[0]
		b.sendDelayed(t, q, base, at(time.Hour), "old-delayed")
		atCutoff := b.send(t, q, at(10*time.Second), "at-cutoff")[0]
		newer := b.send(t, q, at(20*time.Second), "newer")[0]

		inFlight := b.receiveOne(t, q, at(21*time.Second), at(2*time.Hour))
		require.Equal(t, "old-in-flight", inFlight.Message.Body)

		now := at(30 * time.Second)
		res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
			QueueID: q.ID, Now: now, Max: 10, VisibleAt: at(2 * time.Hour), RetentionCutoff: at(10 * time.Second),
		})
		require.NoError(t, err)
		require.Equal(t, []string{atCutoff.ID, newer.ID}, ids(res.Messages),
			"messages sent before the cutoff are deleted, the one sent at it is kept")
		require.NotContains(t, ids(res.Messages), oldVisible.ID)

		b.requireStats(t, q, now, 0, 2, 0)
		// Gone for good: not back after their deadlines, and their receipts are dead.
		b.requireStats(t, q, at(3*time.Hour), 2, 0, 0)
		require.ErrorIs(t, b.deleteOne(t, q, at(3*time.Hour), inFlight.Receipt, false), engine.ErrMessageNotFound)
	})

	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "in-flight")
		inFlight := b.receiveOne(t, q, base, at(time.Hour))
		b.send(t, q, base, "visible")
		b.sendDelayed(t, q, base, at(time.Hour), "delayed")
		b.send(t, q, at(10*time.Second), "new-visible")
		b.sendDelayed(t, q, at(10*time.Second), at(time.Hour), "new-delayed")
		b.requireStats(t, q, at(20*time.Second), 2, 1, 2)

		s, err := b.eng.QueueStats(b.ctx, &engine.QueueStatsParams{
			Key: q.Key, Now: at(20 * time.Second), RetentionCutoff: at(5 * time.Second),
		})
		require.NoError(t, err)
		require.Equal(t, engine.QueueStats{Visible: 1, InFlight: 0, Delayed: 1}, *s)

		// "Expired first": the messages are gone, not only uncounted.
		b.requireStats(t, q, at(20*time.Second), 1, 0, 1)
		require.ErrorIs(t, b.deleteOne(t, q, at(20*time.Second), inFlight.Receipt, false), engine.ErrMessageNotFound)
		res := b.receive(t, q, at(2*time.Hour), 10, at(3*time.Hour))
		require.Len(t, res.Messages, 2)
		for _, m := range res.Messages {
			require.Contains(t, []string{"new-visible", "new-delayed"}, m.Message.Body)
		}
	})

	t.Run("ZeroCutoffKeepsAll", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		sent := b.send(t, q, base, "ancient")[0]
		later := at(1000 * 24 * time.Hour)
		res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
			QueueID: q.ID, Now: later, Max: 10, VisibleAt: later.Add(time.Minute),
		})
		require.NoError(t, err)
		require.Equal(t, []string{sent.ID}, ids(res.Messages))
	})

	t.Run("OutOfOrderSends", func(t *testing.T) {
		// Retention follows each message's SentAt, whatever order the sends reached the engine
		// in (concurrent senders read the clock, then race to the engine).
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		newer := b.send(t, q, at(10*time.Second), "newer")[0]
		b.send(t, q, base, "older, arrived later")

		s, err := b.eng.QueueStats(b.ctx, &engine.QueueStatsParams{
			Key: q.Key, Now: at(20 * time.Second), RetentionCutoff: at(5 * time.Second),
		})
		require.NoError(t, err)
		require.Equal(t, engine.QueueStats{Visible: 1}, *s)

		res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
			QueueID: q.ID, Now: at(20 * time.Second), Max: 10, VisibleAt: at(time.Hour), RetentionCutoff: at(5 * time.Second),
		})
		require.NoError(t, err)
		require.Equal(t, []string{newer.ID}, ids(res.Messages))
	})
}
