package queue

import (
	"context"

	"sluice/internal/engine"
)

// sweepChunk is how many expired messages one sweeper call removes: small enough that a queue's
// lock is held only briefly, so traffic on the queue goes on while millions expire.
const sweepChunk = 1024

// sweepLoop removes messages past their queue's retention period every SweepEvery until the
// Service closes. With an engine several processes share (engine.Leader), only the process that
// holds the lead sweeps.
func (s *Service) sweepLoop() {
	defer s.sweeping.Done()
	for {
		t := s.clock.NewTimer(s.opts.SweepEvery)
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C():
		}
		if l, ok := s.eng.(engine.Leader); ok && !l.Leading() {
			// Another process sharing the engine runs housekeeping.
			continue
		}
		s.Sweep(context.Background())
	}
}

// Sweep removes every message past its queue's retention period, in chunks. It returns the
// number removed.
func (s *Service) Sweep(ctx context.Context) int {
	qs, err := s.eng.QueueList(ctx, &engine.QueueListParams{})
	if err != nil {
		s.log.Error("retention sweep: listing queues", "err", err)
		return 0
	}
	total := 0
	for _, q := range qs {
		for {
			select {
			case <-s.done:
				return total
			default:
			}
			n, err := s.eng.MessageExpire(ctx, &engine.MessageExpireParams{
				Key: q.Key, RetentionCutoff: s.retentionCutoff(q, s.clock.Now()), Max: sweepChunk})
			if err != nil {
				s.log.Debug("retention sweep", "queue", q.Key.Name, "err", err)
				break
			}
			total += n
			s.observe(EventExpired, q.Key, n)
			if n < sweepChunk {
				break
			}
		}
	}
	return total
}
