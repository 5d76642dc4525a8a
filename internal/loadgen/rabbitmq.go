package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQ drives RabbitMQ through its Go client (amqp091-go): a durable quorum queue,
// persistent messages, publisher confirms (a producer publishes a batch and waits for every
// confirm), and consumers with manual acks and a prefetch of the batch size.
type RabbitMQ struct {
	url  string
	conn *amqp.Connection
}

// OpenRabbitMQ connects to RabbitMQ at url (amqp://guest:guest@127.0.0.1:5672/).
func OpenRabbitMQ(_ context.Context, url string) (*RabbitMQ, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	return &RabbitMQ{url: url, conn: conn}, nil
}

// Kind implements Target.
func (t *RabbitMQ) Kind() string { return "rabbitmq" }

// Endpoint implements Target.
func (t *RabbitMQ) Endpoint() string { return t.url }

// Durability implements Target.
func (t *RabbitMQ) Durability() string {
	return "quorum queue, persistent messages: confirmed after a Raft majority fsyncs (one node here)"
}

// Close implements Target.
func (t *RabbitMQ) Close() error { return t.conn.Close() }

// CreateQueue implements Target.
func (t *RabbitMQ) CreateQueue(_ context.Context, spec QueueSpec) (Queue, error) {
	if spec.FIFO {
		return nil, ErrNotSupported
	}
	ch, err := t.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ channel: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(spec.Name, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return nil, fmt.Errorf("declaring RabbitMQ queue %s: %w", spec.Name, err)
	}
	return &rabbitQueue{t: t, name: spec.Name, prefetch: max(spec.Batch, 10)}, nil
}

type rabbitQueue struct {
	t        *RabbitMQ
	name     string
	prefetch int
}

func (q *rabbitQueue) Delete(context.Context) error {
	ch, err := q.t.conn.Channel()
	if err != nil {
		return fmt.Errorf("RabbitMQ channel: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDelete(q.name, false, false, false); err != nil {
		return fmt.Errorf("deleting RabbitMQ queue %s: %w", q.name, err)
	}
	return nil
}

func (q *rabbitQueue) NewProducer(context.Context) (Producer, error) {
	ch, err := q.t.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("RabbitMQ confirm mode: %w", err)
	}
	return &rabbitProducer{ch: ch, queue: q.name}, nil
}

type rabbitProducer struct {
	ch    *amqp.Channel
	queue string
}

// errNacked is a publish the broker refused to confirm.
var errNacked = &EntryError{Code: "Nack", Message: "the broker nacked the publish"}

func (p *rabbitProducer) SendBatch(ctx context.Context, msgs []OutMsg) ([]error, error) {
	confirms := make([]*amqp.DeferredConfirmation, len(msgs))
	for i, m := range msgs {
		c, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, "", p.queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: m.Body})
		if err != nil {
			return nil, fmt.Errorf("RabbitMQ publish: %w", err)
		}
		confirms[i] = c
	}
	errs := make([]error, len(msgs))
	for i, c := range confirms {
		ok, err := c.WaitContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("RabbitMQ confirm: %w", err)
		}
		if !ok {
			errs[i] = errNacked
		}
	}
	return errs, nil
}

func (p *rabbitProducer) Close() error { return p.ch.Close() }

func (q *rabbitQueue) NewConsumer(ctx context.Context) (Consumer, error) {
	ch, err := q.t.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ channel: %w", err)
	}
	if err := ch.Qos(q.prefetch, 0, false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("RabbitMQ qos: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.name, "", false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("RabbitMQ consume: %w", err)
	}
	return &rabbitConsumer{ch: ch, deliveries: deliveries}, nil
}

type rabbitConsumer struct {
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	closeOnce  sync.Once
}

var errConsumerClosed = errors.New("RabbitMQ consumer closed")

// Receive takes up to max deliveries already pushed to this consumer (up to the prefetch),
// waiting up to wait for the first.
func (c *rabbitConsumer) Receive(ctx context.Context, max int, wait time.Duration) ([]InMsg, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	var first amqp.Delivery
	var ok bool
	select {
	case first, ok = <-c.deliveries:
		if !ok {
			return nil, errConsumerClosed
		}
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	msgs := []InMsg{{Body: first.Body, handle: first.DeliveryTag}}
	for len(msgs) < max {
		select {
		case d, ok := <-c.deliveries:
			if !ok {
				return msgs, nil
			}
			msgs = append(msgs, InMsg{Body: d.Body, handle: d.DeliveryTag})
		default:
			return msgs, nil
		}
	}
	return msgs, nil
}

// Ack acknowledges msgs with one multiple-ack of the last delivery tag (deliveries on a
// channel are acked in order, so it covers exactly this batch).
func (c *rabbitConsumer) Ack(_ context.Context, msgs []InMsg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := c.ch.Ack(msgs[len(msgs)-1].handle.(uint64), true); err != nil {
		return 0, fmt.Errorf("RabbitMQ ack: %w", err)
	}
	return len(msgs), nil
}

func (c *rabbitConsumer) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.ch.Close() })
	return err
}
