package pgengine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

// twoNodes starts two Sluice servers over two engines on one schema: two nodes of a cluster.
func twoNodes(t *testing.T) (a, b *sluicetest.Server) {
	t.Helper()
	schema := pgtest.Schema(t)
	a = sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenPostgres(t, schema)})
	b = sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenPostgres(t, schema)})
	return a, b
}

func createQueue(t *testing.T, s *sluicetest.Server, name string, attrs map[string]string) string {
	t.Helper()
	out, err := s.Client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	require.NoError(t, err)
	return *out.QueueUrl
}

// on returns the URL of a queue of server s as served by server o (URLs carry the host).
func on(o *sluicetest.Server, name string) string { return o.QueueURL(name) }

func TestMultiNodeSendHereReceiveThere(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	createQueue(t, a, "q", nil)
	_, err := a.Client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(on(a, "q")), MessageBody: aws.String("hello")})
	require.NoError(t, err)
	out, err := b.Client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(on(b, "q"))})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	require.Equal(t, "hello", *out.Messages[0].Body)
	_, err = a.Client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(on(a, "q")), ReceiptHandle: out.Messages[0].ReceiptHandle})
	require.NoError(t, err, "a receipt from one node is good on another")
}

func TestMultiNodeLongPollWakesOnOtherNodesSend(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	createQueue(t, a, "q", nil)
	got := make(chan *sqs.ReceiveMessageOutput, 1)
	go func() {
		out, err := b.Client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(on(b, "q")), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		got <- out
	}()
	// B's fake clock never moves: only a notification can end its long poll with a message.
	deadline := time.Now().Add(10 * time.Second)
	for b.Clock.Waiters() == 0 {
		require.True(t, time.Now().Before(deadline), "no long poll parked on B")
		time.Sleep(time.Millisecond)
	}
	sent := time.Now()
	_, err := a.Client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(on(a, "q")), MessageBody: aws.String("wake")})
	require.NoError(t, err)
	select {
	case out := <-got:
		require.NotNil(t, out)
		require.Len(t, out.Messages, 1)
		require.Equal(t, "wake", *out.Messages[0].Body)
		require.Less(t, time.Since(sent), 2*time.Second, "the long poll on B woke promptly")
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll on B did not wake on a send to A")
	}
}

func TestMultiNodeConcurrentReceiversNoDuplicates(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	createQueue(t, a, "q", nil)
	const total = 200
	for i := 0; i < total; i += 10 {
		var entries []sqsEntry
		for j := range 10 {
			entries = append(entries, sqsEntry{id: fmt.Sprint(j), body: fmt.Sprint(i + j)})
		}
		sendBatch(t, a, on(a, "q"), entries)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for _, s := range []*sluicetest.Server{a, b, a, b} {
		wg.Go(func() {
			for {
				out, err := s.Client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
					QueueUrl: aws.String(on(s, "q")), MaxNumberOfMessages: 7, VisibilityTimeout: 3600})
				if err != nil {
					t.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				mu.Lock()
				for _, m := range out.Messages {
					seen[*m.Body]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, total)
	for body, n := range seen {
		require.Equal(t, 1, n, "message %s delivered %d times while in flight", body, n)
	}
}

func TestMultiNodeFIFOOrder(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	createQueue(t, a, "q.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	nodes := []*sluicetest.Server{a, b}
	const per = 20
	for i := range per {
		for g := range 3 {
			s := nodes[(i+g)%2]
			_, err := s.Client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(on(s, "q.fifo")),
				MessageBody: aws.String(fmt.Sprintf("g%d-%02d", g, i)), MessageGroupId: aws.String(fmt.Sprint("g", g))})
			require.NoError(t, err)
		}
	}
	// A duplicate sent through the other node is recognised.
	out, err := b.Client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(on(b, "q.fifo")),
		MessageBody: aws.String("g0-00"), MessageGroupId: aws.String("g0")})
	require.NoError(t, err)
	require.NotNil(t, out.MessageId)

	got := map[string][]string{}
	for i := 0; ; i++ {
		s := nodes[i%2]
		r, err := s.Client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(on(s, "q.fifo")),
			MaxNumberOfMessages: 4, MessageSystemAttributeNames: []sqsAttr{"MessageGroupId"}})
		require.NoError(t, err)
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			g := m.Attributes["MessageGroupId"]
			got[g] = append(got[g], *m.Body)
			_, err := nodes[(i+1)%2].Client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{
				QueueUrl: aws.String(on(nodes[(i+1)%2], "q.fifo")), ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
	require.Len(t, got, 3)
	for g := range 3 {
		var want []string
		for i := range per {
			want = append(want, fmt.Sprintf("g%d-%02d", g, i))
		}
		require.Equal(t, want, got[fmt.Sprint("g", g)], "group g%d in order, once", g)
	}
}

func TestMultiNodeHousekeepingLeadMoves(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	opts := pgengine.Options{LeaderRetry: 50 * time.Millisecond}
	e1 := pgtest.Open(t, schema, opts)
	e2 := pgtest.Open(t, schema, opts)
	defer e2.Close()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("a leader", func() bool { return e1.Leading() || e2.Leading() })
	require.False(t, e1.Leading() && e2.Leading(), "one leader at a time")
	first, second := e1, e2
	if e2.Leading() {
		first, second = e2, e1
	}
	require.NoError(t, first.Close())
	require.False(t, first.Leading(), "a closed engine does not lead")
	waitFor("the lead to move", second.Leading)
}

type sqsAttr = sqstypes.MessageSystemAttributeName

type sqsEntry struct{ id, body string }

func sendBatch(t *testing.T, s *sluicetest.Server, url string, entries []sqsEntry) {
	t.Helper()
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
	for _, e := range entries {
		in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(e.id), MessageBody: aws.String(e.body)})
	}
	out, err := s.Client.SendMessageBatch(t.Context(), in)
	require.NoError(t, err)
	require.Empty(t, out.Failed)
}

