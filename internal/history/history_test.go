package history_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/memengine"
	"sluice/internal/history"
	"sluice/internal/queue"
)

var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*history.History, *clock.Fake, engine.Engine, *engine.Queue) {
	t.Helper()
	eng := memengine.New()
	t.Cleanup(func() { _ = eng.Close() })
	res, err := eng.QueueCreate(context.Background(), &engine.QueueCreateParams{Key: engine.QueueKey{Account: "1", Name: "q"}, Now: start})
	require.NoError(t, err)
	fc := clock.NewFake(start)
	h := history.New(history.Options{Engine: eng, Clock: fc, Interval: 5 * time.Second, Window: 20 * time.Second})
	return h, fc, eng, res.Queue
}

func send(t *testing.T, eng engine.Engine, q *engine.Queue, now time.Time, n int) {
	t.Helper()
	for range n {
		_, err := eng.MessageSend(context.Background(), &engine.MessageSendParams{QueueID: q.ID, Now: now,
			Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "id", Body: "x", SentAt: now}, VisibleAt: now}}})
		require.NoError(t, err)
	}
}

func TestSamplesAndRates(t *testing.T) {
	t.Parallel()
	h, fc, eng, q := setup(t)
	ctx := context.Background()
	send(t, eng, q, start, 10)
	h.Observe(queue.Event{Kind: queue.EventSent, Queue: q.Key, Count: 10})
	fc.Advance(5 * time.Second)
	h.SampleNow(ctx)
	ss := h.Samples(q.Key)
	require.Len(t, ss, 1)
	require.Equal(t, int64(10), ss[0].Visible)
	require.Equal(t, uint64(10), ss[0].Sent)
	require.Equal(t, 2.0, h.Rates(q.Key, time.Minute).Sent, "10 messages in one 5-second interval")

	// The window keeps 20 s / 5 s = 4 samples: the oldest go first.
	for range 5 {
		fc.Advance(5 * time.Second)
		h.SampleNow(ctx)
	}
	ss = h.Samples(q.Key)
	require.Len(t, ss, 4)
	require.Equal(t, start.Add(30*time.Second), ss[3].At)
	require.Equal(t, start.Add(15*time.Second), ss[0].At)
	require.Zero(t, ss[3].Sent, "counts are per interval")
	require.Zero(t, h.Rates(q.Key, time.Minute).Sent)

	// A deleted queue's history goes with it.
	h.Observe(queue.Event{Kind: queue.EventQueueDeleted, Queue: q.Key, Count: 1})
	require.Nil(t, h.Samples(q.Key))
}

func TestRunSamplesOnTheClock(t *testing.T) {
	t.Parallel()
	h, fc, _, q := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	for i := 1; i <= 3; i++ {
		require.Eventually(t, func() bool { return fc.Waiters() == 1 }, 5*time.Second, time.Millisecond)
		fc.Advance(5 * time.Second)
		require.Eventually(t, func() bool { return len(h.Samples(q.Key)) == i }, 5*time.Second, time.Millisecond)
	}
	cancel()
	<-done
}
