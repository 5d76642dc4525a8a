package sdkcompat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"sluice/internal/auth"
	"sluice/internal/httpserver"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

func noRetries(o *sqs.Options) { o.Retryer = aws.NopRetryer{} }

func TestMaxQueuesPerAccount(t *testing.T) {
	t.Parallel()
	srv := sluicetest.NewServer(t, sluicetest.Options{Credentials: []auth.Credential{alice, bob},
		Service: queue.Options{MaxQueuesPerAccount: 2}})
	ctx := context.Background()
	bobc := sluicetest.NewClientFor(srv.URL, bob.AccessKeyID, bob.SecretAccessKey)
	for _, n := range []string{"a", "b"} {
		_, err := srv.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(n)})
		require.NoError(t, err)
	}
	_, err := srv.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("c")})
	requireCode(t, err, "OverLimit")
	_, err = srv.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("a")})
	require.NoError(t, err, "creating an existing queue again is not a new queue")
	_, err = bobc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("c")})
	require.NoError(t, err, "the cap is per account")
}

func TestMaxLongPolls(t *testing.T) {
	t.Parallel()
	srv := sluicetest.NewServer(t, sluicetest.Options{Service: queue.Options{MaxLongPolls: 2}})
	ctx := context.Background()
	q, err := srv.Client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("polls")})
	require.NoError(t, err)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := srv.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20})
			done <- err
		}()
	}
	waitParked(t, srv, 2)
	_, err = srv.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20}, noRetries)
	requireCode(t, err, "RequestThrottled")
	// A receive that finds a message does not wait, so the cap does not stop it.
	_, err = srv.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("m")})
	require.NoError(t, err)
	require.NoError(t, <-done) // one waiter took the message, freeing its slot
	go func() {
		_, err := srv.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20}, noRetries)
		done <- err
	}()
	waitParked(t, srv, 2)
	srv.Clock.Advance(21 * time.Second)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.Eventually(t, func() bool { return srv.Service.LongPolls() == 0 }, 5*time.Second, time.Millisecond)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	srv := sluicetest.NewServer(t, sluicetest.Options{Credentials: []auth.Credential{alice, bob},
		HTTP: func(o *httpserver.Options) { o.RateLimit, o.RateBurst = 5, 5 }})
	ctx := context.Background()
	bobc := sluicetest.NewClientFor(srv.URL, bob.AccessKeyID, bob.SecretAccessKey)
	for i := range 5 {
		_, err := srv.Client.ListQueues(ctx, &sqs.ListQueuesInput{}, noRetries)
		require.NoError(t, err, "request %d", i)
	}
	_, err := srv.Client.ListQueues(ctx, &sqs.ListQueuesInput{}, noRetries)
	requireCode(t, err, "RequestThrottled")
	_, err = bobc.ListQueues(ctx, &sqs.ListQueuesInput{}, noRetries)
	require.NoError(t, err, "each account has its own budget")
	srv.Clock.Advance(200 * time.Millisecond) // one token back
	_, err = srv.Client.ListQueues(ctx, &sqs.ListQueuesInput{}, noRetries)
	require.NoError(t, err)
	_, err = srv.Client.ListQueues(ctx, &sqs.ListQueuesInput{}, noRetries)
	requireCode(t, err, "RequestThrottled")
	// SDKs treat RequestThrottled as a throttling error and retry it.
	require.True(t, retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool(), fmt.Sprint(err))
}
