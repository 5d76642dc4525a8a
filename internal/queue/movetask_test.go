package queue

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/memengine"
)

func TestTaskHandleRoundTrip(t *testing.T) {
	t.Parallel()
	h := taskHandle{TaskID: "0190a5f0-0000-7000-8000-000000000001", SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq"}
	s := encodeTaskHandle(h)
	got, ok := decodeTaskHandle(s)
	require.True(t, ok)
	require.Equal(t, h, got)
	// Padded and standard-alphabet spellings of the same bytes are accepted too.
	raw, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	for _, v := range []string{base64.URLEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw)} {
		got, ok := decodeTaskHandle(v)
		require.True(t, ok, v)
		require.Equal(t, h, got)
	}
	for _, bad := range []string{"", "garbage!", base64.RawURLEncoding.EncodeToString([]byte("{}")),
		base64.RawURLEncoding.EncodeToString([]byte(`{"taskId":"x"}`)), base64.RawURLEncoding.EncodeToString([]byte(`[1]`))} {
		_, ok := decodeTaskHandle(bad)
		require.False(t, ok, bad)
	}
}

// TestMoveTaskWorkersStopOnClose checks that Close stops a running task's worker and waits for
// it (no goroutine is left, the task stays RUNNING in the store), and that Start on a new
// Service over the same engine resumes it.
func TestMoveTaskWorkersStopOnClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	eng := memengine.New()
	defer eng.Close()
	fc := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	c := &Caller{Account: "000000000000", Region: "us-east-1", BaseURL: "http://localhost:9324"}
	dlqArn := c.queueArn(engine.QueueKey{Account: c.Account, Name: "dlq"})

	s := New(Options{Engine: eng, Clock: fc})
	require.NoError(t, s.Start(ctx))
	for _, in := range []*CreateQueueInput{
		{QueueName: "dlq"},
		{QueueName: "src", Attributes: map[string]string{AttrRedrivePolicy: `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":3}`}},
		{QueueName: "dst"},
	} {
		_, err := s.CreateQueue(ctx, c, in)
		require.NoError(t, err)
	}
	for range 3 {
		_, err := s.SendMessage(ctx, c, &SendMessageInput{QueueUrl: "dlq", MessageBody: new("m")})
		require.NoError(t, err)
	}
	rate := int32(1)
	_, err := s.StartMessageMoveTask(ctx, c, &StartMessageMoveTaskInput{SourceArn: dlqArn,
		DestinationArn: c.queueArn(engine.QueueKey{Account: c.Account, Name: "dst"}), MaxNumberOfMessagesPerSecond: &rate})
	require.NoError(t, err)

	stored := func(want int64) *engine.MoveTask {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			tasks, err := eng.MoveTaskList(ctx, &engine.MoveTaskListParams{})
			require.NoError(t, err)
			require.Len(t, tasks, 1)
			if tasks[0].Moved == want {
				return tasks[0]
			}
			require.False(t, time.Now().After(deadline), "moved %d, want %d", tasks[0].Moved, want)
			time.Sleep(time.Millisecond)
		}
	}
	stored(1)
	s.Close()
	require.Zero(t, fc.Waiters(), "the worker's timer is stopped")
	fc.Advance(time.Second)
	task := stored(1)
	require.Equal(t, moveRunning, task.Status, "a stopped worker leaves its task running, for the next start")

	s2 := New(Options{Engine: eng, Clock: fc})
	require.NoError(t, s2.Start(ctx))
	defer s2.Close()
	stored(2)
	// A task the service does not run (closed) can still be cancelled.
	s2.Close()
	out, err := s2.CancelMessageMoveTask(ctx, c, &CancelMessageMoveTaskInput{TaskHandle: task.Handle})
	require.NoError(t, err)
	require.Equal(t, int64(2), out.ApproximateNumberOfMessagesMoved)
	require.Equal(t, moveCancelled, stored(2).Status)
}
