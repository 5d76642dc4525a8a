package bot

import (
	"context"
	"time"
)

// Kinds of Slack deliveries.
const (
	KindCommand     = "command"
	KindInteraction = "interaction"
	KindEvent       = "event"
)

// Lane is the queue a request goes to: commands that must open a modal within the trigger's
// 3 seconds go to the interactive lane, everything else to the records lane, so a burst of
// submissions never delays a modal.
type Lane string

// Lanes.
const (
	LaneInteractive Lane = "interactive"
	LaneRecords     Lane = "records"
)

// Envelope is one Slack delivery as it travels through the queue.
type Envelope struct {
	Kind           string    `json:"kind"`
	Key            string    `json:"key"`             // idempotency key of the delivery
	Group          string    `json:"group"`           // team:user, the FIFO message group
	ReceivedAt     time.Time `json:"received_at"`     // ingress clock when the request arrived
	SlackTimestamp time.Time `json:"slack_timestamp"` // X-Slack-Request-Timestamp
	Body           string    `json:"body"`            // the raw signed body
}

// Enqueuer durably queues an envelope; a nil error means the queue has acknowledged it.
type Enqueuer interface {
	Enqueue(ctx context.Context, lane Lane, env *Envelope) error
}
