package enginetest

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

// newMoveTask returns a running task of source started at started.
func newMoveTask(handle string, source uint64, started time.Time) *engine.MoveTask {
	return &engine.MoveTask{
		Handle:         handle,
		SourceQueueID:  source,
		SourceArn:      "arn:aws:sqs:us-east-1:000000000000:dlq",
		DestinationArn: "arn:aws:sqs:us-east-1:000000000000:dst",
		MaxPerSecond:   7,
		Status:         "RUNNING",
		Moved:          0,
		ToMove:         12,
		StartedAt:      started,
	}
}

// RequireMoveTasks checks that got holds the tasks of want, in any order, field by field
// (times compared as instants). Engine tests that reopen a store use it too.
func RequireMoveTasks(t testing.TB, want, got []*engine.MoveTask) {
	t.Helper()
	sorted := func(ts []*engine.MoveTask) []*engine.MoveTask {
		c := slices.Clone(ts)
		slices.SortFunc(c, func(a, b *engine.MoveTask) int { return strings.Compare(a.Handle, b.Handle) })
		return c
	}
	want, got = sorted(want), sorted(got)
	require.Len(t, got, len(want))
	for i := range want {
		w, g := *want[i], *got[i]
		require.True(t, w.StartedAt.Equal(g.StartedAt), "task %s started at %v, want %v", w.Handle, g.StartedAt, w.StartedAt)
		w.StartedAt, g.StartedAt = time.Time{}, time.Time{}
		require.Equal(t, w, g)
	}
}

func exerciseMoveTask(t *testing.T, open opener) {
	t.Run("PutList", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		got, err := b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{})
		require.NoError(t, err)
		require.Empty(t, got)

		a1 := newMoveTask("task-a1", 1, at(time.Second))
		a2 := newMoveTask("task-a2", 1, at(2*time.Second))
		a2.DestinationArn, a2.MaxPerSecond = "", 0
		c1 := newMoveTask("task-c1", 3, at(3*time.Second))
		for _, task := range []*engine.MoveTask{a1, a2, c1} {
			require.NoError(t, b.eng.MoveTaskPut(b.ctx, task))
		}
		got, err = b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{SourceQueueID: 1})
		require.NoError(t, err)
		RequireMoveTasks(t, []*engine.MoveTask{a1, a2}, got)
		got, err = b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{SourceQueueID: 3})
		require.NoError(t, err)
		RequireMoveTasks(t, []*engine.MoveTask{c1}, got)
		got, err = b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{SourceQueueID: 2})
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{})
		require.NoError(t, err)
		RequireMoveTasks(t, []*engine.MoveTask{a1, a2, c1}, got)
	})

	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		task := newMoveTask("task", 1, base)
		require.NoError(t, b.eng.MoveTaskPut(b.ctx, task))
		task.Moved = 5
		require.NoError(t, b.eng.MoveTaskPut(b.ctx, task))
		task.Moved, task.Status, task.FailureReason = 6, "FAILED", "AWS.SimpleQueueService.NonExistentQueue"
		require.NoError(t, b.eng.MoveTaskPut(b.ctx, task))
		got, err := b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{SourceQueueID: 1})
		require.NoError(t, err)
		RequireMoveTasks(t, []*engine.MoveTask{task}, got)
	})

	t.Run("Copies", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		task := newMoveTask("task", 1, base)
		require.NoError(t, b.eng.MoveTaskPut(b.ctx, task))
		want := task.Clone()
		task.Moved = 99 // the caller's copy is not the stored one
		got, err := b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		got[0].Status = "CANCELLED" // nor is a listed one
		got, err = b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{})
		require.NoError(t, err)
		RequireMoveTasks(t, []*engine.MoveTask{want}, got)
	})

	t.Run("IndependentOfQueues", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "dlq")
		task := newMoveTask("task", q.ID, base)
		require.NoError(t, b.eng.MoveTaskPut(b.ctx, task))
		b.send(t, q, base, "m")
		got, err := b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{SourceQueueID: q.ID})
		require.NoError(t, err)
		RequireMoveTasks(t, []*engine.MoveTask{task}, got)
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		want := make([]*engine.MoveTask, n)
		for i := range n {
			want[i] = newMoveTask("task-"+string(rune('a'+i)), uint64(i%2+1), at(time.Duration(i)*time.Millisecond))
			want[i].Moved = int64(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = b.eng.MoveTaskPut(b.ctx, want[i])
			}()
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		got, err := b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{})
		require.NoError(t, err)
		RequireMoveTasks(t, want, got)
	})

	t.Run("AfterClose", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		require.NoError(t, b.eng.Close())
		require.ErrorIs(t, b.eng.MoveTaskPut(b.ctx, newMoveTask("task", 1, base)), engine.ErrClosed, "MoveTaskPut")
		_, err := b.eng.MoveTaskList(b.ctx, &engine.MoveTaskListParams{})
		require.ErrorIs(t, err, engine.ErrClosed, "MoveTaskList")
	})
}
