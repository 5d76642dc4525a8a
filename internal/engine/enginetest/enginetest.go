// Package enginetest is the conformance suite that every storage engine of Sluice must pass.
// Each engine's tests call Exercise with a function that opens a fresh, empty engine, and may call
// Benchmark the same way; a change in engine semantics extends this suite first.
//
// The suite is written from the documented contract of package engine, not from any one
// implementation. It drives time only through the Now, VisibleAt and RetentionCutoff values it
// passes in (an engine never reads a clock), starting from a fixed base time. All times it uses
// are whole milliseconds, the precision every engine must keep.
package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

// Exercise runs the conformance suite against engines made by open; open returns a fresh, empty
// engine each call (the suite closes it).
func Exercise(t *testing.T, open func(t *testing.T) engine.Engine) {
	t.Helper()
	areas := []struct {
		name string
		run  func(t *testing.T, open opener)
	}{
		{"Queue", exerciseQueue},
		{"SendReceive", exerciseSendReceive},
		{"Stats", exerciseStats},
		{"Visibility", exerciseVisibility},
		{"Delete", exerciseDelete},
		{"Retention", exerciseRetention},
		{"Purge", exercisePurge},
		{"Concurrency", exerciseConcurrency},
		{"FIFO", exerciseFIFO},
		{"Dedup", exerciseDedup},
		{"DeadLetter", exerciseDeadLetter},
		{"MoveTask", exerciseMoveTask},
		{"Peek", exercisePeek},
		{"Close", exerciseClose},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			a.run(t, open)
		})
	}
}

type opener = func(t *testing.T) engine.Engine

// base is the suite's fixed start of time; tests express every instant as at(offset).
var base = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

const testAccount = "000000000000"

// testBundle is what a test works with: a fresh engine and a context.
type testBundle struct {
	ctx context.Context
	eng engine.Engine
}

// setup opens a fresh engine that is closed when the test ends.
func setup(t *testing.T, open opener) *testBundle {
	t.Helper()
	eng := open(t)
	require.NotNil(t, eng)
	t.Cleanup(func() {
		// A test may have closed the engine itself; a second Close may report ErrClosed.
		if err := eng.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
			t.Errorf("closing engine: %v", err)
		}
	})
	return &testBundle{ctx: context.Background(), eng: eng}
}

func key(name string) engine.QueueKey { return engine.QueueKey{Account: testAccount, Name: name} }

// createQueue creates a queue at base and requires that it is new.
func (b *testBundle) createQueue(t *testing.T, name string) *engine.Queue {
	t.Helper()
	res, err := b.eng.QueueCreate(b.ctx, &engine.QueueCreateParams{Key: key(name), Now: base})
	require.NoError(t, err)
	require.True(t, res.Created)
	require.NotNil(t, res.Queue)
	return res.Queue
}

var msgCounter atomic.Uint64

// newMessage returns a message with a unique ID, sent at sentAt.
func newMessage(body string, sentAt time.Time) *engine.Message {
	n := msgCounter.Add(1)
	return &engine.Message{
		ID:     fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		Body:   body,
		SentAt: sentAt,
	}
}

// send stores one visible message per body, all in one call at now, and returns them.
func (b *testBundle) send(t *testing.T, q *engine.Queue, now time.Time, bodies ...string) []*engine.Message {
	t.Helper()
	msgs := make([]*engine.Message, len(bodies))
	entries := make([]engine.MessageSendEntry, len(bodies))
	for i, body := range bodies {
		msgs[i] = newMessage(body, now)
		entries[i] = engine.MessageSendEntry{Message: msgs[i], VisibleAt: now}
	}
	_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{QueueID: q.ID, Now: now, Entries: entries})
	require.NoError(t, err)
	return msgs
}

// sendDelayed stores one message at now that becomes visible at visibleAt.
func (b *testBundle) sendDelayed(t *testing.T, q *engine.Queue, now, visibleAt time.Time, body string) *engine.Message {
	t.Helper()
	m := newMessage(body, now)
	_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{
		QueueID: q.ID,
		Now:     now,
		Entries: []engine.MessageSendEntry{{Message: m, VisibleAt: visibleAt}},
	})
	require.NoError(t, err)
	return m
}

// receive takes up to max messages at now, invisible until visibleAt, with no retention and no
// in-flight limit.
func (b *testBundle) receive(t *testing.T, q *engine.Queue, now time.Time, max int, visibleAt time.Time) *engine.MessageReceiveResult {
	t.Helper()
	res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
		QueueID: q.ID, Now: now, Max: max, VisibleAt: visibleAt,
	})
	require.NoError(t, err)
	require.NotNil(t, res)
	require.LessOrEqual(t, len(res.Messages), max)
	return res
}

