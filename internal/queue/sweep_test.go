package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/memengine"
	"sluice/internal/queue"
)

// TestSweeperRuns checks that the background sweeper, driven by the clock, removes messages
// past retention without any request touching the queue.
func TestSweeperRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng := memengine.New()
	defer eng.Close()
	svc := queue.New(queue.Options{Engine: eng, Clock: fc, SweepEvery: time.Second})
	require.NoError(t, svc.Start(ctx))
	defer svc.Close()
	c := &queue.Caller{Account: "000000000000", Region: "us-east-1", BaseURL: "http://x"}
	q, err := svc.CreateQueue(ctx, c, &queue.CreateQueueInput{QueueName: "q", Attributes: map[string]string{"MessageRetentionPeriod": "60"}})
	require.NoError(t, err)
	body := "m"
	for range 2500 {
		_, err := svc.SendMessage(ctx, c, &queue.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: &body})
		require.NoError(t, err)
	}
	// Count through the engine without a retention cutoff, so that counting expires nothing.
	count := func() int64 {
		st, err := eng.QueueStats(ctx, &engine.QueueStatsParams{Key: engine.QueueKey{Account: c.Account, Name: "q"}, Now: fc.Now()})
		require.NoError(t, err)
		return st.Visible
	}
	require.Equal(t, int64(2500), count())
	fc.Advance(61 * time.Second) // the sweeper's timer fires; it expires everything in chunks
	deadline := time.Now().Add(10 * time.Second)
	for count() != 0 {
		require.True(t, time.Now().Before(deadline), "sweeper did not expire the backlog")
		if fc.Waiters() > 0 {
			fc.Advance(time.Second)
		}
		time.Sleep(time.Millisecond)
	}
}
