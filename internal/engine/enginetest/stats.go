package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseStats(t *testing.T, open opener) {
	t.Run("LifeCycle", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.requireStats(t, q, base, 0, 0, 0)

		b.send(t, q, base, "a", "b", "c")
		b.sendDelayed(t, q, base, at(time.Minute), "delayed")
		b.requireStats(t, q, base, 3, 0, 1)

		res := b.receive(t, q, at(time.Second), 2, at(31*time.Second))
		require.Len(t, res.Messages, 2)
		b.requireStats(t, q, at(time.Second), 1, 2, 1)

		require.NoError(t, b.deleteOne(t, q, at(2*time.Second), res.Messages[0].Receipt, false))
		b.requireStats(t, q, at(2*time.Second), 1, 1, 1)
		b.requireStats(t, q, at(31*time.Second), 2, 0, 1)

		b.requireStats(t, q, at(time.Minute), 3, 0, 0)
		all := b.receive(t, q, at(time.Minute), 10, at(2*time.Minute))
		require.Len(t, all.Messages, 3)
		b.requireStats(t, q, at(time.Minute), 0, 3, 0)

		for _, m := range all.Messages {
			require.NoError(t, b.deleteOne(t, q, at(time.Minute), m.Receipt, true))
		}
		b.requireStats(t, q, at(time.Hour), 0, 0, 0)
	})

	t.Run("VisibilityChangeMovesCounts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "a")
		m := b.receiveOne(t, q, base, at(time.Hour))
		b.requireStats(t, q, base, 0, 1, 0)
		require.NoError(t, b.changeOne(t, q, engine.MessageChangeVisibilityParams{Now: base}, m.Receipt, base))
		b.requireStats(t, q, base, 1, 0, 0)
	})

	t.Run("MissingQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.eng.QueueStats(b.ctx, &engine.QueueStatsParams{Key: key("nope"), Now: base})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})
}
