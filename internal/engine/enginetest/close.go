package enginetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseClose(t *testing.T, open opener) {
	t.Run("CallsAfterClose", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		r := b.receiveOne(t, q, base, at(time.Minute)).Receipt
		require.NoError(t, b.eng.Close())

		ctx, now := b.ctx, at(time.Second)
		_, err := b.eng.QueueCreate(ctx, &engine.QueueCreateParams{Key: key("new"), Now: now})
		require.ErrorIs(t, err, engine.ErrClosed, "QueueCreate")
		_, err = b.eng.QueueGet(ctx, &engine.QueueGetParams{Key: q.Key})
		require.ErrorIs(t, err, engine.ErrClosed, "QueueGet")
		_, err = b.eng.QueueList(ctx, &engine.QueueListParams{Account: testAccount})
		require.ErrorIs(t, err, engine.ErrClosed, "QueueList")
		_, err = b.eng.QueueUpdate(ctx, &engine.QueueUpdateParams{Key: q.Key, Now: now, SetTags: map[string]string{"a": "b"}})
		require.ErrorIs(t, err, engine.ErrClosed, "QueueUpdate")
		_, err = b.eng.QueueStats(ctx, &engine.QueueStatsParams{Key: q.Key, Now: now})
		require.ErrorIs(t, err, engine.ErrClosed, "QueueStats")
		require.ErrorIs(t, b.eng.QueuePurge(ctx, &engine.QueuePurgeParams{Key: q.Key, Now: now}), engine.ErrClosed, "QueuePurge")
		require.ErrorIs(t, b.eng.QueueDelete(ctx, &engine.QueueDeleteParams{Key: q.Key, Now: now}), engine.ErrClosed, "QueueDelete")
		_, err = b.eng.MessageSend(ctx, &engine.MessageSendParams{
			QueueID: q.ID, Now: now, Entries: []engine.MessageSendEntry{{Message: newMessage("x", now), VisibleAt: now}},
		})
		require.ErrorIs(t, err, engine.ErrClosed, "MessageSend")
		_, err = b.eng.MessageReceive(ctx, &engine.MessageReceiveParams{QueueID: q.ID, Now: now, Max: 1, VisibleAt: now})
		require.ErrorIs(t, err, engine.ErrClosed, "MessageReceive")
		_, err = b.eng.MessageDelete(ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: now, Receipts: []engine.Receipt{r}})
		require.ErrorIs(t, err, engine.ErrClosed, "MessageDelete")
		_, err = b.eng.MessageChangeVisibility(ctx, &engine.MessageChangeVisibilityParams{
			QueueID: q.ID, Now: now, Entries: []engine.VisibilityChange{{Receipt: r, VisibleAt: now}},
		})
		require.ErrorIs(t, err, engine.ErrClosed, "MessageChangeVisibility")
	})
}