// TestMultiNodeMoveTaskRunsOnLeader checks that a message move task runs on the lead node only,
// whichever node started it; that a cancel through another node stops it at its next step; and
// that when the leader goes away the next leader resumes its running task.
func TestMultiNodeMoveTaskRunsOnLeader(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	opts := pgengine.Options{LeaderRetry: 50 * time.Millisecond}
	e1, e2 := pgtest.Open(t, schema, opts), pgtest.Open(t, schema, opts)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor("a leader", func() bool { return e1.Leading() || e2.Leading() })
	if e2.Leading() {
		e1, e2 = e2, e1
	}
	svc := queue.Options{MoveTaskPoll: 20 * time.Millisecond}
	lead := sluicetest.NewServer(t, sluicetest.Options{Engine: e1, Service: svc})
	other := sluicetest.NewServer(t, sluicetest.Options{Engine: e2, Service: svc})

	arn := func(name string) *string {
		return aws.String("arn:aws:sqs:us-east-1:" + sluicetest.Account + ":" + name)
	}
	createQueue(t, other, "dlq", nil)
	createQueue(t, other, "dst", nil)
	createQueue(t, other, "src", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + *arn("dlq") + `","maxReceiveCount":3}`})
	for i := range 10 {
		_, err := other.Client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(on(other, "dlq")), MessageBody: aws.String(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	task := func() sqstypes.ListMessageMoveTasksResultEntry {
		t.Helper()
		out, err := other.Client.ListMessageMoveTasks(t.Context(), &sqs.ListMessageMoveTasksInput{SourceArn: arn("dlq")})
		require.NoError(t, err)
		require.Len(t, out.Results, 1)
		return out.Results[0]
	}

	// Started through the other node, at one message a step: the leader runs it.
	start, err := other.Client.StartMessageMoveTask(t.Context(), &sqs.StartMessageMoveTaskInput{
		SourceArn: arn("dlq"), DestinationArn: arn("dst"), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	require.NoError(t, err)
	waitFor("the leader's first step", func() bool { return task().ApproximateNumberOfMessagesMoved == 1 && lead.Clock.Waiters() == 1 })
	other.Clock.Advance(time.Second)
	require.Zero(t, other.Clock.Waiters(), "the other node runs no step")
	time.Sleep(100 * time.Millisecond) // five of its supervisor's polls: still nothing runs there
	require.Zero(t, other.Clock.Waiters(), "the other node runs no step")
	require.Equal(t, int64(1), task().ApproximateNumberOfMessagesMoved)
	lead.Clock.Advance(time.Second)
	waitFor("the leader's second step", func() bool { return task().ApproximateNumberOfMessagesMoved == 2 && lead.Clock.Waiters() == 1 })

	// Cancelled through the other node: the leader's worker stops at its next step.
	cancelled, err := other.Client.CancelMessageMoveTask(t.Context(), &sqs.CancelMessageMoveTaskInput{TaskHandle: start.TaskHandle})
	require.NoError(t, err)
	require.Equal(t, int64(2), cancelled.ApproximateNumberOfMessagesMoved)
	lead.Clock.Advance(time.Second)
	waitFor("the leader's worker to stop", func() bool { return lead.Clock.Waiters() == 0 })
	e := task()
	require.Equal(t, "CANCELLED", *e.Status)
	require.Equal(t, int64(2), e.ApproximateNumberOfMessagesMoved, "no step after the cancel")

	// A new task, running on the leader; the leader goes away and the other node takes over.
	_, err = lead.Client.StartMessageMoveTask(t.Context(), &sqs.StartMessageMoveTaskInput{
		SourceArn: arn("dlq"), DestinationArn: arn("dst"), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	require.NoError(t, err)
	waitFor("the new task's first step", func() bool { return task().ApproximateNumberOfMessagesMoved == 1 && lead.Clock.Waiters() == 1 })
	lead.Close()
	require.NoError(t, e1.Close())
	waitFor("the other node to lead", e2.Leading)
	waitFor("the other node to resume the task", func() bool { return task().ApproximateNumberOfMessagesMoved == 2 && other.Clock.Waiters() == 1 })
	for i := int64(3); i <= 7; i++ {
		other.Clock.Advance(time.Second)
		waitFor(fmt.Sprintf("step %d on the new leader", i), func() bool {
			return task().ApproximateNumberOfMessagesMoved == i && other.Clock.Waiters() == 1
		})
	}
	other.Clock.Advance(time.Second) // the last message: the task completes in this step
	waitFor("the task to complete", func() bool { return *task().Status == "COMPLETED" })
	require.Equal(t, int64(8), task().ApproximateNumberOfMessagesMoved)
	n, err := other.Client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(on(other, "dst")),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages"}})
	require.NoError(t, err)
	require.Equal(t, "10", n.Attributes["ApproximateNumberOfMessages"], "every message moved once")
}

// TestLeaderAnalyzesGrownMessages: the process that holds the lead runs ANALYZE on the messages
// table once it holds far more rows than its statistics say (so that cached plans are made again
// from statistics that know the queue's size).
func TestLeaderAnalyzesGrownMessages(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	e := pgtest.Open(t, schema, pgengine.Options{LeaderRetry: 50 * time.Millisecond})
	defer e.Close()
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	res, err := e.QueueCreate(ctx, &engine.QueueCreateParams{Key: engine.QueueKey{Account: "000000000000", Name: "q"}, Now: now})
	require.NoError(t, err)
	for i := range 200 {
		entries := make([]engine.MessageSendEntry, 10)
		for j := range entries {
			entries[j] = engine.MessageSendEntry{Message: &engine.Message{ID: fmt.Sprint(i, "-", j), Body: "x", SentAt: now}}
		}
		_, err := e.MessageSend(ctx, &engine.MessageSendParams{QueueID: res.Queue.ID, Now: now, DedupUntil: now, Entries: entries})
		require.NoError(t, err)
	}
	conn, err := pgx.Connect(ctx, pgtest.URL())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	deadline := time.Now().Add(60 * time.Second) // table statistics reach the view within ~10 s
	for {
		var analyzed int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT analyze_count FROM pg_stat_user_tables
			WHERE schemaname = $1 AND relname = 'messages'`, schema).Scan(&analyzed))
		if analyzed > 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "2,000 messages sent and no ANALYZE of the messages table")
		time.Sleep(100 * time.Millisecond)
	}
}
