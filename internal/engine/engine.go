// Package engine is the storage seam of Sluice: one interface of atomic operations that every
// storage backend (memory, disk, PostgreSQL) implements, the records they store, and the sentinel
// errors they return. It knows nothing of SQS validation rules; the queue package passes in every
// time and limit an operation needs, so that all engines behave alike and tests control time.
//
// Every method is named NounVerb, takes a context and a params struct, and is atomic.
package engine

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Engines wrap them with %w; callers match them with errors.Is.
var (
	// ErrQueueNotFound: the queue named or identified does not exist.
	ErrQueueNotFound = errors.New("queue not found")
	// ErrQueueDeletedRecently: a queue of that name was deleted less than the cooldown ago.
	ErrQueueDeletedRecently = errors.New("queue deleted recently")
	// ErrPurgeInProgress: the queue was purged less than the minimum interval ago.
	ErrPurgeInProgress = errors.New("purge in progress")
	// ErrMessageNotFound: the message of a receipt no longer exists (deleted or expired).
	ErrMessageNotFound = errors.New("message not found")
	// ErrReceiptSuperseded: the message was received again after this receipt was issued.
	ErrReceiptSuperseded = errors.New("receipt superseded by a newer receive")
	// ErrMessageNotInFlight: the receipt is current but the message's visibility timeout has
	// already expired (only returned when the caller asks for it with RequireInFlight).
	ErrMessageNotInFlight = errors.New("message not in flight")
	// ErrVisibilityTooLong: the requested visibility would end more than the allowed maximum after
	// the message was received.
	ErrVisibilityTooLong = errors.New("visibility timeout beyond the limit")
	// ErrInFlightLimit: the queue has reached its limit of in-flight messages.
	ErrInFlightLimit = errors.New("in-flight limit reached")
	// ErrClosed: the engine has been closed.
	ErrClosed = errors.New("engine closed")
)

// Engine is the storage interface. Methods are sorted alphabetically.
type Engine interface {
	// Close releases the engine's resources. Calls after Close return ErrClosed.
	Close() error
	// MessageChangeVisibility sets a new visibility deadline for each receipt. It returns one
	// error per entry (nil on success): ErrMessageNotFound, ErrReceiptSuperseded,
	// ErrMessageNotInFlight (with RequireInFlight), ErrVisibilityTooLong. The call as a whole
	// fails only with ErrQueueNotFound or a storage error.
	MessageChangeVisibility(ctx context.Context, p *MessageChangeVisibilityParams) ([]error, error)
	// MessageDelete deletes the message of each receipt. Per-entry errors as for
	// MessageChangeVisibility; ErrReceiptSuperseded leaves the message in place.
	MessageDelete(ctx context.Context, p *MessageDeleteParams) ([]error, error)
	// MessageReceive takes up to Max visible messages, makes them invisible until VisibleAt and
	// issues a new receipt for each. It never waits: long polling is the caller's job, helped by
	// NextVisibleAt in the result.
	MessageReceive(ctx context.Context, p *MessageReceiveParams) (*MessageReceiveResult, error)
	// MessageExpire deletes up to Max messages of a queue sent before RetentionCutoff, whatever
	// their state, oldest first, and returns how many it deleted. Receives and stats expire only
	// a bounded number each, so that a large expiry never stalls them; a sweeper finishes the job
	// with this method.
	MessageExpire(ctx context.Context, p *MessageExpireParams) (int, error)
	// MessageMove moves up to Max visible messages of a queue to other queues (a message move
	// task's step), each as a new message that keeps its id, body and attributes.
	MessageMove(ctx context.Context, p *MessageMoveParams) (*MessageMoveResult, error)
	// MessagePeek returns up to Max of the messages a receive at Now would take, in the order it
	// would take them (oldest first; on a FIFO queue, group by group, the group with the oldest
	// message first, skipping groups with a message in flight), without changing anything:
	// no visibility, receive count or receipt changes. Messages sent before RetentionCutoff are
	// left out. ErrQueueNotFound if the queue is absent.
	MessagePeek(ctx context.Context, p *MessagePeekParams) ([]PeekedMessage, error)
	// MessageSend stores the messages, durably when the engine is durable, before it returns.
	// Entries with a DedupKey seen within its window are not stored again (see MessageSendEntry).
	MessageSend(ctx context.Context, p *MessageSendParams) (*MessageSendResult, error)
	// MoveTaskList returns the stored message move tasks of a source queue (of every queue when
	// SourceQueueID is 0), in no particular order. The tasks returned are copies.
	MoveTaskList(ctx context.Context, p *MoveTaskListParams) ([]*MoveTask, error)
	// MoveTaskPut stores a message move task, durably when the engine is durable, replacing the
	// stored task with the same Handle if there is one. Engines keep tasks whether or not their
	// queues exist; they never run them (the queue package does).
	MoveTaskPut(ctx context.Context, t *MoveTask) error
	// QueueCreate creates a queue, or returns the existing one with Created=false.
	QueueCreate(ctx context.Context, p *QueueCreateParams) (*QueueCreateResult, error)
	// QueueDelete deletes a queue and all its messages. ErrQueueNotFound if absent.
	QueueDelete(ctx context.Context, p *QueueDeleteParams) error
	// QueueGet returns a queue by key. ErrQueueNotFound if absent.
	QueueGet(ctx context.Context, p *QueueGetParams) (*Queue, error)
	// QueueList returns the account's queues whose name starts with Prefix, sorted by name; with
	// an empty Account, the queues of every account, sorted by account then name.
	QueueList(ctx context.Context, p *QueueListParams) ([]*Queue, error)
	// QueuePurge deletes every message of a queue. ErrPurgeInProgress within MinInterval of the
	// previous purge.
	QueuePurge(ctx context.Context, p *QueuePurgeParams) error
	// QueueStats counts a queue's messages by state at Now.
	QueueStats(ctx context.Context, p *QueueStatsParams) (*QueueStats, error)
	// QueueUpdate changes a queue's attributes and tags.
	QueueUpdate(ctx context.Context, p *QueueUpdateParams) (*Queue, error)
}

