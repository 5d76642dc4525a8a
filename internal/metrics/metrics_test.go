package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/diskengine"
	"sluice/internal/engine/memengine"
	"sluice/internal/httpserver"
	"sluice/internal/metrics"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

type observerFunc func(queue.Event)

func (f observerFunc) Observe(ev queue.Event) { f(ev) }

type testBundle struct {
	ctx context.Context
	reg *prometheus.Registry
	m   *metrics.Metrics
	srv *sluicetest.Server
}

func setup(t *testing.T, eng engine.Engine) *testBundle {
	t.Helper()
	b := &testBundle{ctx: context.Background(), reg: prometheus.NewRegistry()}
	b.srv = sluicetest.NewServer(t, sluicetest.Options{
		Engine:  eng,
		Service: queue.Options{Observer: observerFunc(func(ev queue.Event) { b.m.Observe(ev) })},
		HTTP:    func(o *httpserver.Options) { o.Observer = reqObserver{b} },
	})
	m, err := metrics.New(metrics.Options{Registry: b.reg, Engine: eng, Clock: b.srv.Clock, LongPolls: b.srv.Service.LongPolls})
	require.NoError(t, err)
	b.m = m
	return b
}

type reqObserver struct{ b *testBundle }

func (r reqObserver) ObserveRequest(action, outcome string, d time.Duration) {
	r.b.m.ObserveRequest(action, outcome, d)
}

// value returns the value of the metric name with exactly the given labels (a counter, gauge,
// or a histogram's sample count), failing when there is none.
func (b *testBundle) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	require.NoError(t, err)
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsEqual(m.GetLabel(), want) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// TestKnownWorkload drives a workload through the SDK and checks every per-queue number a
// dashboard would show.
func TestKnownWorkload(t *testing.T) {
	t.Parallel()
	b := setup(t, memengine.New())
	c := b.srv.Client
	ctx := b.ctx
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs-dlq")})
	require.NoError(t, err)
	_ = dlq
	jobs, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sluicetest.Account + `:jobs-dlq","maxReceiveCount":1}`}})
	require.NoError(t, err)
	idle, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("idle"),
		Attributes: map[string]string{"MessageRetentionPeriod": "60"}})
	require.NoError(t, err)

	for _, body := range []string{"m1", "m2", "m3", "m4", "m5"} {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: jobs.QueueUrl, MessageBody: aws.String(body)})
		require.NoError(t, err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: idle.QueueUrl, MessageBody: aws.String("later"), DelaySeconds: 30})
	require.NoError(t, err)
	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: jobs.QueueUrl, MaxNumberOfMessages: 3, VisibilityTimeout: 30})
	require.NoError(t, err)
	require.Len(t, r.Messages, 3)
	for _, m := range r.Messages[:2] {
		_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: jobs.QueueUrl, ReceiptHandle: m.ReceiptHandle})
		require.NoError(t, err)
	}
	empty, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: idle.QueueUrl})
	require.NoError(t, err)
	require.Empty(t, empty.Messages)
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	require.Error(t, err)

	q := func(name string) []string { return []string{"account", sluicetest.Account, "queue", name} }
	require.Equal(t, 5.0, b.value(t, "sluice_messages_sent_total", q("jobs")...))
	require.Equal(t, 3.0, b.value(t, "sluice_messages_received_total", q("jobs")...))
	require.Equal(t, 2.0, b.value(t, "sluice_messages_deleted_total", q("jobs")...))
	require.Equal(t, 1.0, b.value(t, "sluice_receives_empty_total", q("idle")...))
	require.Equal(t, 2.0, b.value(t, "sluice_queue_messages", append(q("jobs"), "state", "visible")...))
	require.Equal(t, 1.0, b.value(t, "sluice_queue_messages", append(q("jobs"), "state", "in_flight")...))
	require.Equal(t, 1.0, b.value(t, "sluice_queue_messages", append(q("idle"), "state", "delayed")...))
	require.Equal(t, 3.0, b.value(t, "sluice_queues"))
	require.Equal(t, 6.0, b.value(t, "sluice_requests_total", "action", "SendMessage", "outcome", "ok"))
	require.Equal(t, 1.0, b.value(t, "sluice_requests_total", "action", "GetQueueUrl", "outcome", "AWS.SimpleQueueService.NonExistentQueue"))
	require.Equal(t, 2.0, b.value(t, "sluice_request_duration_seconds", "action", "DeleteMessage", "outcome", "ok"))

	// 31 s later the undeleted message has been received once, its maxReceiveCount: the next
	// receive moves it to the dead-letter queue and hands out the two others.
	b.srv.Clock.Advance(31 * time.Second)
	require.Equal(t, 31.0, b.value(t, "sluice_queue_oldest_message_age_seconds", q("jobs")...))
	r, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: jobs.QueueUrl, MaxNumberOfMessages: 10})
	require.NoError(t, err)
	require.Len(t, r.Messages, 2)
	require.Equal(t, 1.0, b.value(t, "sluice_messages_dead_lettered_total", q("jobs")...))
	require.Equal(t, 5.0, b.value(t, "sluice_messages_received_total", q("jobs")...))
	require.Equal(t, 1.0, b.value(t, "sluice_queue_messages", append(q("jobs-dlq"), "state", "visible")...))
	require.Equal(t, 0.0, b.value(t, "sluice_queue_oldest_message_age_seconds", q("jobs")...))
	require.Equal(t, 31.0, b.value(t, "sluice_queue_oldest_message_age_seconds", q("jobs-dlq")...))

	// Past its 60-second retention the idle queue's message is swept.
	b.srv.Clock.Advance(time.Minute)
	require.Equal(t, 1, b.srv.Service.Sweep(ctx))
	require.Equal(t, 1.0, b.value(t, "sluice_messages_expired_total", q("idle")...))

	// The exposition itself: what Prometheus scrapes.
	rec := httptest.NewRecorder()
	b.m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	require.Contains(t, string(body), `sluice_messages_sent_total{account="000000000000",queue="jobs"} 5`)
	require.Contains(t, string(body), "# TYPE sluice_request_duration_seconds histogram")

	// Deleting a queue removes its series.
	_, err = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: idle.QueueUrl})
	require.NoError(t, err)
	mfs, err := b.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				require.False(t, l.GetName() == "queue" && l.GetValue() == "idle", "series of a deleted queue: %s", mf.GetName())
			}
		}
	}
}

