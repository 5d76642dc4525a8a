package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseVisibility(t *testing.T, open opener) {
	t.Run("Extend", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))

		err := b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: at(10 * time.Second), RequireInFlight: true},
			m.Receipt, at(time.Minute))
		require.NoError(t, err)

		b.receiveNone(t, q, at(30*time.Second))
		b.requireStats(t, q, at(59*time.Second), 0, 1, 0)
		res := b.receiveNone(t, q, at(59*time.Second))
		requireTime(t, at(time.Minute), res.NextVisibleAt, "NextVisibleAt follows the new deadline")
		again := b.receiveOne(t, q, at(time.Minute), at(2*time.Minute))
		require.Equal(t, m.Message.ID, again.Message.ID)
		require.Equal(t, 2, again.ReceiveCount)
	})

	t.Run("Shorten", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(time.Hour))
		require.NoError(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: at(time.Second)}, m.Receipt, at(5*time.Second)))
		b.receiveNone(t, q, at(5*time.Second-time.Millisecond))
		got := b.receiveOne(t, q, at(5*time.Second), at(time.Hour))
		require.Equal(t, m.Message.ID, got.Message.ID)
	})

	t.Run("SetToNow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))
		now := at(5 * time.Second)
		require.NoError(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: now, RequireInFlight: true}, m.Receipt, now))
		b.requireStats(t, q, now, 1, 0, 0)
		again := b.receiveOne(t, q, now, at(time.Minute))
		require.Equal(t, m.Message.ID, again.Message.ID)
		require.Equal(t, 2, again.ReceiveCount)
		requireTime(t, base, again.FirstReceiveAt, "FirstReceiveAt")

		// The receipt of the first receive is now superseded.
		err := b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: now}, m.Receipt, at(time.Hour))
		require.ErrorIs(t, err, engine.ErrReceiptSuperseded)
	})

	t.Run("MaxSinceReceive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		receivedAt := at(time.Second)
		m := b.receiveOne(t, q, receivedAt, receivedAt.Add(30*time.Second))
		p := engine.MessageChangeVisibilityParams{Now: at(10 * time.Second), MaxSinceReceive: 12 * time.Hour}

		err := b.changeOne(t, q, p, m.Receipt, receivedAt.Add(12*time.Hour+time.Millisecond))
		require.ErrorIs(t, err, engine.ErrVisibilityTooLong)
		// The refused change left the deadline alone.
		b.receiveNone(t, q, receivedAt.Add(30*time.Second-time.Millisecond))
		b.requireStats(t, q, receivedAt.Add(30*time.Second), 1, 0, 0)

		// The cap counts from the receive, not from Now: at the limit it is allowed.
		receivedAt = receivedAt.Add(30 * time.Second)
		m = b.receiveOne(t, q, receivedAt, receivedAt.Add(30*time.Second))
		p.Now = receivedAt.Add(10 * time.Second)
		require.NoError(t, b.changeOne(t, q, p, m.Receipt, receivedAt.Add(12*time.Hour)))
		b.receiveNone(t, q, receivedAt.Add(12*time.Hour-time.Millisecond))
		b.receiveOne(t, q, receivedAt.Add(12*time.Hour), receivedAt.Add(13*time.Hour))
	})

	t.Run("MaxSinceReceiveFromLatestReceive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		b.receiveOne(t, q, base, at(time.Hour))
		second := b.receiveOne(t, q, at(time.Hour), at(2*time.Hour))
		// 12h after the second receive is 13h after the first: allowed, the cap follows the
		// receive that issued the receipt.
		p := engine.MessageChangeVisibilityParams{Now: at(time.Hour), MaxSinceReceive: 12 * time.Hour}
		require.NoError(t, b.changeOne(t, q, p, second.Receipt, at(13*time.Hour)))
	})

	t.Run("DeletedMessage", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))
		require.NoError(t, b.deleteOne(t, q, base, m.Receipt, false))
		err := b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: base}, m.Receipt, at(time.Minute))
		require.ErrorIs(t, err, engine.ErrMessageNotFound)
		b.requireStats(t, q, base, 0, 0, 0)
	})

	t.Run("Superseded", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		first := b.receiveOne(t, q, base, at(30*time.Second))
		second := b.receiveOne(t, q, at(30*time.Second), at(90*time.Second))

		for _, requireInFlight := range []bool{false, true} {
			err := b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: at(40 * time.Second), RequireInFlight: requireInFlight},
				first.Receipt, at(40*time.Second))
			require.ErrorIs(t, err, engine.ErrReceiptSuperseded)
		}
		// The current receive's deadline is untouched.
		b.requireStats(t, q, at(40*time.Second), 0, 1, 0)
		b.receiveNone(t, q, at(40*time.Second))
		require.NoError(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: at(40 * time.Second)},
			second.Receipt, at(40*time.Second)))
		b.requireStats(t, q, at(40*time.Second), 1, 0, 0)
	})

	t.Run("ExpiredCurrentReceiptRehides", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))
		now := at(40 * time.Second)
		b.requireStats(t, q, now, 1, 0, 0)

		require.NoError(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: now}, m.Receipt, at(100*time.Second)))
		b.requireStats(t, q, now, 0, 1, 0)
		b.receiveNone(t, q, now)
		b.receiveNone(t, q, at(100*time.Second-time.Millisecond))
		again := b.receiveOne(t, q, at(100*time.Second), at(time.Hour))
		require.Equal(t, m.Message.ID, again.Message.ID)
		require.Equal(t, 2, again.ReceiveCount, "re-hiding is not a receive")
		requireTime(t, base, again.FirstReceiveAt, "FirstReceiveAt")
	})

	t.Run("ExpiredRequireInFlight", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))

		// Exactly at the deadline the message is visible again.
		for _, now := range []time.Time{at(30 * time.Second), at(40 * time.Second)} {
			err := b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: now, RequireInFlight: true}, m.Receipt, at(100*time.Second))
			require.ErrorIs(t, err, engine.ErrMessageNotInFlight)
			b.requireStats(t, q, now, 1, 0, 0)
		}
		again := b.receiveOne(t, q, at(40*time.Second), at(time.Hour))
		require.Equal(t, m.Message.ID, again.Message.ID)
	})

	t.Run("Batch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "a", "b", "c")
		res := b.receive(t, q, base, 3, at(30*time.Second))
		require.Len(t, res.Messages, 3)
		ra, rb, rc := res.Messages[0].Receipt, res.Messages[1].Receipt, res.Messages[2].Receipt
		require.NoError(t, b.deleteOne(t, q, base, rb, false))

		errs, err := b.eng.MessageChangeVisibility(b.ctx, &engine.MessageChangeVisibilityParams{
			QueueID: q.ID, Now: at(time.Second), MaxSinceReceive: time.Hour,
			Entries: []engine.VisibilityChange{
				{Receipt: ra, VisibleAt: at(time.Minute)},
				{Receipt: rb, VisibleAt: at(time.Minute)},
				{Receipt: rc, VisibleAt: at(2 * time.Hour)},
				{Receipt: rc, VisibleAt: at(time.Second)},
			},
		})
		require.NoError(t, err)
		require.Len(t, errs, 4)
		require.NoError(t, errs[0])
		require.ErrorIs(t, errs[1], engine.ErrMessageNotFound)
		require.ErrorIs(t, errs[2], engine.ErrVisibilityTooLong)
		require.NoError(t, errs[3])

		b.requireStats(t, q, at(time.Second), 1, 1, 0)
		got := b.receiveOne(t, q, at(time.Second), at(time.Hour))
		require.Equal(t, rc.Seq, got.Receipt.Seq)
		b.receiveNone(t, q, at(time.Minute-time.Millisecond))
		got = b.receiveOne(t, q, at(time.Minute), at(time.Hour))
		require.Equal(t, ra.Seq, got.Receipt.Seq)
	})

	t.Run("WrongQueueID", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q1 := b.createQueue(t, "q1")
		q2 := b.createQueue(t, "q2")
		b.send(t, q1, base, "m1")
		b.send(t, q2, base, "m2")
		r1 := b.receiveOne(t, q1, base, at(time.Hour))
		b.receiveOne(t, q2, base, at(time.Hour))

		err := b.changeOne(t, q2, engine.MessageChangeVisibilityParams{Now: base}, r1.Receipt, base)
		require.ErrorIs(t, err, engine.ErrMessageNotFound)
		b.requireStats(t, q1, base, 0, 1, 0)
		b.requireStats(t, q2, base, 0, 1, 0)
	})

	t.Run("MissingQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.eng.MessageChangeVisibility(b.ctx, &engine.MessageChangeVisibilityParams{
			QueueID: missingQueueID, Now: base,
			Entries: []engine.VisibilityChange{{Receipt: engine.Receipt{QueueID: missingQueueID, Seq: 1, Token: 1}, VisibleAt: base}},
		})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})
}
