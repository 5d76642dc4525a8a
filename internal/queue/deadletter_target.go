package queue

import (
	"context"
	"errors"
	"strings"

	"sluice/internal/engine"
)

// redriveTarget is a queue's dead-letter queue as receives apply it.
type redriveTarget struct {
	queue           *engine.Queue
	maxReceiveCount int
}

// deadLetter resolves q's RedrivePolicy; nil when it has none or its dead-letter queue no
// longer exists (messages then stay in q, as on SQS).
func (s *Service) deadLetter(ctx context.Context, c *Caller, q *engine.Queue) (*redriveTarget, error) {
	v, ok := q.Attributes[AttrRedrivePolicy]
	if !ok {
		return nil, nil
	}
	rp, err := parseRedrivePolicy(v)
	if err != nil {
		return nil, nil // validated when set; unreadable now means no redrive
	}
	k, ok := arnKey(rp.DeadLetterTargetArn)
	if !ok {
		return nil, nil
	}
	dlq, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: k})
	if errors.Is(err, engine.ErrQueueNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, s.internal(ctx, "QueueGet", err)
	}
	return &redriveTarget{queue: dlq, maxReceiveCount: rp.MaxReceiveCount}, nil
}

// arnKey returns the queue named by an SQS ARN (arn:aws:sqs:region:account:name).
func arnKey(arn string) (engine.QueueKey, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[4] == "" || parts[5] == "" {
		return engine.QueueKey{}, false
	}
	return engine.QueueKey{Account: parts[4], Name: parts[5]}, true
}
