package diskengine

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/enginetest"
	"sluice/internal/engine/indexed"
)

// TestReopenMoveTasks checks that message move tasks, and their latest updates, survive a
// restart.
func TestReopenMoveTasks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	e, err := Open(ctx, Options{Dir: dir})
	require.NoError(t, err)
	running := &engine.MoveTask{Handle: "eyJ0YXNrSWQiOiIxIn0", SourceQueueID: 7, SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq",
		Status: "RUNNING", Moved: 1, ToMove: 9, StartedAt: at(1234 * time.Millisecond)}
	failed := &engine.MoveTask{Handle: "other", SourceQueueID: 8, SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq2",
		DestinationArn: "arn:aws:sqs:us-east-1:000000000000:dst", MaxPerSecond: 50, Status: "RUNNING", ToMove: 4, StartedAt: at(0)}
	require.NoError(t, e.MoveTaskPut(ctx, running))
	require.NoError(t, e.MoveTaskPut(ctx, failed))
	running.Moved = 4
	require.NoError(t, e.MoveTaskPut(ctx, running))
	failed.Status, failed.FailureReason, failed.Moved = "FAILED", "AWS.SimpleQueueService.NonExistentQueue", 2
	require.NoError(t, e.MoveTaskPut(ctx, failed))
	require.NoError(t, e.Close())

	e2 := openEngine(t, Options{Dir: dir})
	got, err := e2.MoveTaskList(ctx, &engine.MoveTaskListParams{})
	require.NoError(t, err)
	enginetest.RequireMoveTasks(t, []*engine.MoveTask{running, failed}, got)
	got, err = e2.MoveTaskList(ctx, &engine.MoveTaskListParams{SourceQueueID: 7})
	require.NoError(t, err)
	enginetest.RequireMoveTasks(t, []*engine.MoveTask{running}, got)
}

func TestMoveTaskRecord(t *testing.T) {
	t.Parallel()
	task := &engine.MoveTask{Handle: "h", SourceQueueID: 3, SourceArn: "arn:a", DestinationArn: "arn:b", MaxPerSecond: 9,
		Status: "FAILED", Moved: 5, ToMove: 6, FailureReason: "why", StartedAt: time.UnixMilli(1700000000123)}
	v, err := encodeMoveTask(task)
	require.NoError(t, err)
	got, err := decodeMoveTask(v)
	require.NoError(t, err)
	enginetest.RequireMoveTasks(t, []*engine.MoveTask{task}, []*engine.MoveTask{got})

	zero, err := encodeMoveTask(&engine.MoveTask{Handle: "z"})
	require.NoError(t, err)
	got, err = decodeMoveTask(zero)
	require.NoError(t, err)
	require.True(t, got.StartedAt.IsZero())

	for _, bad := range []string{``, `{`, `{"v":2,"handle":"h"}`, `[]`} {
		_, err := decodeMoveTask([]byte(bad))
		require.True(t, errors.Is(err, ErrCorrupt), "%q: %v", bad, err)
	}
}

// TestLoadRefusesMisplacedMoveTask checks that a task record stored under another handle's key
// is reported as corrupt rather than loaded.
func TestLoadRefusesMisplacedMoveTask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	v, err := encodeMoveTask(&engine.MoveTask{Handle: "a", Status: "RUNNING"})
	require.NoError(t, err)
	require.NoError(t, s.db.Set(moveTaskKey("b"), v, nil))
	err = s.Load(t.Context(), &indexed.Loader{})
	require.ErrorIs(t, err, ErrCorrupt)
}
