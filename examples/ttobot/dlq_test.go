package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ttobot/internal/bot"
	"ttobot/internal/sqsqueue"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sqsClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
}

// maxReceives reads the maxReceiveCount of a queue's RedrivePolicy.
func maxReceives(t *testing.T, c *sqs.Client, url string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &p); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", out.Attributes["RedrivePolicy"], err)
	}
	return fmt.Sprint(p["maxReceiveCount"])
}

// TestDeadLetterQueue: a delivery whose handling fails every time is received maxReceiveCount
// times, then moves to its lane's FIFO dead-letter queue (with a log line saying so) instead of
// being retried forever, and the member's next delivery in the same message group, held back
// behind it until then, is handled. The lanes get RedrivePolicy maxReceiveCount 5 by default,
// and a changed setting reaches queues created by an earlier start.
func TestDeadLetterQueue(t *testing.T) {
	sl := startSluice(t, "", "")
	ctx := context.Background()
	client := sqsClient(sl.Endpoint)

	// The default, and a changed setting on the same queues.
	q, err := sqsqueue.New(ctx, sqsqueue.Config{Endpoint: sl.Endpoint, QueuePrefix: "dlq-default-"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, lane := range []bot.Lane{bot.LaneInteractive, bot.LaneRecords} {
		if got := maxReceives(t, client, q.URL(lane)); got != "5" {
			t.Fatalf("%s: default maxReceiveCount %s, want 5", lane, got)
		}
		if !strings.HasSuffix(q.DLQURL(lane), "/dlq-default-"+string(lane)+"-dlq.fifo") {
			t.Fatalf("%s: dead-letter queue %s", lane, q.DLQURL(lane))
		}
	}
	q, err = sqsqueue.New(ctx, sqsqueue.Config{Endpoint: sl.Endpoint, QueuePrefix: "dlq-default-", MaxReceiveCount: 7}, testLogger(t))
	if err != nil {
		t.Fatalf("restart with another maxReceiveCount: %v", err)
	}
	if got := maxReceives(t, client, q.URL(bot.LaneRecords)); got != "7" {
		t.Fatalf("maxReceiveCount after restart %s, want 7", got)
	}

	// A poison delivery with a 1 s visibility timeout and maxReceiveCount 3.
	const maxCount = 3
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err = sqsqueue.New(ctx, sqsqueue.Config{Endpoint: sl.Endpoint, QueuePrefix: "dlq-poison-", Visibility: time.Second,
		WaitTime: 1, MaxReceiveCount: maxCount}, log)
	if err != nil {
		t.Fatal(err)
	}
	poison := &bot.Envelope{Kind: bot.KindEvent, Key: "ev:EvPoison", Group: team + ":U0000", ReceivedAt: time.Now(), Body: "{}"}
	next := &bot.Envelope{Kind: bot.KindEvent, Key: "ev:EvNext", Group: team + ":U0000", ReceivedAt: time.Now(), Body: "{}"}
	for _, env := range []*bot.Envelope{poison, next} {
		if err := q.Enqueue(ctx, bot.LaneRecords, env); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	start := time.Now()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(cctx, bot.LaneRecords, 2, func(_ context.Context, env *bot.Envelope) error {
			mu.Lock()
			defer mu.Unlock()
			attempts[env.Key]++
			if env.Key == poison.Key {
				return errors.New("poison")
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	var dead types.Message
	eventually(t, 15*time.Second, "the poison delivery in the dead-letter queue", func() bool {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.DLQURL(bot.LaneRecords)),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			if len(out.Messages) != 1 {
				t.Fatalf("dead-letter queue holds %d messages, want 1", len(out.Messages))
			}
			dead = out.Messages[0]
			return true
		}
		return false
	}, nil)
	t.Logf("dead-lettered after %v", time.Since(start).Round(time.Millisecond))
	var env bot.Envelope
	if err := json.Unmarshal([]byte(aws.ToString(dead.Body)), &env); err != nil || env.Key != poison.Key {
		t.Fatalf("dead letter %q: %v", aws.ToString(dead.Body), err)
	}
	eventually(t, 5*time.Second, "the next delivery of the member", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return attempts[next.Key] == 1
	}, nil)
	time.Sleep(1500 * time.Millisecond) // past a visibility timeout: a wrongly kept poison message would be back
	mu.Lock()
	if attempts[poison.Key] != maxCount || attempts[next.Key] != 1 {
		t.Errorf("attempts %v, want %d of the poison delivery and 1 of the next", attempts, maxCount)
	}
	mu.Unlock()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL(bot.LaneRecords)),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attributes["ApproximateNumberOfMessages"] != "0" || out.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("lane queue not empty: %v", out.Attributes)
	}
	l := logs.String()
	if strings.Count(l, "goes to the dead-letter queue") != 1 || !strings.Contains(l, "receives=3") ||
		!strings.Contains(l, "dlq=dlq-poison-records-dlq.fifo") || !strings.Contains(l, "key=ev:EvPoison") {
		t.Errorf("want one dead-letter log line for the poison delivery after 3 receives; logs:\n%s", l)
	}
	if strings.Count(l, "will be redelivered") != maxCount-1 {
		t.Errorf("want %d redelivery warnings; logs:\n%s", maxCount-1, l)
	}
}
