package main

import (
	"bytes"
	"context"
	"net"
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
	time.Sleep(200 * time.Millisecond) // let the poll reach the server; not a timing assertion
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
	require.Contains(t, out.String(), "storage must be disk or memory")
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
