package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// ErrNotSupported is returned when a target cannot run a scenario (FIFO queues or unbatched
// calls on a peer that has no such thing).
var ErrNotSupported = errors.New("not supported for this target")

// Target is a queue system the load generator drives. A target creates uniquely named queues;
// each scenario creates its own and deletes it at the end.
type Target interface {
	// Kind is the target's kind: "sqs", "sqs-lean", "null", "null-lean", "rabbitmq" or "nats".
	Kind() string
	// Endpoint is the URL the target talks to.
	Endpoint() string
	// Durability says when the target acknowledges a write (for the report).
	Durability() string
	// CreateQueue creates a fresh queue for one run.
	CreateQueue(ctx context.Context, spec QueueSpec) (Queue, error)
	// Close releases the target's connections.
	Close() error
}

// QueueSpec describes the queue a scenario needs.
type QueueSpec struct {
	// Name is unique per run; targets may adapt it to their naming rules.
	Name string
	// FIFO asks for strict order per message group.
	FIFO bool
	// Visibility is how long a received message stays hidden (or unacknowledged) before it is
	// delivered again; scenarios set it beyond their run so no message is redelivered.
	Visibility time.Duration
	// Batch is the consumers' batch size (RabbitMQ's prefetch, NATS's fetch size).
	Batch int
}

// Queue is one queue of a target.
type Queue interface {
	// NewProducer returns a producer for one goroutine.
	NewProducer(ctx context.Context) (Producer, error)
	// NewConsumer returns a consumer for one goroutine.
	NewConsumer(ctx context.Context) (Consumer, error)
	// Delete deletes the queue and everything in it.
	Delete(ctx context.Context) error
}

// OutMsg is a message to send.
type OutMsg struct {
	Body    []byte
	Group   string // FIFO message group; on a standard SQS queue, a fair-queue tenant
	DedupID string // FIFO deduplication id
}

// InMsg is a received message.
type InMsg struct {
	Body   []byte
	handle any
}

// Producer sends messages; it is used by one goroutine.
type Producer interface {
	// SendBatch sends msgs as one batch (or the target's nearest equivalent). It returns one
	// error per message (nil when the message was accepted), or a single error when the whole
	// call failed (then no message of the batch counts as accepted).
	SendBatch(ctx context.Context, msgs []OutMsg) ([]error, error)
	Close() error
}

// Consumer receives and acknowledges messages; it is used by one goroutine.
type Consumer interface {
	// Receive returns up to max messages, waiting up to wait for the first one.
	Receive(ctx context.Context, max int, wait time.Duration) ([]InMsg, error)
	// Ack deletes (acknowledges) msgs, all returned by this consumer's Receive. It returns the
	// number acknowledged.
	Ack(ctx context.Context, msgs []InMsg) (int, error)
	Close() error
}

// Unbatched is implemented by queues that have single-message calls (SQS's SendMessage,
// ReceiveMessage of one, DeleteMessage); the single scenario needs it.
type Unbatched interface {
	SendOne(ctx context.Context, m OutMsg) error
	ReceiveOne(ctx context.Context, wait time.Duration) (*InMsg, error)
	DeleteOne(ctx context.Context, m InMsg) error
}

// ParseTarget splits a target spec "kind=URL" (or just "kind", which takes the kind's default
// URL; "null" alone starts an in-process null server). Kind "lean" is an SQS endpoint driven by
// the lean JSON client (LeanTarget) in place of the SDK, "null-lean" a null server driven by it.
func ParseTarget(spec string) (kind, url string, err error) {
	kind, url, _ = strings.Cut(spec, "=")
	switch kind {
	case "sqs", "lean":
		if url == "" {
			url = DefaultSQSEndpoint
		}
	case "null":
	case "null-lean":
		if url == "" {
			return "", "", fmt.Errorf("target %q: null-lean needs the URL of a running null server (sluice bench null)", spec)
		}
	case "rabbitmq":
		if url == "" {
			url = "amqp://guest:guest@127.0.0.1:5672/"
		}
	case "nats":
		if url == "" {
			url = "nats://127.0.0.1:4222"
		}
	default:
		return "", "", fmt.Errorf("target %q: kind must be sqs, lean, null, null-lean, rabbitmq or nats", spec)
	}
	return kind, url, nil
}

// DefaultSQSEndpoint is the default SQS endpoint: a local `sluice serve`.
const DefaultSQSEndpoint = "http://127.0.0.1:9324"

// OpenTarget connects to the target a spec names. size is the body size of an in-process null
// server's canned messages.
func OpenTarget(ctx context.Context, spec string, size int) (Target, error) {
	kind, url, err := ParseTarget(spec)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "sqs":
		return NewSQSTarget(url, false), nil
	case "lean":
		return NewLeanTarget(url), nil
	case "null-lean":
		return NewLeanNullTarget(url), nil
	case "null":
		if url == "" {
			return startInProcessNull(size)
		}
		return NewSQSTarget(url, true), nil
	case "rabbitmq":
		return OpenRabbitMQ(ctx, url)
	default:
		return OpenNATS(ctx, url)
	}
}

// isNull reports whether t is a null server (through the SDK or the lean client), whose canned
// messages carry no ids or send times.
func isNull(t Target) bool { return t.Kind() == "null" || t.Kind() == "null-lean" }

// nextOf returns the next of items in turn, counting with next (shared by the callers that take
// turns over the same items).
func nextOf[T any](items []T, next *atomic.Int64) T {
	return items[int(next.Add(1)-1)%len(items)]
}
