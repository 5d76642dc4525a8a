package declare_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/config"
	"sluice/internal/declare"
	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

var caller = &queue.Caller{Account: "000000000000", Region: "us-east-1", BaseURL: "http://127.0.0.1:9324", SenderID: "000000000000"}

// decls is the example of the issue: a standard queue and its DLQ, a FIFO queue and its DLQ,
// each source declared before its DLQ.
func decls() []config.QueueDecl {
	return []config.QueueDecl{
		{Name: "orders", Type: "standard", Attributes: map[string]any{"VisibilityTimeout": int64(45), "DelaySeconds": int64(1)},
			RedrivePolicy: &config.RedriveDecl{DeadLetterQueue: "orders-dlq", MaxReceiveCount: 5},
			Tags:          map[string]string{"team": "shop"}},
		{Name: "orders-dlq", Type: "standard", Attributes: map[string]any{"MessageRetentionPeriod": int64(1209600)},
			RedriveAllowPolicy: &config.RedriveAllowDecl{Permission: "byQueue", SourceQueues: []string{"orders"}}},
		{Name: "events.fifo", Type: "fifo", Attributes: map[string]any{"ContentBasedDeduplication": true},
			RedrivePolicy: &config.RedriveDecl{DeadLetterQueue: "events-dlq.fifo", MaxReceiveCount: 3}},
		{Name: "events-dlq.fifo", Type: "fifo"},
	}
}

func newService(t *testing.T, f sluicetest.EngineFactory) *queue.Service {
	t.Helper()
	eng := f.Open(t)
	svc := queue.New(queue.Options{Engine: eng, Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), SweepEvery: -1})
	t.Cleanup(func() { svc.Close(); _ = eng.Close() })
	return svc
}

func attrs(t *testing.T, svc *queue.Service, name string) map[string]string {
	t.Helper()
	u, err := svc.GetQueueUrl(context.Background(), caller, &queue.GetQueueUrlInput{QueueName: name})
	require.NoError(t, err, name)
	out, err := svc.GetQueueAttributes(context.Background(), caller, &queue.GetQueueAttributesInput{QueueUrl: u.QueueUrl, AttributeNames: []string{"All"}})
	require.NoError(t, err)
	return out.Attributes
}

func TestApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, f)
			// A queue that is not declared is left alone.
			_, err := svc.CreateQueue(ctx, caller, &queue.CreateQueueInput{QueueName: "other", Attributes: map[string]string{"VisibilityTimeout": "7"}})
			require.NoError(t, err)

			changes, err := declare.Apply(ctx, svc, caller, decls(), log)
			require.NoError(t, err)
			var created []string
			for _, c := range changes {
				if c.Field == "created" {
					created = append(created, c.Queue)
				}
			}
			require.ElementsMatch(t, []string{"orders", "orders-dlq", "events.fifo", "events-dlq.fifo"}, created)

			o := attrs(t, svc, "orders")
			require.Equal(t, "45", o["VisibilityTimeout"])
			require.Equal(t, "1", o["DelaySeconds"])
			require.JSONEq(t, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":5}`, o["RedrivePolicy"])
			require.JSONEq(t, `{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:orders"]}`,
				attrs(t, svc, "orders-dlq")["RedriveAllowPolicy"])
			require.Equal(t, "true", attrs(t, svc, "events.fifo")["FifoQueue"])
			require.Equal(t, "true", attrs(t, svc, "events.fifo")["ContentBasedDeduplication"])
			require.JSONEq(t, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:events-dlq.fifo","maxReceiveCount":3}`,
				attrs(t, svc, "events.fifo")["RedrivePolicy"])
			u, err := svc.GetQueueUrl(ctx, caller, &queue.GetQueueUrlInput{QueueName: "orders"})
			require.NoError(t, err)
			tags, err := svc.ListQueueTags(ctx, caller, &queue.QueueUrlInput{QueueUrl: u.QueueUrl})
			require.NoError(t, err)
			require.Equal(t, map[string]string{"team": "shop"}, tags.Tags)

			// The same file again changes nothing.
			changes, err = declare.Apply(ctx, svc, caller, decls(), log)
			require.NoError(t, err)
			require.Empty(t, changes)

			// A changed file updates what changed, and only that.
			d := decls()
			d[0].Attributes["VisibilityTimeout"] = int64(90)
			d[0].RedrivePolicy.MaxReceiveCount = 9
			d[0].Tags["team"] = "warehouse"
			changes, err = declare.Apply(ctx, svc, caller, d, log)
			require.NoError(t, err)
			require.Equal(t, []declare.Change{
				{Queue: "orders", Field: "VisibilityTimeout", From: "45", To: "90"},
				{Queue: "orders", Field: "tag:team", From: "shop", To: "warehouse"},
				{Queue: "orders", Field: "RedrivePolicy",
					From: `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":5}`,
					To:   `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":9}`},
			}, changes)
			require.Equal(t, "90", attrs(t, svc, "orders")["VisibilityTimeout"])
			require.Equal(t, "1", attrs(t, svc, "orders")["DelaySeconds"], "attributes not changed in the file keep their values")
			require.Equal(t, "7", attrs(t, svc, "other")["VisibilityTimeout"], "undeclared queues are left alone")
			list, err := svc.ListQueues(ctx, caller, &queue.ListQueuesInput{})
			require.NoError(t, err)
			require.Len(t, list.QueueUrls, 5)
		})
	}
}

