package pgengine

import (
	"context"
	"fmt"

	"sluice/internal/engine"
)

// peekSQL selects the messages a receive at $2 would take, in its order, without locking or
// changing them: the visible messages (visible_at <= now) sent at or after the retention cutoff
// $4; on a FIFO queue only those of groups with nothing in flight, ordered by their group's
// oldest message. It is a plain read, so it lives here rather than in a SQL function.
const peekSQL = `
WITH q AS (SELECT fifo FROM queues WHERE id = $1),
blocked AS (
    SELECT DISTINCT group_id FROM messages
    WHERE queue_id = $1 AND visible_at > $2 AND visible_at > 0 AND receive_count > 0 AND (SELECT fifo FROM q)
),
candidates AS (
    SELECT m.*, CASE WHEN (SELECT fifo FROM q) THEN min(m.seq) OVER (PARTITION BY m.group_id) ELSE m.seq END AS g_order
    FROM messages m
    WHERE m.queue_id = $1 AND m.visible_at <= $2 AND m.sent_at >= $4
      AND m.group_id NOT IN (SELECT group_id FROM blocked)
)
SELECT seq, receive_count, message_id, body, attributes, system_attributes, sender_id, sent_at,
       group_id, deduplication_id, dead_letter_source_arn
FROM candidates ORDER BY g_order, seq LIMIT $3`

// MessagePeek implements engine.Engine.
func (e *Engine) MessagePeek(ctx context.Context, p *engine.MessagePeekParams) ([]engine.PeekedMessage, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []engine.PeekedMessage
	err = e.run(ctx, func() error {
		out = nil
		var exists bool
		if err := e.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM queues WHERE id = $1)", int64(p.QueueID)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("queue id %d: %w", p.QueueID, engine.ErrQueueNotFound)
		}
		rows, err := e.pool.Query(ctx, peekSQL, int64(p.QueueID), ms(p.Now), p.Max, ms(p.RetentionCutoff))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				seq, sentAt                         int64
				count                               int32
				id, body, sender, group, dedup, arn string
				attrs, sys                          []byte
			)
			if err := rows.Scan(&seq, &count, &id, &body, &attrs, &sys, &sender, &sentAt, &group, &dedup, &arn); err != nil {
				return err
			}
			m := &engine.Message{ID: id, Body: body, SenderID: sender, SentAt: fromMS(sentAt), GroupID: group,
				DeduplicationID: dedup, DeadLetterSourceArn: arn}
			if m.Attributes, err = decodeAttrs(attrs); err != nil {
				return fmt.Errorf("decoding attributes: %w", err)
			}
			if m.SystemAttributes, err = decodeAttrs(sys); err != nil {
				return fmt.Errorf("decoding attributes: %w", err)
			}
			out = append(out, engine.PeekedMessage{Message: m, Seq: uint64(seq), ReceiveCount: int(count)})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("peeking: %w", err)
	}
	return out, nil
}
