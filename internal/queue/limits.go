package queue

import (
	"context"
	"errors"

	"sluice/internal/engine"
)

// Limits that keep one client from hurting the others (see docs/security.md).

// errTooManyLongPolls is the answer to a receive that would wait while MaxLongPolls receives
// are already waiting.
func (s *Service) errTooManyLongPolls() *Error {
	return newErr(ErrRequestThrottled, "Too many concurrent long polls (the limit is %d); retry later.", s.opts.MaxLongPolls)
}

// acquireLongPoll takes a long-poll slot; release it with releaseLongPoll.
func (s *Service) acquireLongPoll() bool {
	if s.opts.MaxLongPolls <= 0 {
		s.longPolls.Add(1)
		return true
	}
	if s.longPolls.Add(1) > int64(s.opts.MaxLongPolls) {
		s.longPolls.Add(-1)
		return false
	}
	return true
}

func (s *Service) releaseLongPoll() { s.longPolls.Add(-1) }

// LongPolls returns the number of receives waiting now.
func (s *Service) LongPolls() int { return int(s.longPolls.Load()) }

// checkQueueCount refuses to create k when its account already has MaxQueuesPerAccount queues
// and k is not one of them. Concurrent creates may overshoot the cap by their number.
func (s *Service) checkQueueCount(ctx context.Context, k engine.QueueKey) error {
	if s.opts.MaxQueuesPerAccount <= 0 {
		return nil
	}
	_, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: k})
	if err == nil {
		return nil // exists: CreateQueue is idempotent
	}
	if !errors.Is(err, engine.ErrQueueNotFound) {
		return s.internal(ctx, "QueueGet", err)
	}
	qs, err := s.eng.QueueList(ctx, &engine.QueueListParams{Account: k.Account})
	if err != nil {
		return s.internal(ctx, "QueueList", err)
	}
	if len(qs) >= s.opts.MaxQueuesPerAccount {
		return newErr(ErrOverLimit, "You have reached the maximum number of queues (%d) for this account.", s.opts.MaxQueuesPerAccount)
	}
	return nil
}