// TestApplyConcurrently applies one file from several goroutines at once, as several nodes
// starting together do: every queue ends up created once, as declared, and no apply fails.
func TestApplyConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, f)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() { _, errs[i] = declare.Apply(ctx, svc, caller, decls(), slog.New(slog.DiscardHandler)) })
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...))
			list, err := svc.ListQueues(ctx, caller, &queue.ListQueuesInput{})
			require.NoError(t, err)
			require.Len(t, list.QueueUrls, 4)
			require.Equal(t, "45", attrs(t, svc, "orders")["VisibilityTimeout"])
		})
	}
}

// TestCheck runs declarations that pass the file's own validation through the SQS rules: each
// refusal names the queue and the field.
func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	require.NoError(t, declare.Check(ctx, decls(), "us-east-1", "000000000000"))
	for _, tc := range []struct {
		name string
		decl config.QueueDecl
		want string
	}{
		{"unknown attribute", config.QueueDecl{Name: "a", Type: "standard", Attributes: map[string]any{"Colour": "blue"}},
			`queue "a": attributes`},
		{"out of range", config.QueueDecl{Name: "a", Type: "standard", Attributes: map[string]any{"VisibilityTimeout": int64(50000)}},
			`queue "a": attributes.VisibilityTimeout: `},
		{"FIFO attribute on a standard queue", config.QueueDecl{Name: "a", Type: "standard", Attributes: map[string]any{"ContentBasedDeduplication": true}},
			`queue "a": attributes`},
		{"bad name", config.QueueDecl{Name: "a b", Type: "standard"}, `queue "a b": name: `},
		{"dlq ARN that does not exist", config.QueueDecl{Name: "a", Type: "standard",
			RedrivePolicy: &config.RedriveDecl{DeadLetterQueue: "arn:aws:sqs:us-east-1:000000000000:gone", MaxReceiveCount: 2}},
			`queue "a": redrive_policy: Value {"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:gone","maxReceiveCount":2} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := declare.Check(ctx, []config.QueueDecl{tc.decl}, "us-east-1", "000000000000")
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			var de *declare.Error
			require.True(t, errors.As(err, &de))
			require.Equal(t, tc.decl.Name, de.Queue)
		})
	}
}

// TestApplyManyNodesOnPostgres starts three nodes on one PostgreSQL schema at once, each applying
// the same file, as a cluster restarting together does: each declared queue is created exactly
// once (one queue id, seen alike by every node) and ends as declared.
func TestApplyManyNodesOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.Schema(t)
	const nodes = 3
	svcs := make([]*queue.Service, nodes)
	for i := range svcs {
		eng := pgtest.Open(t, schema, pgengine.Options{})
		svcs[i] = queue.New(queue.Options{Engine: eng, Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), SweepEvery: -1})
		t.Cleanup(func() { svcs[i].Close(); _ = eng.Close() })
	}
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i, svc := range svcs {
		wg.Go(func() {
			_, errs[i] = declare.Apply(ctx, svc, caller, decls(), slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for _, name := range []string{"orders", "orders-dlq", "events.fifo", "events-dlq.fifo"} {
		arn := attrs(t, svcs[0], name)["QueueArn"]
		created0 := attrs(t, svcs[0], name)["CreatedTimestamp"]
		for _, svc := range svcs[1:] {
			require.Equal(t, arn, attrs(t, svc, name)["QueueArn"])
			require.Equal(t, created0, attrs(t, svc, name)["CreatedTimestamp"], "%s: one creation seen by every node", name)
		}
	}
	list, err := svcs[2].ListQueues(ctx, caller, &queue.ListQueuesInput{})
	require.NoError(t, err)
	require.Len(t, list.QueueUrls, 4, "each declared queue exists once")
	require.Equal(t, "45", attrs(t, svcs[1], "orders")["VisibilityTimeout"])
	require.JSONEq(t, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":5}`,
		attrs(t, svcs[2], "orders")["RedrivePolicy"])
	// Every node sent a message to the same queue: one queue, so one receive sees both.
	for _, svc := range svcs[:2] {
		u, err := svc.GetQueueUrl(ctx, caller, &queue.GetQueueUrlInput{QueueName: "orders-dlq"})
		require.NoError(t, err)
		body := "hello"
		_, err = svc.SendMessage(ctx, caller, &queue.SendMessageInput{QueueUrl: u.QueueUrl, MessageBody: &body})
		require.NoError(t, err)
	}
	u, err := svcs[2].GetQueueUrl(ctx, caller, &queue.GetQueueUrlInput{QueueName: "orders-dlq"})
	require.NoError(t, err)
	ten := int32(10)
	out, err := svcs[2].ReceiveMessage(ctx, caller, &queue.ReceiveMessageInput{QueueUrl: u.QueueUrl, MaxNumberOfMessages: &ten})
	require.NoError(t, err)
	require.Len(t, out.Messages, 2)
}
