// Package sqsqueue carries ttobot's envelopes on Sluice (or any SQS endpoint) through
// aws-sdk-go-v2: one FIFO queue per lane, the delivery's idempotency key as the deduplication
// id and the member as the message group, and a pool of long-polling consumers. Each lane has a
// FIFO dead-letter queue: a message received MaxReceiveCount times without being deleted is
// moved there instead of being retried forever.
package sqsqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ttobot/internal/bot"
)

// Config names the endpoint and the queues.
type Config struct {
	Endpoint    string        // e.g. http://127.0.0.1:9324
	Region      string        // us-east-1 when empty
	AccessKey   string        // "x" when empty (Sluice without auth accepts anything)
	SecretKey   string        // "x" when empty
	QueuePrefix string        // "ttobot-" when empty; queues are PREFIX+lane+".fifo"
	Visibility  time.Duration // visibility timeout of the queues; 30s when zero
	WaitTime    int32         // long-poll seconds; 5 when zero
	// MaxReceiveCount is the RedrivePolicy's maxReceiveCount: a message received this many
	// times without being deleted moves to the lane's dead-letter queue
	// (PREFIX+lane+"-dlq.fifo"). DefaultMaxReceiveCount when zero or less.
	MaxReceiveCount int
	Attributes      map[string]string // extra attributes of the lane queues; they win over ours
}

// DefaultMaxReceiveCount is the receives after which a failing message is dead-lettered.
const DefaultMaxReceiveCount = 5

// dlqRetention keeps dead letters for SQS's maximum, 14 days, so someone can look at them.
const dlqRetention = 14 * 24 * time.Hour

// Queue is the set of lane queues.
type Queue struct {
	client *sqs.Client
	cfg    Config
	log    *slog.Logger
	urls   map[bot.Lane]string
	dlqs   map[bot.Lane]string
}

// QueueName is the name of lane's queue under prefix.
func QueueName(prefix string, lane bot.Lane) string { return prefix + string(lane) + ".fifo" }

// DLQName is the name of lane's dead-letter queue under prefix.
func DLQName(prefix string, lane bot.Lane) string { return prefix + string(lane) + "-dlq.fifo" }

// New creates (or finds) the lane queues and their dead-letter queues, and sets the lane
// queues' visibility timeout and RedrivePolicy, so that an existing deployment picks up a
// changed setting at start.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Queue, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccessKey == "" {
		cfg.AccessKey, cfg.SecretKey = "x", "x"
	}
	if cfg.QueuePrefix == "" {
		cfg.QueuePrefix = "ttobot-"
	}
	if cfg.Visibility <= 0 {
		cfg.Visibility = 30 * time.Second
	}
	if cfg.WaitTime <= 0 {
		cfg.WaitTime = 5
	}
	if cfg.MaxReceiveCount <= 0 {
		cfg.MaxReceiveCount = DefaultMaxReceiveCount
	}
	client := sqs.New(sqs.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
	})
	q := &Queue{client: client, cfg: cfg, log: log, urls: map[bot.Lane]string{}, dlqs: map[bot.Lane]string{}}
	for _, lane := range []bot.Lane{bot.LaneInteractive, bot.LaneRecords} {
		dlqURL, err := q.create(ctx, DLQName(cfg.QueuePrefix, lane), map[string]string{
			"MessageRetentionPeriod": fmt.Sprint(int(dlqRetention.Seconds())),
		})
		if err != nil {
			return nil, fmt.Errorf("sqsqueue: %s dead-letter queue: %w", lane, err)
		}
		arn, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(dlqURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
		if err != nil {
			return nil, fmt.Errorf("sqsqueue: %s dead-letter queue arn: %w", lane, err)
		}
		redrive, err := json.Marshal(map[string]string{
			"deadLetterTargetArn": arn.Attributes[string(types.QueueAttributeNameQueueArn)],
			"maxReceiveCount":     fmt.Sprint(cfg.MaxReceiveCount),
		})
		if err != nil {
			return nil, err
		}
		attrs := map[string]string{
			"VisibilityTimeout": fmt.Sprint(int(cfg.Visibility.Seconds())),
			"RedrivePolicy":     string(redrive),
		}
		for k, v := range cfg.Attributes {
			attrs[k] = v
		}
		url, err := q.create(ctx, QueueName(cfg.QueuePrefix, lane), attrs)
		if err != nil {
			return nil, fmt.Errorf("sqsqueue: %s queue: %w", lane, err)
		}
		q.urls[lane], q.dlqs[lane] = url, dlqURL
	}
	return q, nil
}

