package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Outbox states: pending (to post), posting (claimed; a post may or may not have reached
// Slack), sent, failed (given up).
const (
	OutboxPending = "pending"
	OutboxPosting = "posting"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

func (s *Store) outboxRows(ctx context.Context, query string, args ...any) ([]OutboxItem, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var blocks string
		var claimed int64
		if err := rows.Scan(&it.ID, &it.Channel, &it.Text, &blocks, &it.ContentID, &it.Attempts, &claimed); err != nil {
			return nil, fmt.Errorf("store: outbox scan: %w", err)
		}
		it.Blocks = json.RawMessage(blocks)
		if claimed > 0 {
			it.ClaimedAt = time.UnixMilli(claimed).UTC()
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return out, nil
}

const outboxCols = `id, channel, text, blocks, content_id, attempts, claimed_at_ms`

// DueOutbox returns pending announcements whose next attempt is due at now, oldest first.
func (s *Store) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	return s.outboxRows(ctx, `SELECT `+outboxCols+` FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ?
		ORDER BY id LIMIT ?`, now.UnixMilli(), limit)
}

// PostingOutbox returns announcements left claimed by a dispatcher that stopped mid-way.
func (s *Store) PostingOutbox(ctx context.Context) ([]OutboxItem, error) {
	return s.outboxRows(ctx, `SELECT `+outboxCols+` FROM outbox WHERE status = 'posting' ORDER BY id`)
}

// OutboxCounts returns how many announcements are in each state.
func (s *Store) OutboxCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM outbox GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: outbox counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: outbox counts: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// ClaimOutbox moves a pending announcement to posting; the claim is durable before the post.
// It returns ErrNotFound if the item is no longer pending.
func (s *Store) ClaimOutbox(ctx context.Context, id int64, now time.Time) error {
	return s.update(ctx, `UPDATE outbox SET status = 'posting', claimed_at_ms = ?, attempts = attempts + 1
		WHERE id = ? AND status = 'pending'`, now.UnixMilli(), id)
}

// SentOutbox marks an announcement posted and stores the message ts on its content.
func (s *Store) SentOutbox(ctx context.Context, it *OutboxItem, ts string) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: outbox sent: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, s.q(`UPDATE outbox SET status = 'sent', message_ts = ? WHERE id = ?`), ts, it.ID); err != nil {
		return fmt.Errorf("store: outbox sent: %w", err)
	}
	if it.ContentID != "" {
		if _, err = tx.ExecContext(ctx, s.q(`UPDATE contents SET message_ts = ? WHERE id = ?`), ts, it.ContentID); err != nil {
			return fmt.Errorf("store: outbox sent: content ts: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("store: outbox sent: %w", err)
	}
	return nil
}

// ReleaseOutbox returns a claimed announcement to pending, to be tried at next.
func (s *Store) ReleaseOutbox(ctx context.Context, id int64, next time.Time, cause string) error {
	return s.update(ctx, `UPDATE outbox SET status = 'pending', next_attempt_ms = ?, last_error = ? WHERE id = ?`, next.UnixMilli(), cause, id)
}

// FailOutbox gives up on an announcement.
func (s *Store) FailOutbox(ctx context.Context, id int64, cause string) error {
	return s.update(ctx, `UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?`, cause, id)
}

func (s *Store) update(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return fmt.Errorf("store: outbox update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
