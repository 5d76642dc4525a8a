package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS drives NATS JetStream through its Go client: a work-queue stream on file storage, a
// durable pull consumer with explicit acks shared by the consumers (each fetches batches), and
// producers that publish a batch asynchronously and wait for every PubAck.
type NATS struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

// OpenNATS connects to NATS at url (nats://127.0.0.1:4222).
func OpenNATS(_ context.Context, url string) (*NATS, error) {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second), nats.Name("sluice bench"))
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	return &NATS{url: url, nc: nc, js: js}, nil
}

// Kind implements Target.
func (t *NATS) Kind() string { return "nats" }

// Endpoint implements Target.
func (t *NATS) Endpoint() string { return t.url }

// Durability implements Target.
func (t *NATS) Durability() string {
	return "JetStream file storage: a publish is acknowledged before fsync (the server syncs on a timer, 2 min by default); acks are not confirmed"
}

// Close implements Target.
func (t *NATS) Close() error {
	t.nc.Close()
	return nil
}

// CreateQueue implements Target.
func (t *NATS) CreateQueue(ctx context.Context, spec QueueSpec) (Queue, error) {
	if spec.FIFO {
		return nil, ErrNotSupported
	}
	name := strings.NewReplacer("-", "_", ".", "_").Replace(spec.Name)
	subject := "sluicebench." + name
	s, err := t.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("creating JetStream stream %s: %w", name, err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, AckWait: spec.Visibility, MaxAckPending: 100000,
	})
	if err != nil {
		_ = t.js.DeleteStream(ctx, name)
		return nil, fmt.Errorf("creating JetStream consumer: %w", err)
	}
	return &natsQueue{t: t, name: name, subject: subject, cons: c}, nil
}

type natsQueue struct {
	t       *NATS
	name    string
	subject string
	cons    jetstream.Consumer
}

func (q *natsQueue) Delete(ctx context.Context) error {
	if err := q.t.js.DeleteStream(ctx, q.name); err != nil {
		return fmt.Errorf("deleting JetStream stream %s: %w", q.name, err)
	}
	return nil
}

func (q *natsQueue) NewProducer(context.Context) (Producer, error) { return q, nil }
func (q *natsQueue) NewConsumer(context.Context) (Consumer, error) { return q, nil }
func (q *natsQueue) Close() error                                  { return nil }

func (q *natsQueue) SendBatch(ctx context.Context, msgs []OutMsg) ([]error, error) {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := q.t.js.PublishAsync(q.subject, m.Body)
		if err != nil {
			return nil, fmt.Errorf("JetStream publish: %w", err)
		}
		futures[i] = f
	}
	errs := make([]error, len(msgs))
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = fmt.Errorf("JetStream publish: %w", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return errs, nil
}

func (q *natsQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]InMsg, error) {
	batch, err := q.cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, fmt.Errorf("JetStream fetch: %w", err)
	}
	var msgs []InMsg
	for m := range batch.Messages() {
		msgs = append(msgs, InMsg{Body: m.Data(), handle: m})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return msgs, fmt.Errorf("JetStream fetch: %w", err)
	}
	return msgs, ctx.Err()
}

// Ack acknowledges each message (fire-and-forget acks, as consumers usually send them).
func (q *natsQueue) Ack(_ context.Context, msgs []InMsg) (int, error) {
	for i, m := range msgs {
		if err := m.handle.(jetstream.Msg).Ack(); err != nil {
			return i, fmt.Errorf("JetStream ack: %w", err)
		}
	}
	return len(msgs), nil
}
