package pgengine

import (
	"errors"
	"sync"
	"time"

	"sluice/internal/engine"
)

// gateRecheck is how long a receive may rely on its queue's last in-flight count, and how
// long it may leave retention expiry to the next receive or the sweeper.
const gateRecheck = time.Second

// queueGate decides when message_receive does two things that read past the dead index entries
// deletes leave at the head of a queue, so they cost more the busier the queue: expiring the
// queue's messages past retention, and counting its in-flight messages.
//
// Expiry runs at most once per gateRecheck per queue and process (messages past retention that a
// receive meets in between are deleted, not delivered; the leader's sweeper removes the rest).
// The count runs at most once per gateRecheck while the last count, plus what this process
// received since, plus the receive's own maximum, stays below half the limit; nearer than that,
// on every receive. Messages other nodes receive between two counts are not seen: with several
// nodes the limit is approximate, within what the cluster receives in gateRecheck
// (docs/postgres.md).
type queueGate struct {
	mu     sync.Mutex
	queues map[uint64]queueChecks
}

type queueChecks struct {
	counted time.Time // when the queue's in-flight messages were last counted
	count   int       // in flight after that receive, as far as this process knows
	expired time.Time // when a receive last expired the queue's old messages
}

func due(now, last time.Time) bool {
	return last.IsZero() || now.Sub(last) >= gateRecheck || now.Before(last)
}

// plan returns what message_receive should do: the in-flight limit to check (0: no count) and
// whether to expire old messages.
func (g *queueGate) plan(p *engine.MessageReceiveParams) (maxInFlight int, expire bool) {
	if p.MaxInFlight <= 0 && p.RetentionCutoff.IsZero() {
		return 0, false
	}
	g.mu.Lock()
	c := g.queues[p.QueueID]
	g.mu.Unlock()
	if p.MaxInFlight > 0 && (due(p.Now, c.counted) || 2*(c.count+p.Max) >= p.MaxInFlight) {
		maxInFlight = p.MaxInFlight
	}
	return maxInFlight, !p.RetentionCutoff.IsZero() && due(p.Now, c.expired)
}

// done records a receive's outcome: what plan said, the count message_receive made (counted <
// 0: none), how many messages it took, and its error.
func (g *queueGate) done(p *engine.MessageReceiveParams, expired bool, counted, took int, err error) {
	if p.MaxInFlight <= 0 && !expired {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.queues == nil {
		g.queues = make(map[uint64]queueChecks)
	}
	if len(g.queues) >= 4096 {
		// Queue ids are never reused: drop what deleted queues left (and the counts due anyway).
		for id, c := range g.queues {
			if due(p.Now, c.counted) && due(p.Now, c.expired) {
				delete(g.queues, id)
			}
		}
	}
	c := g.queues[p.QueueID]
	switch {
	case errors.Is(err, engine.ErrInFlightLimit):
		c.counted, c.count = p.Now, p.MaxInFlight
	case err != nil:
		g.queues[p.QueueID] = c
		return
	case counted >= 0:
		c.counted, c.count = p.Now, counted+took
	default:
		c.count += took
	}
	if expired {
		c.expired = p.Now
	}
	g.queues[p.QueueID] = c
}
