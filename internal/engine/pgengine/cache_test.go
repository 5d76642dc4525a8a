package pgengine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
)

// TestQueueCacheAcrossNodes: a node answers QueueGet from memory for QueueCacheTTL, so a change
// made through another node is seen once the TTL has passed; its own changes are seen at once;
// and a message operation on a queue another node deleted fails and clears the entry.
func TestQueueCacheAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := pgtest.Schema(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	a := pgtest.Open(t, schema, pgengine.Options{Clock: clk, QueueCacheTTL: time.Second})
	b := pgtest.Open(t, schema, pgengine.Options{})
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	now := clk.Now()
	k := engine.QueueKey{Account: "000000000000", Name: "q"}
	_, err := a.QueueCreate(ctx, &engine.QueueCreateParams{Key: k, Now: now, Attributes: map[string]string{"DelaySeconds": "1"}})
	require.NoError(t, err)

	get := func() *engine.Queue {
		t.Helper()
		q, err := a.QueueGet(ctx, &engine.QueueGetParams{Key: k})
		require.NoError(t, err)
		return q
	}
	q := get()
	q.Attributes["DelaySeconds"] = "9" // a copy: the cache is not changed through it
	require.Equal(t, "1", get().Attributes["DelaySeconds"])

	_, err = b.QueueUpdate(ctx, &engine.QueueUpdateParams{Key: k, Now: now, SetAttributes: map[string]string{"DelaySeconds": "2"}})
	require.NoError(t, err)
	require.Equal(t, "1", get().Attributes["DelaySeconds"], "another node's change: not seen within the TTL")
	clk.Advance(time.Second)
	require.Equal(t, "2", get().Attributes["DelaySeconds"], "seen once the TTL has passed")

	_, err = a.QueueUpdate(ctx, &engine.QueueUpdateParams{Key: k, Now: now, SetAttributes: map[string]string{"DelaySeconds": "3"}})
	require.NoError(t, err)
	require.Equal(t, "3", get().Attributes["DelaySeconds"], "this node's own change: seen at once")

	id := get().ID
	require.NoError(t, b.QueueDelete(ctx, &engine.QueueDeleteParams{Key: k, Now: now}))
	require.Equal(t, id, get().ID, "another node's delete: not seen within the TTL")
	_, err = a.MessageSend(ctx, &engine.MessageSendParams{QueueID: id, Now: now, DedupUntil: now,
		Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "m", Body: "x", SentAt: now}}}})
	require.ErrorIs(t, err, engine.ErrQueueNotFound, "the store decides, not the cache")
	_, err = a.QueueGet(ctx, &engine.QueueGetParams{Key: k})
	require.ErrorIs(t, err, engine.ErrQueueNotFound, "and the entry is gone")
}
