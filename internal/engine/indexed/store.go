// Package indexed implements engine.Engine for the embedded engines: queue metadata and an
// in-memory msgindex per queue, over a Store that persists queues, message bodies and delivery
// states. The memory engine and the disk engine are this package over two different Stores, so
// the queue logic of both is one piece of code.
package indexed

import (
	"context"

	"sluice/internal/engine"
	"sluice/internal/engine/msgindex"
)

// Store persists what the engine indexes. Apply must be atomic: all of a batch or none of it.
type Store interface {
	// Load calls queue for every stored queue, then state for every stored message state.
	Load(ctx context.Context, queue func(*engine.Queue), state func(queueID uint64, st msgindex.State)) error
	// Apply writes a batch; with b.Sync it returns only once the batch is durable.
	Apply(ctx context.Context, b *Batch) error
	// Message reads a stored message; engine.ErrMessageNotFound if it is absent.
	Message(ctx context.Context, queueID, seq uint64) (*engine.Message, error)
	// Close releases the store.
	Close() error
}

// Batch is one atomic write.
type Batch struct {
	// Sync asks for durability before Apply returns.
	Sync bool
	// Queues are queue records to put (keyed by ID).
	Queues []*engine.Queue
	// DeletedQueues are queue IDs whose record and messages are to be deleted.
	DeletedQueues []uint64
	// Messages are new messages with their initial state.
	Messages []NewMessage
	// States are delivery states to overwrite.
	States []QueueState
	// Deleted are messages (body and state) to delete.
	Deleted []MessageRef
	// Purges delete every message of a queue with a sequence below Below.
	Purges []MessageRef
}

// NewMessage is a message to store with its initial state.
type NewMessage struct {
	QueueID uint64
	Message *engine.Message
	State   msgindex.State
}

// QueueState is a message state to store.
type QueueState struct {
	QueueID uint64
	State   msgindex.State
}

// MessageRef names a stored message (or, in Purges, a bound).
type MessageRef struct {
	QueueID uint64
	Seq     uint64
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Queues) == 0 && len(b.DeletedQueues) == 0 && len(b.Messages) == 0 &&
		len(b.States) == 0 && len(b.Deleted) == 0 && len(b.Purges) == 0
}
