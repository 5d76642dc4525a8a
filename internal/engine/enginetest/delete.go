package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseDelete(t *testing.T, open opener) {
	t.Run("CurrentReceipt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "a", "b")
		m := b.receiveOne(t, q, base, at(30*time.Second))

		require.NoError(t, b.deleteOne(t, q, at(time.Second), m.Receipt, true))
		b.requireStats(t, q, at(time.Second), 1, 0, 0)
		// It never comes back, not even after its visibility deadline.
		res := b.receive(t, q, at(time.Minute), 10, at(time.Hour))
		require.Len(t, res.Messages, 1)
		require.NotEqual(t, m.Message.ID, res.Messages[0].Message.ID)

		for _, requireInFlight := range []bool{false, true} {
			err := b.deleteOne(t, q, at(time.Minute), m.Receipt, requireInFlight)
			require.ErrorIs(t, err, engine.ErrMessageNotFound, "second delete")
		}
		b.requireStats(t, q, at(time.Minute), 0, 1, 0)
	})

	t.Run("Superseded", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		first := b.receiveOne(t, q, base, at(30*time.Second))
		second := b.receiveOne(t, q, at(30*time.Second), at(time.Minute))

		for _, requireInFlight := range []bool{false, true} {
			err := b.deleteOne(t, q, at(40*time.Second), first.Receipt, requireInFlight)
			require.ErrorIs(t, err, engine.ErrReceiptSuperseded)
		}
		b.requireStats(t, q, at(40*time.Second), 0, 1, 0)
		b.requireStats(t, q, at(time.Minute), 1, 0, 0)

		// The message is still there, and the current receipt deletes it.
		third := b.receiveOne(t, q, at(time.Minute), at(2*time.Minute))
		require.Equal(t, first.Message.ID, third.Message.ID)
		err := b.deleteOne(t, q, at(time.Minute), second.Receipt, false)
		require.ErrorIs(t, err, engine.ErrReceiptSuperseded)
		require.NoError(t, b.deleteOne(t, q, at(time.Minute), third.Receipt, true))
		b.requireStats(t, q, at(time.Hour), 0, 0, 0)
	})

	t.Run("ExpiredNotReReceived", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))
		b.requireStats(t, q, at(40*time.Second), 1, 0, 0)

		require.NoError(t, b.deleteOne(t, q, at(40*time.Second), m.Receipt, false))
		b.requireStats(t, q, at(40*time.Second), 0, 0, 0)
		b.receiveNone(t, q, at(40*time.Second))
	})

	t.Run("ExpiredRequireInFlight", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		m := b.receiveOne(t, q, base, at(30*time.Second))

		for _, now := range []time.Time{at(30 * time.Second), at(40 * time.Second)} {
			err := b.deleteOne(t, q, now, m.Receipt, true)
			require.ErrorIs(t, err, engine.ErrMessageNotInFlight)
			b.requireStats(t, q, now, 1, 0, 0)
		}
		again := b.receiveOne(t, q, at(40*time.Second), at(time.Minute))
		require.Equal(t, m.Message.ID, again.Message.ID)
		require.Equal(t, 2, again.ReceiveCount)
	})

	t.Run("Batch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		other := b.createQueue(t, "other")
		b.send(t, q, base, "a", "b", "c", "d")
		b.send(t, other, base, "o")
		res := b.receive(t, q, base, 4, at(30*time.Second))
		require.Len(t, res.Messages, 4)
		ra, rb, rc, rd := res.Messages[0].Receipt, res.Messages[1].Receipt, res.Messages[2].Receipt, res.Messages[3].Receipt
		ro := b.receiveOne(t, other, base, at(time.Hour)).Receipt
		// b is received again: its first receipt is superseded.
		require.NoError(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: base}, rb, base))
		rb2 := b.receiveOne(t, q, base, at(30*time.Second)).Receipt
		require.Equal(t, rb.Seq, rb2.Seq)

		errs, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{
			QueueID: q.ID, Now: at(time.Second),
			Receipts: []engine.Receipt{ra, rb, ra, rc, ro},
		})
		require.NoError(t, err)
		require.Len(t, errs, 5)
		require.NoError(t, errs[0])
		require.ErrorIs(t, errs[1], engine.ErrReceiptSuperseded)
		require.ErrorIs(t, errs[2], engine.ErrMessageNotFound, "a receipt repeated in one batch deletes once")
		require.NoError(t, errs[3])
		require.ErrorIs(t, errs[4], engine.ErrMessageNotFound, "receipt of another queue")

		b.requireStats(t, q, at(time.Second), 0, 2, 0)
		b.requireStats(t, other, at(time.Second), 0, 1, 0)
		errs, err = b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{
			QueueID: q.ID, Now: at(time.Second), Receipts: []engine.Receipt{rb2, rd},
		})
		require.NoError(t, err)
		require.Equal(t, []error{nil, nil}, errs)
		b.requireStats(t, q, at(time.Hour), 0, 0, 0)
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		errs, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: base})
		require.NoError(t, err)
		require.Empty(t, errs)
	})

	t.Run("WrongQueueID", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q1 := b.createQueue(t, "q1")
		q2 := b.createQueue(t, "q2")
		b.send(t, q1, base, "m1")
		b.send(t, q2, base, "m2")
		r1 := b.receiveOne(t, q1, base, at(time.Hour)).Receipt
		r2 := b.receiveOne(t, q2, base, at(time.Hour)).Receipt

		// q1's receipt given to q2.
		require.ErrorIs(t, b.deleteOne(t, q2, base, r1, false), engine.ErrMessageNotFound)
		// q2's receipt relabelled as q1's (and the reverse) names no message of that queue.
		forged := r2
		forged.QueueID = q1.ID
		require.Error(t, b.deleteOne(t, q2, base, forged, false))
		require.Error(t, b.deleteOne(t, q1, base, forged, false))

		b.requireStats(t, q1, base, 0, 1, 0)
		b.requireStats(t, q2, base, 0, 1, 0)
		require.NoError(t, b.deleteOne(t, q1, base, r1, true))
		require.NoError(t, b.deleteOne(t, q2, base, r2, true))
	})

	t.Run("UnissuedReceipt", func(t *testing.T) {
		// A receipt the engine never issued must not delete or hide anything, whatever the
		// engine's numbering: here, receipts with the zero token and with the token of another
		// message, aimed at the neighbours of a known sequence number.
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "a", "b", "c")
		ra := b.receiveOne(t, q, base, at(time.Hour)).Receipt

		var forged []engine.Receipt
		for _, seq := range []uint64{ra.Seq - 2, ra.Seq - 1, ra.Seq + 1, ra.Seq + 2, ra.Seq + 3} {
			if seq == 0 || seq >= 1<<62 { // stay in range of a signed 64-bit column
				continue
			}
			for _, token := range []uint64{0, ra.Token} {
				forged = append(forged, engine.Receipt{QueueID: q.ID, Seq: seq, Token: token})
			}
		}
		forged = append(forged, engine.Receipt{QueueID: q.ID, Seq: ra.Seq, Token: 0})

		changes := make([]engine.VisibilityChange, len(forged))
		for i, r := range forged {
			changes[i] = engine.VisibilityChange{Receipt: r, VisibleAt: at(time.Hour)}
		}
		cerrs, err := b.eng.MessageChangeVisibility(b.ctx, &engine.MessageChangeVisibilityParams{
			QueueID: q.ID, Now: base, Entries: changes,
		})
		require.NoError(t, err)
		require.Len(t, cerrs, len(forged))
		for i, e := range cerrs {
			require.Error(t, e, "MessageChangeVisibility accepted unissued receipt %+v", forged[i])
		}
		b.requireStats(t, q, base, 2, 1, 0)

		derrs, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: base, Receipts: forged})
		require.NoError(t, err)
		require.Len(t, derrs, len(forged))
		for i, e := range derrs {
			require.Error(t, e, "MessageDelete accepted unissued receipt %+v", forged[i])
		}
		b.requireStats(t, q, base, 2, 1, 0)
	})

	t.Run("MissingQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{
			QueueID: missingQueueID, Now: base, Receipts: []engine.Receipt{{QueueID: missingQueueID, Seq: 1, Token: 1}},
		})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})
}
