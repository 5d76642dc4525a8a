package queue

import "sluice/internal/engine"

// EventKind says what happened to a queue's messages.
type EventKind int

// The events a Service reports to Options.Observer.
const (
	// EventSent: Count messages were stored (deduplicated sends are not counted).
	EventSent EventKind = iota + 1
	// EventReceived: Count messages were handed out by one ReceiveMessage.
	EventReceived
	// EventEmptyReceive: one ReceiveMessage returned no message (after its long poll, if any).
	EventEmptyReceive
	// EventDeleted: Count DeleteMessage entries succeeded.
	EventDeleted
	// EventDeadLettered: Count messages of Queue were moved to its dead-letter queue by a
	// receive (they had reached maxReceiveCount).
	EventDeadLettered
	// EventExpired: Count messages of Queue past its retention period were removed by the
	// sweeper.
	EventExpired
	// EventPurged: Queue was purged.
	EventPurged
	// EventQueueDeleted: Queue was deleted.
	EventQueueDeleted
)

// Event is one thing that happened to a queue, as Options.Observer hears of it.
type Event struct {
	Kind  EventKind
	Queue engine.QueueKey
	Count int
}

// Observer is told of the messages that go through a Service's queues (metrics count them). It
// is called synchronously from the request that caused the event, so it must be quick and must
// not block.
type Observer interface {
	Observe(Event)
}

// observe reports an event to the observer, if there is one.
func (s *Service) observe(kind EventKind, k engine.QueueKey, n int) {
	if s.opts.Observer != nil && n > 0 {
		s.opts.Observer.Observe(Event{Kind: kind, Queue: k, Count: n})
	}
}

// Observers returns an Observer that tells each of obs in turn.
func Observers(obs ...Observer) Observer { return multiObserver(obs) }

type multiObserver []Observer

func (m multiObserver) Observe(ev Event) {
	for _, o := range m {
		o.Observe(ev)
	}
}
