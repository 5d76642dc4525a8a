// Package indexed implements engine.Engine for the embedded engines: queue metadata and an
// in-memory msgindex per queue, over a Store that persists queues, message bodies and delivery
// states. The memory engine and the disk engine are this package over two different Stores, so
// the queue logic of both is one piece of code.
package indexed

import (
	"context"
	"time"

	"sluice/internal/engine"
	"sluice/internal/engine/msgindex"
)

// Store persists what the engine indexes.
type Store interface {
	// Load reports everything stored: queues first, then the rest in any order. Nil callbacks
	// are skipped.
	Load(ctx context.Context, l *Loader) error
	// Apply writes a batch atomically. Batches are applied in the order of the Apply calls, so a
	// caller that holds a lock around Apply orders its batches. Apply returns once the batch is
	// applied (readable); the returned wait, never nil, blocks until the batch is durable when
	// b.Sync is set. Callers call wait after releasing their locks, so that concurrent batches
	// share one fsync (group commit).
	Apply(ctx context.Context, b *Batch) (wait func() error, err error)
	// Message reads a stored message; engine.ErrMessageNotFound if it is absent.
	Message(ctx context.Context, queueID, seq uint64) (*engine.Message, error)
	// Err reports a failure that makes the store unusable until it is reopened (nil while it
	// is healthy). Once it is set, the engine refuses every operation: its index may be ahead of
	// what the store persisted.
	Err() error
	// Close releases the store.
	Close() error
}

// Loader receives what Store.Load finds.
type Loader struct {
	Queue func(*engine.Queue)
	// State is called for every message state, including states of queues that no longer
	// exist (the engine deletes those).
	State func(queueID uint64, st msgindex.State)
	// NextSeq reports the next message sequence of a queue.
	NextSeq func(queueID, next uint64)
	// NextQueueID reports the next queue id.
	NextQueueID func(next uint64)
	// Tombstone reports a deleted queue's name and when it was deleted.
	Tombstone func(Tombstone)
	// Dedup reports a remembered deduplication key.
	Dedup func(Dedup)
	// MoveTask reports a stored message move task.
	MoveTask func(*engine.MoveTask)
}

// Dedup remembers a deduplication key of a queue until it expires.
type Dedup struct {
	QueueID   uint64
	Key       string
	MessageID string
	Seq       uint64
	Until     time.Time
}

// DedupRef names a deduplication key of a queue.
type DedupRef struct {
	QueueID uint64
	Key     string
}

// Tombstone remembers that a queue name was deleted, for the deleted-queue cooldown.
type Tombstone struct {
	Key       engine.QueueKey
	DeletedAt time.Time
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
	// DeletedRuns delete every message of a queue with From <= seq < To: a run of consecutive
	// messages that all left the index (retention expiry), written as one range deletion.
	DeletedRuns []SeqRun
	// Purges delete every message of a queue with a sequence below Seq, and every deduplication
	// key of the queue. DeletedQueues delete the queue's keys too.
	Purges []MessageRef
	// Dedups are deduplication keys to put; DeletedDedups expired ones to remove.
	Dedups        []Dedup
	DeletedDedups []DedupRef
	// NextSeqs record, per queue, the next message sequence (in Seq), so that sequences are
	// never reused after a restart.
	NextSeqs []MessageRef
	// NextQueueID, when not zero, records the next queue id.
	NextQueueID uint64
	// Tombstones are put; ClearedTombstones removed.
	Tombstones        []Tombstone
	ClearedTombstones []engine.QueueKey
	// MoveTasks are message move tasks to put (keyed by Handle, replacing the stored one).
	MoveTasks []*engine.MoveTask
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

// SeqRun is a run of message sequences of a queue: From <= seq < To.
type SeqRun struct {
	QueueID  uint64
	From, To uint64
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Queues) == 0 && len(b.DeletedQueues) == 0 && len(b.Messages) == 0 &&
		len(b.States) == 0 && len(b.Deleted) == 0 && len(b.DeletedRuns) == 0 && len(b.Purges) == 0 && len(b.NextSeqs) == 0 &&
		b.NextQueueID == 0 && len(b.Tombstones) == 0 && len(b.ClearedTombstones) == 0 &&
		len(b.Dedups) == 0 && len(b.DeletedDedups) == 0 && len(b.MoveTasks) == 0
}
