package pgengine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func TestQueueGate(t *testing.T) {
	var g queueGate
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := &engine.MessageReceiveParams{QueueID: 7, Now: now, Max: 10, MaxInFlight: 1000, RetentionCutoff: now.Add(-time.Hour)}

	limit, expire := g.plan(p)
	require.Equal(t, 1000, limit, "never counted: count")
	require.True(t, expire, "never expired: expire")
	g.done(p, expire, 100, 10, nil)

	p.Now = now.Add(500 * time.Millisecond)
	limit, expire = g.plan(p)
	require.Zero(t, limit, "counted 500 ms ago, 110 of 1000 in flight: no count")
	require.False(t, expire, "expired 500 ms ago")
	g.done(p, expire, -1, 10, nil)

	p.Now = now.Add(time.Second)
	limit, expire = g.plan(p)
	require.Equal(t, 1000, limit, "a second later: count again")
	require.True(t, expire)
	g.done(p, expire, 480, 10, nil)

	p.Now = now.Add(1100 * time.Millisecond)
	limit, _ = g.plan(p)
	require.Equal(t, 1000, limit, "490 in flight + 10: half the limit, count on every receive")

	g.done(p, false, -1, 0, fmt.Errorf("receiving: %w", engine.ErrInFlightLimit))
	p.Now = now.Add(1200 * time.Millisecond)
	limit, _ = g.plan(p)
	require.Equal(t, 1000, limit, "at the limit: count")

	other := &engine.MessageReceiveParams{QueueID: 8, Now: p.Now, Max: 10}
	limit, expire = g.plan(other)
	require.Zero(t, limit, "no limit, no cutoff: nothing to do")
	require.False(t, expire)
	g.done(other, false, -1, 10, errors.New("boom"))
	require.NotContains(t, g.queues, uint64(8))
}
