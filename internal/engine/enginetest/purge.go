package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exercisePurge(t *testing.T, open opener) {
	purge := func(b *testBundle, q *engine.Queue, now time.Time) error {
		return b.eng.QueuePurge(b.ctx, &engine.QueuePurgeParams{Key: q.Key, Now: now, MinInterval: time.Minute})
	}

	t.Run("RemovesEverything", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "in-flight")
		inFlight := b.receiveOne(t, q, base, at(time.Hour))
		b.send(t, q, base, "visible")
		b.sendDelayed(t, q, base, at(time.Hour), "delayed")
		b.requireStats(t, q, base, 1, 1, 1)

		require.NoError(t, purge(b, q, at(time.Second)))
		b.requireStats(t, q, at(time.Second), 0, 0, 0)
		b.requireStats(t, q, at(2*time.Hour), 0, 0, 0)
		b.receiveNone(t, q, at(2*time.Hour))
		require.ErrorIs(t, b.deleteOne(t, q, at(2*time.Hour), inFlight.Receipt, false), engine.ErrMessageNotFound)
		require.ErrorIs(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: at(2 * time.Hour)}, inFlight.Receipt, at(3*time.Hour)),
			engine.ErrMessageNotFound)

		// The queue itself is untouched.
		got, err := b.eng.QueueGet(b.ctx, &engine.QueueGetParams{Key: q.Key})
		require.NoError(t, err)
		require.Equal(t, q.ID, got.ID)
	})

	t.Run("MinInterval", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		require.NoError(t, purge(b, q, base), "the first purge is never refused")
		b.send(t, q, at(time.Second), "survives a refused purge")

		require.ErrorIs(t, purge(b, q, at(time.Second)), engine.ErrPurgeInProgress)
		require.ErrorIs(t, purge(b, q, at(time.Minute-time.Millisecond)), engine.ErrPurgeInProgress)
		b.requireStats(t, q, at(time.Minute-time.Millisecond), 1, 0, 0)

		require.NoError(t, purge(b, q, at(time.Minute)))
		b.requireStats(t, q, at(time.Minute), 0, 0, 0)
		// The interval counts from the last successful purge.
		require.ErrorIs(t, purge(b, q, at(time.Minute+time.Second)), engine.ErrPurgeInProgress)
		require.NoError(t, purge(b, q, at(2*time.Minute)))

		// Zero MinInterval never refuses.
		for range 2 {
			require.NoError(t, b.eng.QueuePurge(b.ctx, &engine.QueuePurgeParams{Key: q.Key, Now: at(2 * time.Minute)}))
		}
	})

	t.Run("SentAfterSurvives", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "before")
		require.NoError(t, purge(b, q, base))
		after := b.send(t, q, at(time.Second), "after")[0]
		delayedAfter := b.sendDelayed(t, q, at(time.Second), at(time.Minute), "delayed after")
		b.requireStats(t, q, at(time.Second), 1, 0, 1)
		res := b.receive(t, q, at(time.Minute), 10, at(time.Hour))
		require.ElementsMatch(t, []string{after.ID, delayedAfter.ID}, ids(res.Messages))
	})

	t.Run("PerQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q1 := b.createQueue(t, "q1")
		q2 := b.createQueue(t, "q2")
		b.send(t, q1, base, "one")
		b.send(t, q2, base, "two")
		require.NoError(t, purge(b, q1, base))
		b.requireStats(t, q1, base, 0, 0, 0)
		b.requireStats(t, q2, base, 1, 0, 0)
		require.NoError(t, purge(b, q2, base), "another queue's purge does not block this one")
		b.requireStats(t, q2, base, 0, 0, 0)
	})

	t.Run("MissingQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		err := b.eng.QueuePurge(b.ctx, &engine.QueuePurgeParams{Key: key("nope"), Now: base, MinInterval: time.Minute})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})
}
