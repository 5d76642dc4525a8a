package queue

import (
	"context"
	"time"

	"sluice/internal/engine"
)

// MaxPeek is the most messages one PeekMessages returns.
const MaxPeek = 100

// PeekedMessage is a message seen by PeekMessages.
type PeekedMessage struct {
	MessageId                string
	Body                     string
	SentTimestamp            time.Time
	ReceiveCount             int
	MessageGroupId           string
	DeadLetterQueueSourceArn string
	MessageAttributes        map[string]MessageAttributeValue
}

// PeekMessages returns up to max (1 to MaxPeek) of the messages a receive would take now, in
// the order it would take them, without receiving them: their visibility, receive counts and
// receipt handles do not change. It is not an SQS action; the console and the operator CLI use
// it to look into a queue.
func (s *Service) PeekMessages(ctx context.Context, c *Caller, queueURL string, max int) ([]PeekedMessage, error) {
	q, err := s.lookup(ctx, c, queueURL)
	if err != nil {
		return nil, err
	}
	if max < 1 || max > MaxPeek {
		return nil, invalidValue("MaxNumberOfMessages", max, "Value must be between 1 and 100.")
	}
	now := s.clock.Now()
	ms, err := s.eng.MessagePeek(ctx, &engine.MessagePeekParams{QueueID: q.ID, Now: now, Max: max,
		RetentionCutoff: s.retentionCutoff(q, now)})
	if err != nil {
		return nil, s.internal(ctx, "MessagePeek", err)
	}
	out := make([]PeekedMessage, len(ms))
	for i, m := range ms {
		out[i] = PeekedMessage{MessageId: m.Message.ID, Body: m.Message.Body, SentTimestamp: m.Message.SentAt,
			ReceiveCount: m.ReceiveCount, MessageGroupId: m.Message.GroupID,
			DeadLetterQueueSourceArn: m.Message.DeadLetterSourceArn, MessageAttributes: outAttributes(m.Message.Attributes)}
	}
	return out, nil
}