// QueueKey names a queue: queues live in their account's namespace.
type QueueKey struct {
	Account string
	Name    string
}

// Queue is a stored queue.
type Queue struct {
	// ID is unique among the store's live queues and changes when a queue is deleted and created
	// again, so receipts of the old queue never match the new one.
	ID  uint64
	Key QueueKey
	// FIFO queues deliver in order within a message group and block a group while one of its
	// messages is in flight. Fixed at creation.
	FIFO bool
	// Attributes holds the settable attributes in canonical string form, as the queue package
	// validated them. Absent means default.
	Attributes map[string]string
	Tags       map[string]string
	CreatedAt  time.Time
	ModifiedAt time.Time
}

// Clone returns a deep copy.
func (q *Queue) Clone() *Queue {
	c := *q
	c.Attributes = cloneMap(q.Attributes)
	c.Tags = cloneMap(q.Tags)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// MessageAttribute is one message attribute (user or system).
type MessageAttribute struct {
	DataType    string
	StringValue string
	BinaryValue []byte
	// IsBinary tells which of the values is set.
	IsBinary bool
}

// Message is a message as sent; it never changes once stored.
type Message struct {
	// ID is the SQS MessageId (a UUID).
	ID         string
	Body       string
	Attributes map[string]MessageAttribute
	// SystemAttributes holds sent system attributes (AWSTraceHeader).
	SystemAttributes map[string]MessageAttribute
	SenderID         string
	SentAt           time.Time
	// GroupID is the MessageGroupId, if any.
	GroupID string
	// DeduplicationID is the MessageDeduplicationId, if any.
	DeduplicationID string
	// DeadLetterSourceArn is the ARN of the queue a dead-lettered message came from.
	DeadLetterSourceArn string
	// BodyMD5 is the lowercase hex MD5 of Body, computed once when the message is sent so that
	// receives need not compute it again. An engine may drop it (and the PostgreSQL engine
	// does): empty means "compute it".
	BodyMD5 string
}

// Receipt identifies one receive of one message. The queue package turns it into the opaque
// ReceiptHandle string.
type Receipt struct {
	QueueID uint64
	Seq     uint64
	Token   uint64
}

// ReceivedMessage is a message handed out by MessageReceive.
type ReceivedMessage struct {
	Message        *Message
	Receipt        Receipt
	ReceiveCount   int
	FirstReceiveAt time.Time
}

// QueueCreateParams are the arguments of QueueCreate.
type QueueCreateParams struct {
	Key        QueueKey
	FIFO       bool
	Attributes map[string]string
	Tags       map[string]string
	Now        time.Time
	// DeletedCooldown: if a queue of this key was deleted less than this long before Now,
	// return ErrQueueDeletedRecently. Zero disables the check; at most MaxDeletedCooldown.
	DeletedCooldown time.Duration
}

// MaxDeletedCooldown is the longest DeletedCooldown engines support: deleted names are
// remembered this long.
const MaxDeletedCooldown = time.Hour

// QueueCreateResult is the result of QueueCreate.
type QueueCreateResult struct {
	Queue   *Queue
	Created bool
}

// QueueDeleteParams are the arguments of QueueDelete.
type QueueDeleteParams struct {
	Key QueueKey
	Now time.Time
}

// QueueGetParams are the arguments of QueueGet.
type QueueGetParams struct {
	Key QueueKey
}

// QueueListParams are the arguments of QueueList.
type QueueListParams struct {
	Account string
	Prefix  string
}

// QueuePurgeParams are the arguments of QueuePurge.
type QueuePurgeParams struct {
	Key         QueueKey
	Now         time.Time
	MinInterval time.Duration
}

// QueueStatsParams are the arguments of QueueStats.
type QueueStatsParams struct {
	Key QueueKey
	Now time.Time
	// RetentionCutoff: messages sent before it are expired first.
	RetentionCutoff time.Time
}

// QueueStats counts a queue's messages.
type QueueStats struct {
	Visible  int64
	InFlight int64
	Delayed  int64
	// Tenants and LargestTenant describe a fair queue (a standard queue whose messages carry
	// group ids): the tenants with visible messages, and the visible backlog of the largest.
	// Zero on FIFO queues and on engines that do not schedule tenants.
	Tenants       int64
	LargestTenant int64
}

// QueueUpdateParams are the arguments of QueueUpdate. Removals are applied before sets.
type QueueUpdateParams struct {
	Key              QueueKey
	Now              time.Time
	SetAttributes    map[string]string
	RemoveAttributes []string
	SetTags          map[string]string
	RemoveTags       []string
}

// MessageSendParams are the arguments of MessageSend.
type MessageSendParams struct {
	QueueID uint64
	Now     time.Time
	Entries []MessageSendEntry
	// DedupUntil is when the deduplication keys of the entries stored now expire.
	DedupUntil time.Time
}

// MessageSendEntry is one message to store.
type MessageSendEntry struct {
	Message *Message
	// VisibleAt is when the message may first be received (after its delay).
	VisibleAt time.Time
	// DedupKey, when not empty, deduplicates the send: if a send with the same key was accepted
	// within its window (see MessageSendParams.DedupUntil), this entry is not stored and its
	// result names the first message. Keys are remembered after the message is deleted, and
	// forgotten by a purge.
	DedupKey string
}

// MessageSendResult is the result of MessageSend: one entry per MessageSendEntry.
type MessageSendResult struct {
	Entries []SentMessage
}

// SentMessage is the outcome of one MessageSendEntry.
type SentMessage struct {
	// Seq is the message's sequence in its queue: increasing in the order sends are accepted.
	Seq uint64
	// Duplicate is set when the entry's DedupKey was seen within the window; MessageID and Seq
	// are then those of the first message.
	Duplicate bool
	MessageID string
}

// MessageReceiveParams are the arguments of MessageReceive.
type MessageReceiveParams struct {
	QueueID uint64
	Now     time.Time
	Max     int
	// VisibleAt is the deadline until which received messages stay invisible.
	VisibleAt time.Time
	// RetentionCutoff: messages sent before it are deleted instead of received.
	RetentionCutoff time.Time
	// MaxInFlight: when this many messages are already in flight, fail with ErrInFlightLimit.
	// Zero means no limit.
	MaxInFlight int
	// AttemptID, when not empty, names this receive attempt: a retry with the same id before
	// AttemptUntil returns the same messages and receipts (with the new VisibleAt) as long as
	// all of them are still in flight under those receipts.
	AttemptID    string
	AttemptUntil time.Time
	// DeadLetter, when set, moves a message that has already been received MaxReceiveCount
	// times to the dead-letter queue instead of delivering it again.
	DeadLetter *DeadLetter
}

// DeadLetter is a queue's redrive configuration as MessageReceive applies it.
type DeadLetter struct {
	QueueID         uint64
	MaxReceiveCount int
	// SourceArn is recorded in the moved message (DeadLetterQueueSourceArn).
	SourceArn string
	// ResetSentAt restarts the moved message's retention at the move (FIFO queues); otherwise
	// it keeps its original send time.
	ResetSentAt bool
}

// MessageReceiveResult is the result of MessageReceive.
type MessageReceiveResult struct {
	Messages []ReceivedMessage
	// NextVisibleAt, when no message was returned, is the earliest time a delayed or in-flight
	// message becomes visible (zero if none).
	NextVisibleAt time.Time
	// DeadLettered counts the messages moved to the dead-letter queue instead of returned.
	DeadLettered int
}

// MessageExpireParams are the arguments of MessageExpire.
type MessageExpireParams struct {
	Key             QueueKey
	RetentionCutoff time.Time
	Max             int
}

// MessageMoveParams are the arguments of MessageMove.
type MessageMoveParams struct {
	QueueID uint64
	Now     time.Time
	Max     int
	// Destination, when not zero, receives every moved message. Otherwise each message goes to
	// Sources[its DeadLetterSourceArn].
	Destination uint64
	Sources     map[string]uint64
}

// MessageMoveResult is the result of MessageMove.
type MessageMoveResult struct {
	Moved int
	// Unroutable, when not empty, is the DeadLetterSourceArn of the oldest visible message that
	// has no destination; nothing after it was moved.
	Unroutable string
}

// MessagePeekParams are the arguments of MessagePeek.
type MessagePeekParams struct {
	QueueID uint64
	Now     time.Time
	Max     int
	// RetentionCutoff: messages sent before it are not returned.
	RetentionCutoff time.Time
}

// PeekedMessage is a message returned by MessagePeek.
type PeekedMessage struct {
	Message *Message
	// Seq is the message's sequence in its queue.
	Seq          uint64
	ReceiveCount int
}

// MessageDeleteParams are the arguments of MessageDelete.
type MessageDeleteParams struct {
	QueueID  uint64
	Now      time.Time
	Receipts []Receipt
	// RequireInFlight makes a receipt whose visibility already expired fail with
	// ErrMessageNotInFlight instead of deleting.
	RequireInFlight bool
}

// MessageChangeVisibilityParams are the arguments of MessageChangeVisibility.
type MessageChangeVisibilityParams struct {
	QueueID         uint64
	Now             time.Time
	Entries         []VisibilityChange
	RequireInFlight bool
	// MaxSinceReceive caps the new deadline relative to the receive that issued the receipt.
	// Zero means no cap.
	MaxSinceReceive time.Duration
}

// VisibilityChange is one entry of MessageChangeVisibility.
type VisibilityChange struct {
	Receipt   Receipt
	VisibleAt time.Time
}

// MoveTask is a message move task (StartMessageMoveTask) as stored. The queue package runs it
// and gives its fields their meaning; engines only store it. StartedAt is kept to the
// millisecond.
type MoveTask struct {
	// Handle identifies the task (it is the TaskHandle of the API).
	Handle        string
	SourceQueueID uint64
	SourceArn     string
	// DestinationArn is empty when messages go back to the queues they came from.
	DestinationArn string
	// MaxPerSecond is the requested rate; 0 when none was given.
	MaxPerSecond  int32
	Status        string
	Moved         int64
	ToMove        int64
	FailureReason string
	StartedAt     time.Time
}

// Clone returns a copy.
func (t *MoveTask) Clone() *MoveTask {
	c := *t
	return &c
}

// MoveTaskListParams are the arguments of MoveTaskList.
type MoveTaskListParams struct {
	// SourceQueueID selects the tasks of one source queue; 0 selects every task.
	SourceQueueID uint64
}

// Watcher is implemented by engines that several processes share (the PostgreSQL engine): it
// reports writes made through other processes, so that long polls waiting in this one wake up.
// (Writes through this process are known to the queue package already.)
type Watcher interface {
	// Watch registers fn, which the engine calls from its own goroutine whenever a queue may
	// have gained receivable messages; the zero QueueKey means "any queue" (notifications may
	// have been lost, so every waiter should look again). Calls may be spurious. fn must not
	// block. The calls end when the engine is closed.
	Watch(fn func(QueueKey))
}

// StorageReporter is implemented by engines that can describe their storage (for metrics).
type StorageReporter interface {
	// StorageStats returns the storage's current numbers, or nil when the engine has none to
	// report (the in-memory engine).
	StorageStats(ctx context.Context) (*StorageStats, error)
}

// StorageStats describes an engine's storage.
type StorageStats struct {
	// SizeBytes is the space the store takes on disk; -1 when unknown.
	SizeBytes int64
	// SyncLatency is the distribution of the write-ahead log's fsync durations, or nil.
	SyncLatency *Histogram
}

// Histogram is a cumulative histogram of durations.
type Histogram struct {
	Count uint64
	Sum   time.Duration
	// Buckets are cumulative counts by upper bound, in increasing order of bound.
	Buckets []HistogramBucket
}

// HistogramBucket counts the observations at most UpperBound.
type HistogramBucket struct {
	UpperBound time.Duration
	Count      uint64
}

// Leader is implemented by engines that several processes share: background housekeeping (the
// retention sweeper, message move task runners) runs in one process at a time, the one that
// holds the lead. When that process dies or closes its engine, another takes the lead.
type Leader interface {
	// Leading reports whether this process holds the lead now.
	Leading() bool
}
