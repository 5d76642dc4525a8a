package pgengine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"sluice/internal/engine"
)

// Each method is one call of one SQL function of migrations/*.sql, in its own transaction
// (pgx runs a single statement as one); the functions hold the logic.

// storable reports whether PostgreSQL's text type can hold s: valid UTF-8 without NUL. The
// queue package rejects anything else before it would be stored; lookups by such names find
// nothing.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// scanQueue reads (id, fifo, attributes, tags, created_at, modified_at) and the extra columns.
func scanQueue(row pgx.Row, key engine.QueueKey, extra ...any) (*engine.Queue, error) {
	var (
		id                int64
		created, modified int64
		attributes, tags  map[string]string
		q                 = &engine.Queue{Key: key}
	)
	dest := append([]any{&id, &q.FIFO, &attributes, &tags, &created, &modified}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	q.ID, q.CreatedAt, q.ModifiedAt = uint64(id), fromMS(created), fromMS(modified)
	q.Attributes, q.Tags = attributes, tags
	if q.Attributes == nil {
		q.Attributes = map[string]string{}
	}
	if q.Tags == nil {
		q.Tags = map[string]string{}
	}
	return q, nil
}

// QueueCreate implements engine.Engine.
func (e *Engine) QueueCreate(ctx context.Context, p *engine.QueueCreateParams) (*engine.QueueCreateResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	res := &engine.QueueCreateResult{}
	err = e.run(ctx, func() error {
		row := e.pool.QueryRow(ctx, "SELECT * FROM queue_create($1, $2, $3, $4, $5, $6, $7)",
			p.Key.Account, p.Key.Name, p.FIFO, nonNil(p.Attributes), nonNil(p.Tags), ms(p.Now), p.DeletedCooldown.Milliseconds())
		q, err := scanQueue(row, p.Key, &res.Created)
		res.Queue = q
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating queue %s: %w", p.Key.Name, err)
	}
	e.remember(res.Queue)
	e.queues.put(res.Queue)
	return res, nil
}

// QueueDelete implements engine.Engine.
func (e *Engine) QueueDelete(ctx context.Context, p *engine.QueueDeleteParams) error {
	done, err := e.begin()
	if err != nil {
		return err
	}
	defer done()
	e.queues.drop(p.Key)
	err = e.run(ctx, func() error {
		_, err := e.pool.Exec(ctx, "SELECT queue_delete($1, $2, $3)", p.Key.Account, p.Key.Name, ms(p.Now))
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting queue %s: %w", p.Key.Name, err)
	}
	e.queues.drop(p.Key) // again: a QueueGet racing the delete may have cached it
	return nil
}

// QueueGet implements engine.Engine.
func (e *Engine) QueueGet(ctx context.Context, p *engine.QueueGetParams) (*engine.Queue, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	if !storable(p.Key.Account) || !storable(p.Key.Name) {
		// PostgreSQL text holds neither NUL nor invalid UTF-8, so no queue has such a name.
		return nil, fmt.Errorf("queue %q: %w", p.Key.Name, engine.ErrQueueNotFound)
	}
	if q := e.queues.get(p.Key); q != nil {
		return q, nil
	}
	row := e.pool.QueryRow(ctx, `SELECT id, fifo, attributes, tags, created_at, modified_at FROM queues
		WHERE account = $1 AND name = $2`, p.Key.Account, p.Key.Name)
	q, err := scanQueue(row, p.Key)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("queue %s: %w", p.Key.Name, engine.ErrQueueNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading queue %s: %w", p.Key.Name, mapErr(err))
	}
	e.remember(q)
	e.queues.put(q)
	return q, nil
}

// QueueList implements engine.Engine.
func (e *Engine) QueueList(ctx context.Context, p *engine.QueueListParams) ([]*engine.Queue, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	if !storable(p.Account) || !storable(p.Prefix) {
		return nil, nil // no stored name has such characters
	}
	rows, err := e.pool.Query(ctx, `SELECT id, fifo, attributes, tags, created_at, modified_at, account, name
		FROM queues WHERE ($1 = '' OR account = $1) AND starts_with(name, $2) ORDER BY account, name`,
		p.Account, p.Prefix)
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*engine.Queue
	for rows.Next() {
		var k engine.QueueKey
		q, err := scanQueue(rows, k, &k.Account, &k.Name)
		if err != nil {
			return nil, fmt.Errorf("listing queues: %w", mapErr(err))
		}
		q.Key = k
		e.remember(q)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing queues: %w", mapErr(err))
	}
	return out, nil
}

// QueueUpdate implements engine.Engine.
func (e *Engine) QueueUpdate(ctx context.Context, p *engine.QueueUpdateParams) (*engine.Queue, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	var q *engine.Queue
	e.queues.drop(p.Key)
	err = e.run(ctx, func() error {
		row := e.pool.QueryRow(ctx, "SELECT * FROM queue_update($1, $2, $3, $4, $5, $6, $7)",
			p.Key.Account, p.Key.Name, ms(p.Now), nonNil(p.SetAttributes), p.RemoveAttributes, nonNil(p.SetTags), p.RemoveTags)
		var err error
		q, err = scanQueue(row, p.Key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("updating queue %s: %w", p.Key.Name, err)
	}
	e.queues.put(q)
	return q, nil
}

// QueuePurge implements engine.Engine.
func (e *Engine) QueuePurge(ctx context.Context, p *engine.QueuePurgeParams) error {
	done, err := e.begin()
	if err != nil {
		return err
	}
	defer done()
	err = e.run(ctx, func() error {
		_, err := e.pool.Exec(ctx, "SELECT queue_purge($1, $2, $3, $4)", p.Key.Account, p.Key.Name, ms(p.Now), p.MinInterval.Milliseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("purging queue %s: %w", p.Key.Name, err)
	}
	return nil
}

// QueueStats implements engine.Engine.
func (e *Engine) QueueStats(ctx context.Context, p *engine.QueueStatsParams) (*engine.QueueStats, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	s := &engine.QueueStats{}
	err = e.run(ctx, func() error {
		return e.pool.QueryRow(ctx, "SELECT * FROM queue_stats($1, $2, $3, $4)", p.Key.Account, p.Key.Name, ms(p.Now), ms(p.RetentionCutoff)).
			Scan(&s.Visible, &s.InFlight, &s.Delayed, &s.Tenants, &s.LargestTenant)
	})
	if err != nil {
		return nil, fmt.Errorf("counting messages of %s: %w", p.Key.Name, err)
	}
	return s, nil
}

// MessageExpire implements engine.Engine.
func (e *Engine) MessageExpire(ctx context.Context, p *engine.MessageExpireParams) (int, error) {
	done, err := e.begin()
	if err != nil {
		return 0, err
	}
	defer done()
	var n int
	err = e.run(ctx, func() error {
		return e.pool.QueryRow(ctx, "SELECT message_expire($1, $2, $3, $4)", p.Key.Account, p.Key.Name, ms(p.RetentionCutoff), p.Max).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("expiring messages of %s: %w", p.Key.Name, err)
	}
	return n, nil
}

// attr is the stored form of a message attribute (JSON in a bytea column).
type attr struct {
	T   string `json:"t"`
	S   string `json:"s,omitempty"`
	B   []byte `json:"b,omitempty"`
	Bin bool   `json:"x,omitempty"`
}

func encodeAttrs(m map[string]engine.MessageAttribute) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]attr, len(m))
	for k, v := range m {
		out[k] = attr{T: v.DataType, S: v.StringValue, B: v.BinaryValue, Bin: v.IsBinary}
	}
	return json.Marshal(out)
}

func decodeAttrs(b []byte) (map[string]engine.MessageAttribute, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var in map[string]attr
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	out := make(map[string]engine.MessageAttribute, len(in))
	for k, v := range in {
		out[k] = engine.MessageAttribute{DataType: v.T, StringValue: v.S, BinaryValue: v.B, IsBinary: v.Bin}
	}
	return out, nil
}

// MessageSend implements engine.Engine.
func (e *Engine) MessageSend(ctx context.Context, p *engine.MessageSendParams) (*engine.MessageSendResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	n := len(p.Entries)
	var (
		ids, bodies, senders, groups, dedupIDs, arns = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n)
		keys               = make([][]byte, n)
		attrs, sys         = make([][]byte, n), make([][]byte, n)
		sentAts, visibleAt = make([]int64, n), make([]int64, n)
	)
	for i, ent := range p.Entries {
		m := ent.Message
		ids[i], bodies[i], senders[i], groups[i], dedupIDs[i], arns[i], keys[i] =
			m.ID, m.Body, m.SenderID, m.GroupID, m.DeduplicationID, m.DeadLetterSourceArn, []byte(ent.DedupKey)
		if attrs[i], err = encodeAttrs(m.Attributes); err != nil {
			return nil, fmt.Errorf("encoding attributes: %w", err)
		}
		if sys[i], err = encodeAttrs(m.SystemAttributes); err != nil {
			return nil, fmt.Errorf("encoding attributes: %w", err)
		}
		sentAts[i], visibleAt[i] = ms(m.SentAt), ms(ent.VisibleAt)
	}
	res := &engine.MessageSendResult{Entries: make([]engine.SentMessage, 0, n)}
	err = e.run(ctx, func() error {
		res.Entries = res.Entries[:0]
		rows, err := e.pool.Query(ctx, "SELECT * FROM message_send($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
			int64(p.QueueID), ms(p.Now), ms(p.DedupUntil), ids, bodies, attrs, sys, senders, sentAts, groups, dedupIDs, arns, visibleAt, keys)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s engine.SentMessage
			var seq int64
			if err := rows.Scan(&seq, &s.Duplicate, &s.MessageID); err != nil {
				return err
			}
			s.Seq = uint64(seq)
			res.Entries = append(res.Entries, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storing messages: %w", e.gone(p.QueueID, err))
	}
	if len(res.Entries) != n {
		return nil, fmt.Errorf("storing messages: %d results for %d entries", len(res.Entries), n)
	}
	e.notify.add(p.QueueID)
	return res, nil
}

// MessageReceive implements engine.Engine.
func (e *Engine) MessageReceive(ctx context.Context, p *engine.MessageReceiveParams) (*engine.MessageReceiveResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	var (
		dlqID    *int64
		dlqMax   int
		dlqArn   string
		dlqReset bool
	)
	if dl := p.DeadLetter; dl != nil {
		id := int64(dl.QueueID)
		dlqID, dlqMax, dlqArn, dlqReset = &id, dl.MaxReceiveCount, dl.SourceArn, dl.ResetSentAt
	}
	var res *engine.MessageReceiveResult
	counted := -1
	maxInFlight, expire := e.gate.plan(p)
	err = e.run(ctx, func() error {
		res = &engine.MessageReceiveResult{}
		rows, err := e.pool.Query(ctx, "SELECT * FROM message_receive($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
			int64(p.QueueID), ms(p.Now), p.Max, ms(p.VisibleAt), ms(p.RetentionCutoff), maxInFlight,
			p.AttemptID, ms(p.AttemptUntil), dlqID, dlqMax, dlqArn, dlqReset, expire)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				seq, token, firstRecv, sentAt, next *int64
				count, dead, inFlight               *int32
				id, body, sender, group, dedup, arn *string
				attrs, sys                          []byte
			)
			if err := rows.Scan(&seq, &token, &count, &firstRecv, &id, &body, &attrs, &sys, &sender, &sentAt,
				&group, &dedup, &arn, &dead, &next, &inFlight); err != nil {
				return err
			}
			if seq == nil {
				res.DeadLettered = int(*dead)
				res.NextVisibleAt = fromMS(*next)
				counted = int(*inFlight)
				continue
			}
			m := &engine.Message{ID: *id, Body: *body, SenderID: *sender, SentAt: fromMS(*sentAt), GroupID: *group,
				DeduplicationID: *dedup, DeadLetterSourceArn: *arn}
			if m.Attributes, err = decodeAttrs(attrs); err != nil {
				return fmt.Errorf("decoding attributes: %w", err)
			}
			if m.SystemAttributes, err = decodeAttrs(sys); err != nil {
				return fmt.Errorf("decoding attributes: %w", err)
			}
			res.Messages = append(res.Messages, engine.ReceivedMessage{
				Message:        m,
				Receipt:        engine.Receipt{QueueID: p.QueueID, Seq: uint64(*seq), Token: uint64(*token)},
				ReceiveCount:   int(*count),
				FirstReceiveAt: fromMS(*firstRecv),
			})
		}
		return rows.Err()
	})
	if err != nil {
		err = fmt.Errorf("receiving: %w", e.gone(p.QueueID, err))
		e.gate.done(p, expire, counted, 0, err)
		return nil, err
	}
	e.gate.done(p, expire, counted, len(res.Messages), nil)
	if res.DeadLettered > 0 {
		e.notify.add(p.DeadLetter.QueueID)
	}
	return res, nil
}

// Receipt statuses returned by message_delete and message_change_visibility.
var receiptErrors = []error{nil, engine.ErrMessageNotFound, engine.ErrReceiptSuperseded,
	engine.ErrMessageNotInFlight, engine.ErrVisibilityTooLong}

func statusErrors(st []int32, n int) ([]error, error) {
	if len(st) != n {
		return nil, fmt.Errorf("%d statuses for %d receipts", len(st), n)
	}
	out := make([]error, n)
	for i, s := range st {
		if s < 0 || int(s) >= len(receiptErrors) {
			return nil, fmt.Errorf("unknown receipt status %d", s)
		}
		out[i] = receiptErrors[s]
	}
	return out, nil
}

func receiptArrays(rs []engine.Receipt) (qids, seqs, tokens []int64) {
	qids, seqs, tokens = make([]int64, len(rs)), make([]int64, len(rs)), make([]int64, len(rs))
	for i, r := range rs {
		qids[i], seqs[i], tokens[i] = int64(r.QueueID), int64(r.Seq), int64(r.Token)
	}
	return qids, seqs, tokens
}

// MessageDelete implements engine.Engine.
func (e *Engine) MessageDelete(ctx context.Context, p *engine.MessageDeleteParams) ([]error, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qids, seqs, tokens := receiptArrays(p.Receipts)
	var st []int32
	err = e.run(ctx, func() error {
		return e.pool.QueryRow(ctx, "SELECT message_delete($1, $2, $3, $4, $5, $6)",
			int64(p.QueueID), ms(p.Now), qids, seqs, tokens, p.RequireInFlight).Scan(&st)
	})
	if err != nil {
		return nil, fmt.Errorf("deleting messages: %w", e.gone(p.QueueID, err))
	}
	return statusErrors(st, len(p.Receipts))
}

// MessageChangeVisibility implements engine.Engine.
func (e *Engine) MessageChangeVisibility(ctx context.Context, p *engine.MessageChangeVisibilityParams) ([]error, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	rs := make([]engine.Receipt, len(p.Entries))
	vis := make([]int64, len(p.Entries))
	for i, c := range p.Entries {
		rs[i], vis[i] = c.Receipt, ms(c.VisibleAt)
	}
	qids, seqs, tokens := receiptArrays(rs)
	var st []int32
	err = e.run(ctx, func() error {
		return e.pool.QueryRow(ctx, "SELECT message_change_visibility($1, $2, $3, $4, $5, $6, $7, $8)",
			int64(p.QueueID), ms(p.Now), qids, seqs, tokens, vis, p.RequireInFlight, p.MaxSinceReceive.Milliseconds()).Scan(&st)
	})
	if err != nil {
		return nil, fmt.Errorf("changing visibility: %w", e.gone(p.QueueID, err))
	}
	e.notify.add(p.QueueID)
	return statusErrors(st, len(p.Entries))
}

// MessageMove implements engine.Engine.
func (e *Engine) MessageMove(ctx context.Context, p *engine.MessageMoveParams) (*engine.MessageMoveResult, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	arns := make([]string, 0, len(p.Sources))
	ids := make([]int64, 0, len(p.Sources))
	for arn, id := range p.Sources {
		arns, ids = append(arns, arn), append(ids, int64(id))
	}
	res := &engine.MessageMoveResult{}
	err = e.run(ctx, func() error {
		return e.pool.QueryRow(ctx, "SELECT * FROM message_move($1, $2, $3, $4, $5, $6)",
			int64(p.QueueID), ms(p.Now), p.Max, int64(p.Destination), arns, ids).Scan(&res.Moved, &res.Unroutable)
	})
	if err != nil {
		return nil, fmt.Errorf("moving messages: %w", err)
	}
	if res.Moved > 0 {
		if p.Destination != 0 {
			e.notify.add(p.Destination)
		}
		for _, id := range p.Sources {
			e.notify.add(id)
		}
	}
	return res, nil
}

// MoveTaskPut implements engine.Engine. Several nodes may put one task (the lead node runs it,
// any node may cancel it), so a task that has ended keeps its status and failure reason, and
// its moved count never goes down (migrations/0002_move_task_final.sql).
func (e *Engine) MoveTaskPut(ctx context.Context, t *engine.MoveTask) error {
	done, err := e.begin()
	if err != nil {
		return err
	}
	defer done()
	err = e.run(ctx, func() error {
		_, err := e.pool.Exec(ctx, "SELECT move_task_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			t.Handle, int64(t.SourceQueueID), t.SourceArn, t.DestinationArn, t.MaxPerSecond, t.Status,
			t.Moved, t.ToMove, t.FailureReason, ms(t.StartedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("storing move task: %w", err)
	}
	return nil
}

// MoveTaskList implements engine.Engine.
func (e *Engine) MoveTaskList(ctx context.Context, p *engine.MoveTaskListParams) ([]*engine.MoveTask, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	rows, err := e.pool.Query(ctx, `SELECT handle, source_queue_id, source_arn, destination_arn, max_per_second, status,
		moved, to_move, failure_reason, started_at FROM move_tasks WHERE $1 = 0 OR source_queue_id = $1`, int64(p.SourceQueueID))
	if err != nil {
		return nil, fmt.Errorf("listing move tasks: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*engine.MoveTask
	for rows.Next() {
		t := &engine.MoveTask{}
		var src, started int64
		if err := rows.Scan(&t.Handle, &src, &t.SourceArn, &t.DestinationArn, &t.MaxPerSecond, &t.Status,
			&t.Moved, &t.ToMove, &t.FailureReason, &started); err != nil {
			return nil, fmt.Errorf("listing move tasks: %w", mapErr(err))
		}
		t.SourceQueueID, t.StartedAt = uint64(src), fromMS(started)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing move tasks: %w", mapErr(err))
	}
	return out, nil
}