// create creates the FIFO queue name, or finds it, and then sets attrs on it. CreateQueue is
// given only FifoQueue: SQS refuses to "create" an existing queue with other attribute values,
// and a changed setting (e.g. the maxReceiveCount) must reach queues made by an earlier start.
func (q *Queue) create(ctx context.Context, name string, attrs map[string]string) (string, error) {
	out, err := q.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	url := aws.ToString(out.QueueUrl)
	if _, err := q.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
		return "", fmt.Errorf("set attributes of %s: %w", name, err)
	}
	return url, nil
}

// URL returns the URL of lane's queue.
func (q *Queue) URL(lane bot.Lane) string { return q.urls[lane] }

// DLQURL returns the URL of lane's dead-letter queue.
func (q *Queue) DLQURL(lane bot.Lane) string { return q.dlqs[lane] }

// DedupID turns an idempotency key into a deduplication id (at most 128 characters).
func DedupID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Enqueue implements bot.Enqueuer: SendMessage returns once the queue has stored it.
func (q *Queue) Enqueue(ctx context.Context, lane bot.Lane, env *bot.Envelope) error {
	body, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("sqsqueue: encode: %w", err)
	}
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(q.urls[lane]),
		MessageBody:            aws.String(string(body)),
		MessageGroupId:         aws.String(env.Group),
		MessageDeduplicationId: aws.String(DedupID(env.Key)),
	})
	if err != nil {
		return fmt.Errorf("sqsqueue: send to %s: %w", lane, err)
	}
	return nil
}

// Handler acts on one envelope; nil means delete it from the queue.
type Handler func(ctx context.Context, env *bot.Envelope) error

// Consume runs workers long-polling consumers on lane until ctx ends. A message is deleted
// only after h returned nil; otherwise it becomes visible again after the visibility timeout.
func (q *Queue) Consume(ctx context.Context, lane bot.Lane, workers int, h Handler) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() { q.consume(ctx, lane, h) })
	}
	wg.Wait()
}

func (q *Queue) consume(ctx context.Context, lane bot.Lane, h Handler) {
	url := q.urls[lane]
	log := q.log.With("lane", lane)
	for ctx.Err() == nil {
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: q.cfg.WaitTime,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("receive failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for _, m := range out.Messages {
			q.handle(ctx, log, lane, url, m, h)
		}
	}
}

func (q *Queue) handle(ctx context.Context, log *slog.Logger, lane bot.Lane, url string, m types.Message, h Handler) {
	var env bot.Envelope
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
		log.Error("undecodable message; deleting", "id", aws.ToString(m.MessageId), "err", err)
	} else if err := h(ctx, &env); err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		// The queue moves a message received maxReceiveCount times to the dead-letter queue at
		// its next receive, so the failure of that last receive is the one to report.
		receives, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if receives >= q.cfg.MaxReceiveCount {
			log.Error("handling failed for the last time; message goes to the dead-letter queue",
				"key", env.Key, "id", aws.ToString(m.MessageId), "receives", receives,
				"dlq", DLQName(q.cfg.QueuePrefix, lane), "err", err)
			return
		}
		log.Warn("handling failed; message will be redelivered", "key", env.Key, "receives", receives, "err", err)
		return
	}
	// The delete must not be cut short by shutdown: the work is done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := q.client.DeleteMessage(dctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		log.Warn("delete failed; the delivery key keeps a redelivery harmless", "err", err)
	}
}
