package memengine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/enginetest"
	"sluice/internal/engine/memengine"
)

// TestReloadMoveTasks checks that message move tasks are loaded again from the store.
func TestReloadMoveTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memengine.NewStore()
	e1 := open(t, store)
	task := &engine.MoveTask{Handle: "h1", SourceQueueID: 4, SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq",
		Status: "RUNNING", Moved: 3, ToMove: 10, StartedAt: at(1500 * time.Millisecond)}
	require.NoError(t, e1.MoveTaskPut(ctx, task))
	done := &engine.MoveTask{Handle: "h0", SourceQueueID: 4, SourceArn: task.SourceArn, Status: "COMPLETED",
		Moved: 2, ToMove: 2, MaxPerSecond: 5, StartedAt: base}
	require.NoError(t, e1.MoveTaskPut(ctx, done))

	e2 := reopen(t, e1, store)
	got, err := e2.MoveTaskList(ctx, &engine.MoveTaskListParams{SourceQueueID: 4})
	require.NoError(t, err)
	enginetest.RequireMoveTasks(t, []*engine.MoveTask{task, done}, got)
}
