package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"sluice/internal/sluicetest"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func waitUp(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server at %s did not come up", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLongPolls waits until the server at addr reports n receives waiting (its
// sluice_long_polls_waiting gauge), so that a test acts on a parked long poll rather than
// after a guessed delay.
func waitLongPolls(t *testing.T, addr string, n int) {
	t.Helper()
	want := fmt.Sprintf("\nsluice_long_polls_waiting %d\n", n)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if strings.Contains(string(b), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server at %s never had %d long polls waiting", addr, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeShutdown runs `sluice serve` on the disk engine, parks a long poll, cancels the
// context (as SIGTERM does), and checks that the long poll is answered, the command exits 0,
// and the data is there when it starts again.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	args := []string{"serve", "--listen", addr, "--data-dir", dir}
	go func() { done <- run(ctx, args, &stderr, &stderr, func(string) string { return "" }) }()
	waitUp(t, addr)

	c := sluicetest.NewClient("http://" + addr)
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	require.NoError(t, err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("kept")})
	require.NoError(t, err)
	other, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("empty")})
	require.NoError(t, err)

	polled := make(chan error, 1)
	start := time.Now()
	go func() {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: other.QueueUrl, WaitTimeSeconds: 20})
		if err == nil && len(out.Messages) != 0 {
			err = errTest("long poll returned messages from an empty queue")
		}
		polled <- err
	}()
	waitLongPolls(t, addr, 1)
	cancel()
	require.NoError(t, <-polled)
	require.Less(t, time.Since(start), 15*time.Second, "shutdown must answer a waiting long poll, not wait it out")
	require.Equal(t, 0, <-done, stderr.String())

	// Start again on the same data dir: the message is still there.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { done <- run(ctx2, args, &stderr, &stderr, func(string) string { return "" }) }()
	waitUp(t, addr)
	out, err := c.ReceiveMessage(ctx2, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	require.Equal(t, "kept", *out.Messages[0].Body)

	// A second server on the same data dir is refused with a clear error.
	var second bytes.Buffer
	code := run(context.Background(), []string{"serve", "--listen", freeAddr(t), "--data-dir", dir}, &second, &second, func(string) string { return "" })
	require.Equal(t, 1, code)
	require.Contains(t, second.String(), "in use by another sluice process")
	cancel2()
	require.Equal(t, 0, <-done)
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.Equal(t, 2, run(context.Background(), nil, &out, &out, os.Getenv))
	require.Contains(t, out.String(), "sluice serve")
	out.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"frobnicate"}, &out, &out, os.Getenv))
	out.Reset()
	require.Equal(t, 1, run(context.Background(), []string{"serve", "--storage", "tape"}, &out, &out, os.Getenv))
	require.Contains(t, out.String(), "storage must be disk, memory or postgres")
	out.Reset()
	require.Equal(t, 0, run(context.Background(), []string{"serve", "-h"}, &out, &out, os.Getenv))
	require.Contains(t, out.String(), "-data-dir")
}

// TestSignal builds the binary and checks that SIGTERM makes it exit 0.
func TestSignal(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--storage", "memory", "--log-format", "json")
	var logs syncBuffer
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	waitUp(t, addr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), logs.String())
	require.True(t, strings.Contains(logs.String(), `"msg":"shutting down"`), logs.String())
}

// TestDeclaredQueues starts `sluice serve` with the example config file and checks through the
// SDK that the declared queues are there as declared; a second start with a changed file updates
// the changed attribute.
func TestDeclaredQueues(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join("..", "..", "examples", "declared-queues", "sluice.toml")
	args := []string{"serve", "--config", file, "--storage", "disk", "--listen", addr, "--data-dir", dir}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stderr, &stderr, func(string) string { return "" }) }()
	waitUp(t, addr)
	c := sluicetest.NewClient("http://" + addr)
	attrs := func(name string) map[string]string {
		u, err := c.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		require.NoError(t, err, name)
		out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		require.NoError(t, err)
		return out.Attributes
	}
	require.Equal(t, "60", attrs("orders")["VisibilityTimeout"])
	require.Contains(t, attrs("orders")["RedrivePolicy"], ":orders-dlq")
	require.Equal(t, "true", attrs("payments.fifo")["ContentBasedDeduplication"])
	require.Contains(t, attrs("payments.fifo")["RedrivePolicy"], ":payments-dlq.fifo")
	require.Equal(t, "1209600", attrs("payments-dlq.fifo")["MessageRetentionPeriod"])
	cancel()
	require.Equal(t, 0, <-done, stderr.String())

	// Start again with VisibilityTimeout changed in the file.
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	changed := filepath.Join(t.TempDir(), "sluice.toml")
	require.NoError(t, os.WriteFile(changed, bytes.Replace(text, []byte("VisibilityTimeout = 60 "), []byte("VisibilityTimeout = 90 "), 1), 0o600))
	args[2] = changed
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- run(ctx, args, &stderr, &stderr, func(string) string { return "" }) }()
	waitUp(t, addr)
	require.Equal(t, "90", attrs("orders")["VisibilityTimeout"])
	require.Contains(t, stderr.String(), "declared queue changed")
	cancel()
	require.Equal(t, 0, <-done, stderr.String())
}

// TestConfigCheck runs `sluice serve --config-check` on the example file and on broken ones.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	check := func(text string) (int, string) {
		file := filepath.Join(t.TempDir(), "sluice.toml")
		require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
		var out bytes.Buffer
		code := run(context.Background(), []string{"serve", "--config", file, "--config-check"}, &out, &out, func(string) string { return "" })
		return code, out.String()
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "declared-queues", "sluice.toml"))
	require.NoError(t, err)
	code, out := check(string(example))
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "configuration ok (4 declared queues)")

	code, out = check("[[queues]]\nname = \"a\"\nattributes = { VisibilityTimeout = 99999 }\n")
	require.Equal(t, 1, code)
	require.Contains(t, out, `queue "a": attributes.VisibilityTimeout: `)

	code, out = check("[[queues]]\nname = \"a\"\nredrive_policy = { dead_letter_queue = \"b.fifo\", max_receive_count = 2 }\n[[queues]]\nname = \"b.fifo\"\ntype = \"fifo\"\n")
	require.Equal(t, 1, code)
	require.Contains(t, out, `queue "a": redrive_policy.dead_letter_queue: "b.fifo" is a fifo queue`)
}
