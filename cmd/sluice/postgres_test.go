package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"sluice/internal/engine/pgengine/pgtest"
	"sluice/internal/sluicetest"
)

// TestServePostgres runs two `sluice serve --storage=postgres` nodes on one schema (configured
// through SLUICE_POSTGRES_URL and SLUICE_POSTGRES_SCHEMA): a long poll on one node is answered
// by a send to the other.
func TestServePostgres(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	env := map[string]string{"SLUICE_POSTGRES_URL": pgtest.URL(), "SLUICE_POSTGRES_SCHEMA": schema}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var addrs []string
	done := make(chan int, 2)
	var stderr syncBuffer
	for range 2 {
		addr := freeAddr(t)
		addrs = append(addrs, addr)
		args := []string{"serve", "--listen", addr, "--storage", "postgres"}
		go func() { done <- run(ctx, args, &stderr, &stderr, getenv) }()
		waitUp(t, addr)
	}
	a, b := sluicetest.NewClient("http://"+addrs[0]), sluicetest.NewClient("http://"+addrs[1])
	_, err := a.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs")})
	require.NoError(t, err)
	urlA, urlB := "http://"+addrs[0]+"/000000000000/jobs", "http://"+addrs[1]+"/000000000000/jobs"

	got := make(chan *sqs.ReceiveMessageOutput, 1)
	go func() {
		out, err := b.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(urlB), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		got <- out
	}()
	waitLongPolls(t, addrs[1], 1)
	_, err = a.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(urlA), MessageBody: aws.String("across")})
	require.NoError(t, err)
	select {
	case out := <-got:
		require.NotNil(t, out)
		require.Len(t, out.Messages, 1)
		require.Equal(t, "across", *out.Messages[0].Body)
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll on node B was not woken by the send to node A")
	}
	cancel()
	require.Equal(t, 0, <-done, stderr.String())
	require.Equal(t, 0, <-done, stderr.String())
}