// TestDiskEngineStorage checks the disk engine's store size and fsync latency histogram.
func TestDiskEngineStorage(t *testing.T) {
	t.Parallel()
	eng, err := diskengine.Open(context.Background(), diskengine.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	b := setup(t, eng)
	u, err := b.srv.Client.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String("q")})
	require.NoError(t, err)
	_, err = b.srv.Client.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: u.QueueUrl, MessageBody: aws.String(strings.Repeat("x", 1000))})
	require.NoError(t, err)
	require.Greater(t, b.value(t, "sluice_storage_size_bytes"), 0.0)
	require.Greater(t, b.value(t, "sluice_storage_sync_duration_seconds"), 0.0, "fsyncs counted")
}

// TestMaxQueues checks that a scrape reads at most MaxQueues queues and says how many it left.
func TestMaxQueues(t *testing.T) {
	t.Parallel()
	eng := memengine.New()
	t.Cleanup(func() { _ = eng.Close() })
	for _, n := range []string{"a", "b", "c"} {
		_, err := eng.QueueCreate(context.Background(), &engine.QueueCreateParams{Key: engine.QueueKey{Account: "1", Name: n}, Now: time.Now()})
		require.NoError(t, err)
	}
	reg := prometheus.NewRegistry()
	_, err := metrics.New(metrics.Options{Registry: reg, Engine: eng, MaxQueues: 2})
	require.NoError(t, err)
	b := &testBundle{reg: reg}
	require.Equal(t, 3.0, b.value(t, "sluice_queues"))
	require.Equal(t, 1.0, b.value(t, "sluice_queues_not_scraped"))
	require.Equal(t, 0.0, b.value(t, "sluice_queue_messages", "account", "1", "queue", "b", "state", "visible"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "sluice_queue_messages" {
			require.Len(t, mf.GetMetric(), 6, "two queues, three states")
		}
	}
}

// TestQueueDeletedDropsSeries checks that deleting a queue drops its series of every event
// counter, and only its own.
func TestQueueDeletedDropsSeries(t *testing.T) {
	t.Parallel()
	eng := memengine.New()
	t.Cleanup(func() { _ = eng.Close() })
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Options{Registry: reg, Engine: eng})
	require.NoError(t, err)
	gone := engine.QueueKey{Account: "1", Name: "gone"}
	kept := engine.QueueKey{Account: "1", Name: "kept"}
	kinds := []queue.EventKind{queue.EventSent, queue.EventReceived, queue.EventEmptyReceive, queue.EventDeleted,
		queue.EventDeadLettered, queue.EventExpired, queue.EventPurged}
	for _, k := range kinds {
		m.Observe(queue.Event{Kind: k, Queue: gone, Count: 1})
		m.Observe(queue.Event{Kind: k, Queue: kept, Count: 2})
	}
	series := func() map[string]int {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		n := map[string]int{}
		for _, mf := range mfs {
			if mf.GetType() != dto.MetricType_COUNTER {
				continue
			}
			for _, mt := range mf.GetMetric() {
				for _, l := range mt.GetLabel() {
					if l.GetName() == "queue" {
						n[l.GetValue()]++
					}
				}
			}
		}
		return n
	}
	require.Equal(t, map[string]int{"gone": len(kinds), "kept": len(kinds)}, series())
	m.Observe(queue.Event{Kind: queue.EventQueueDeleted, Queue: gone})
	require.Equal(t, map[string]int{"kept": len(kinds)}, series())
}

// TestFairQueueTenants sends to a standard queue with group ids through the SDK and reads the
// tenants gauges.
func TestFairQueueTenants(t *testing.T) {
	t.Parallel()
	b := setup(t, memengine.New())
	c := b.srv.Client
	ctx := b.ctx
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("shared")})
	require.NoError(t, err)
	for i, tenant := range []string{"acme", "acme", "acme", "globex", ""} {
		in := &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprint("m", i))}
		if tenant != "" {
			in.MessageGroupId = aws.String(tenant)
		}
		_, err := c.SendMessage(ctx, in)
		require.NoError(t, err)
	}
	labels := []string{"account", sluicetest.Account, "queue", "shared"}
	require.Equal(t, 2.0, b.value(t, "sluice_queue_tenants", labels...))
	require.Equal(t, 3.0, b.value(t, "sluice_queue_largest_tenant_messages", labels...))
}