// receiveOne receives exactly one message.
func (b *testBundle) receiveOne(t *testing.T, q *engine.Queue, now, visibleAt time.Time) engine.ReceivedMessage {
	t.Helper()
	res := b.receive(t, q, now, 1, visibleAt)
	require.Len(t, res.Messages, 1)
	return res.Messages[0]
}

// receiveNone requires that no message is receivable at now.
func (b *testBundle) receiveNone(t *testing.T, q *engine.Queue, now time.Time) *engine.MessageReceiveResult {
	t.Helper()
	res := b.receive(t, q, now, 10, now.Add(time.Hour))
	require.Empty(t, res.Messages, "no message should be receivable at %v", now)
	return res
}

// deleteOne deletes one receipt and returns its entry error.
func (b *testBundle) deleteOne(t *testing.T, q *engine.Queue, now time.Time, r engine.Receipt, requireInFlight bool) error {
	t.Helper()
	errs, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{
		QueueID: q.ID, Now: now, Receipts: []engine.Receipt{r}, RequireInFlight: requireInFlight,
	})
	require.NoError(t, err)
	require.Len(t, errs, 1)
	return errs[0]
}

// changeOne changes one receipt's visibility and returns its entry error.
func (b *testBundle) changeOne(t *testing.T, q *engine.Queue, p engine.MessageChangeVisibilityParams, r engine.Receipt, visibleAt time.Time) error {
	t.Helper()
	p.QueueID = q.ID
	p.Entries = []engine.VisibilityChange{{Receipt: r, VisibleAt: visibleAt}}
	errs, err := b.eng.MessageChangeVisibility(b.ctx, &p)
	require.NoError(t, err)
	require.Len(t, errs, 1)
	return errs[0]
}

// stats returns the queue's counts at now, without retention.
func (b *testBundle) stats(t *testing.T, q *engine.Queue, now time.Time) engine.QueueStats {
	t.Helper()
	s, err := b.eng.QueueStats(b.ctx, &engine.QueueStatsParams{Key: q.Key, Now: now})
	require.NoError(t, err)
	require.NotNil(t, s)
	return *s
}

func (b *testBundle) requireStats(t *testing.T, q *engine.Queue, now time.Time, visible, inFlight, delayed int64) {
	t.Helper()
	st := b.stats(t, q, now)
	require.Equal(t, [3]int64{visible, inFlight, delayed}, [3]int64{st.Visible, st.InFlight, st.Delayed},
		"stats (visible, in flight, delayed) at %v", now)
}

func requireTime(t *testing.T, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	require.True(t, want.Equal(got), append([]any{"want time %v, got %v: ", want, got}, msgAndArgs...)...)
}

// requireMessage checks that a received message carries everything that was sent.
func requireMessage(t *testing.T, want, got *engine.Message) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, want.ID, got.ID)
	require.Equal(t, want.Body, got.Body)
	requireAttributes(t, want.Attributes, got.Attributes)
	requireAttributes(t, want.SystemAttributes, got.SystemAttributes)
	require.Equal(t, want.SenderID, got.SenderID)
	requireTime(t, want.SentAt, got.SentAt, "SentAt")
	require.Equal(t, want.GroupID, got.GroupID)
	require.Equal(t, want.DeduplicationID, got.DeduplicationID)
}

// requireAttributes compares attribute maps, treating nil and empty alike.
func requireAttributes(t *testing.T, want, got map[string]engine.MessageAttribute) {
	t.Helper()
	require.Len(t, got, len(want))
	for name, w := range want {
		g, ok := got[name]
		require.True(t, ok, "attribute %q missing", name)
		require.Equal(t, w.DataType, g.DataType, "attribute %q", name)
		require.Equal(t, w.IsBinary, g.IsBinary, "attribute %q", name)
		require.Equal(t, w.StringValue, g.StringValue, "attribute %q", name)
		require.True(t, bytes.Equal(w.BinaryValue, g.BinaryValue), "attribute %q: binary value %x, want %x",
			name, g.BinaryValue, w.BinaryValue)
	}
}

func ids(msgs []engine.ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Message.ID
	}
	return out
}

func msgIDs(msgs []*engine.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func receipts(msgs []engine.ReceivedMessage) []engine.Receipt {
	out := make([]engine.Receipt, len(msgs))
	for i, m := range msgs {
		out[i] = m.Receipt
	}
	return out
}

// missingQueueID is an ID that no engine in this suite hands out.
const missingQueueID = uint64(1) << 40
