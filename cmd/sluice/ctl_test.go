package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"sluice/internal/sluicetest"
)

// startServer runs `sluice serve` on the memory engine and returns its endpoint.
func startServer(t *testing.T, extra ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	args := append([]string{"serve", "--storage", "memory", "--listen", addr, "--purge-interval", "0"}, extra...)
	go func() { done <- run(ctx, args, &stderr, &stderr, func(string) string { return "" }) }()
	t.Cleanup(func() {
		cancel()
		require.Equal(t, 0, <-done, stderr.String())
	})
	waitUp(t, addr)
	return "http://" + addr
}

// sluiceCmd runs an operator command against endpoint and returns its output and exit code.
func sluiceCmd(t *testing.T, endpoint string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"SLUICE_ENDPOINT": endpoint}
	code := run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return out.String() + errOut.String(), code
}

func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	ep := startServer(t)
	ok := func(args ...string) string {
		t.Helper()
		out, code := sluiceCmd(t, ep, args...)
		require.Equal(t, 0, code, out)
		return out
	}
	require.Contains(t, ok("queue", "create", "jobs"), "/000000000000/jobs")
	require.Contains(t, ok("queue", "create", "-fifo", "events.fifo"), "events.fifo")
	ok("send", "jobs", "hello operator")
	ok("send", "jobs", "second")
	ok("send", "-group", "g1", "-dedup", "d1", "events.fifo", "in order")

	out := ok("queues")
	require.Regexp(t, `jobs\s+2\s+0\s+0`, out)
	require.Regexp(t, `events\.fifo\s+1\s+0\s+0`, out)

	out = ok("peek", "jobs")
	require.Contains(t, out, "hello operator")
	require.Contains(t, out, "receives 0")
	require.Regexp(t, `jobs\s+2\s+0\s+0`, ok("queues"), "peek changes nothing")
	require.Contains(t, ok("peek", "-n", "1", "events.fifo"), "group g1")

	out = ok("stats", "jobs")
	require.Contains(t, out, "visible    2")
	require.Contains(t, out, "oldest")
	require.Contains(t, out, "VisibilityTimeout")
	require.Contains(t, ok("queue", "attrs", "jobs"), "QueueArn")

	ok("queue", "purge", "jobs")
	require.Regexp(t, `jobs\s+0\s+0\s+0`, ok("queues"))
	require.Contains(t, ok("peek", "jobs"), "no message is visible now")
	ok("queue", "delete", "jobs")
	require.NotContains(t, ok("queues"), "jobs")

	// Errors are the API's, with exit code 1.
	out, code := sluiceCmd(t, ep, "peek", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, out, "NonExistentQueue")
	out, code = sluiceCmd(t, ep, "send", "only-one-arg")
	require.Equal(t, 1, code)
	require.Contains(t, out, "usage: sluice send QUEUE BODY")
	_, code = sluiceCmd(t, ep, "queue", "frobnicate", "x")
	require.Equal(t, 1, code)
}

func TestRedriveCommand(t *testing.T) {
	t.Parallel()
	ep := startServer(t)
	ctx := context.Background()
	c := sluicetest.NewClient(ep)
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs-dlq")})
	require.NoError(t, err)
	src, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{
		"VisibilityTimeout": "0",
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":1}`}})
	require.NoError(t, err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: src.QueueUrl, MessageBody: aws.String("poison")})
	require.NoError(t, err)
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: src.QueueUrl})
	require.NoError(t, err)
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: src.QueueUrl})
	require.NoError(t, err)
	out, code := sluiceCmd(t, ep, "queues")
	require.Equal(t, 0, code)
	require.Regexp(t, `jobs-dlq\s+1\s+0\s+0`, out)

	out, code = sluiceCmd(t, ep, "redrive", "jobs-dlq")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "redrive started")
	require.Contains(t, out, "COMPLETED: 1 moved")
	out, _ = sluiceCmd(t, ep, "queues")
	require.Regexp(t, `jobs\s+1\s+0\s+0`, out)
	require.Regexp(t, `jobs-dlq\s+0\s+0\s+0`, out)

	out, code = sluiceCmd(t, ep, "redrive", "jobs")
	require.Equal(t, 1, code, "not a dead-letter queue")
	require.Contains(t, out, "starting the redrive")
}

// TestOperatorEndpoints checks that /metrics, /healthz, /readyz and /console sit beside the
// SQS API on one listener without getting in its way.
func TestOperatorEndpoints(t *testing.T) {
	t.Parallel()
	ep := startServer(t)
	c := sluicetest.NewClient(ep)
	ctx := context.Background()
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("metrics")})
	require.NoError(t, err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x")})
	require.NoError(t, err)

	get := func(path string) (int, string) {
		resp, err := http.Get(ep + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz")
	require.Equal(t, 200, code)
	require.Equal(t, "ok\n", body)
	code, _ = get("/readyz")
	require.Equal(t, 200, code)
	code, body = get("/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, `sluice_queue_messages{account="000000000000",queue="metrics",state="visible"} 1`)
	require.Contains(t, body, `sluice_messages_sent_total{account="000000000000",queue="metrics"} 1`)
	require.Contains(t, body, `sluice_requests_total{action="SendMessage",outcome="ok"} 1`)
	require.Contains(t, body, "go_goroutines")
	code, body = get("/console/")
	require.Equal(t, 200, code)
	require.Contains(t, body, "metrics")

	// The SQS API is unchanged: a query-protocol POST to / and a queue URL.
	resp, err := http.Post(ep+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=ListQueues&Version=2012-11-05"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), "<QueueUrl>")
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
}

// TestConsoleOwnListener serves the console on its own address; the SQS listener then has
// none.
func TestConsoleOwnListener(t *testing.T) {
	t.Parallel()
	caddr := freeAddr(t)
	ep := startServer(t, "--console-listen", caddr)
	waitUp(t, caddr)
	resp, err := http.Get("http://" + caddr + "/console/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	resp, err = http.Get(ep + "/console/")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, 200, resp.StatusCode)

	// And --console off turns it off.
	ep = startServer(t, "--console", "off")
	resp, err = http.Get(ep + "/console/")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, 200, resp.StatusCode)
}

// TestPprofListener serves the runtime profiles on their own address when asked, and nowhere
// otherwise.
func TestPprofListener(t *testing.T) {
	t.Parallel()
	paddr := freeAddr(t)
	ep := startServer(t, "--pprof-listen", paddr)
	waitUp(t, paddr)
	resp, err := http.Get("http://" + paddr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), "goroutine profile:")
	resp, err = http.Get(ep + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, 200, resp.StatusCode, "not on the SQS endpoint")
}
