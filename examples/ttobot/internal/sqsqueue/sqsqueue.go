// Package sqsqueue carries ttobot's envelopes on Sluice (or any SQS endpoint) through
// aws-sdk-go-v2: one FIFO queue per lane, the delivery's idempotency key as the deduplication
// id and the member as the message group, and a pool of long-polling consumers.
package sqsqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	Endpoint    string            // e.g. http://127.0.0.1:9324
	Region      string            // us-east-1 when empty
	AccessKey   string            // "x" when empty (Sluice without auth accepts anything)
	SecretKey   string            // "x" when empty
	QueuePrefix string            // "ttobot-" when empty; queues are PREFIX+lane+".fifo"
	Visibility  time.Duration     // visibility timeout of the queues; 30s when zero
	WaitTime    int32             // long-poll seconds; 5 when zero
	Attributes  map[string]string // extra queue attributes (e.g. RedrivePolicy)
}

// Queue is the set of lane queues.
type Queue struct {
	client *sqs.Client
	cfg    Config
	log    *slog.Logger
	urls   map[bot.Lane]string
}

// New creates (or finds) the lane queues.
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
	client := sqs.New(sqs.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
	})
	q := &Queue{client: client, cfg: cfg, log: log, urls: map[bot.Lane]string{}}
	for _, lane := range []bot.Lane{bot.LaneInteractive, bot.LaneRecords} {
		attrs := map[string]string{
			"FifoQueue":         "true",
			"VisibilityTimeout": fmt.Sprint(int(cfg.Visibility.Seconds())),
		}
		for k, v := range cfg.Attributes {
			attrs[k] = v
		}
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(cfg.QueuePrefix + string(lane) + ".fifo"), Attributes: attrs})
		if err != nil {
			return nil, fmt.Errorf("sqsqueue: create %s queue: %w", lane, err)
		}
		q.urls[lane] = aws.ToString(out.QueueUrl)
	}
	return q, nil
}

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
			q.handle(ctx, log, url, m, h)
		}
	}
}

func (q *Queue) handle(ctx context.Context, log *slog.Logger, url string, m types.Message, h Handler) {
	var env bot.Envelope
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
		log.Error("undecodable message; deleting", "id", aws.ToString(m.MessageId), "err", err)
	} else if err := h(ctx, &env); err != nil {
		if !errors.Is(err, context.Canceled) {
			log.Warn("handling failed; message will be redelivered", "key", env.Key, "err", err)
		}
		return
	}
	// The delete must not be cut short by shutdown: the work is done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := q.client.DeleteMessage(dctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		log.Warn("delete failed; the delivery key keeps a redelivery harmless", "err", err)
	}
}
