package pgengine_test

// SQL-level tests: the queue logic of the PostgreSQL engine is plpgsql code, and these tests
// call those functions directly, as SQL, against a real PostgreSQL — each test in a schema of
// its own, installed by the engine's migrations. Times are Unix milliseconds.

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
)

const t0 = int64(1_767_268_800_000) // 2026-01-01T12:00:00Z

type sqlBundle struct {
	ctx    context.Context
	schema string
	conn   *pgx.Conn
}

// sqlSetup installs the schema (through the engine's migrations) and returns a plain
// connection whose search_path is that schema.
func sqlSetup(t *testing.T) *sqlBundle {
	t.Helper()
	schema := pgtest.Schema(t)
	e := pgtest.Open(t, schema, pgengine.Options{NoBackground: true})
	require.NoError(t, e.Close())
	b := &sqlBundle{ctx: context.Background(), schema: schema}
	b.conn = b.connect(t)
	return b
}

func (b *sqlBundle) connect(t *testing.T) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.URL())
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = b.schema
	conn, err := pgx.ConnectConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// createQueue calls queue_create and returns the new queue's id.
func (b *sqlBundle) createQueue(t *testing.T, name string, fifo bool) int64 {
	t.Helper()
	var id int64
	var created bool
	err := b.conn.QueryRow(b.ctx, `SELECT id, created FROM queue_create('000000000000', $1, $2, '{}', '{}', $3, 0)`,
		name, fifo, t0).Scan(&id, &created)
	require.NoError(t, err)
	require.True(t, created)
	return id
}

// send calls message_send with one message per body (in group, with dedup keys if given) and
// returns (seq, duplicate) per entry.
func (b *sqlBundle) send(t *testing.T, conn *pgx.Conn, q int64, now int64, group string, keys []string, bodies ...string) ([]int64, []bool) {
	t.Helper()
	n := len(bodies)
	ids, groups, empty := make([]string, n), make([]string, n), make([]string, n)
	sent, vis := make([]int64, n), make([]int64, n)
	k := make([][]byte, n)
	for i, body := range bodies {
		ids[i], groups[i], sent[i], vis[i] = "id-"+body, group, now, now
		if keys != nil {
			k[i] = []byte(keys[i])
		}
	}
	rows, err := conn.Query(b.ctx, `SELECT seq, duplicate FROM message_send($1, $2, $3, $4, $5, NULL, NULL, $6, $7, $8, $6, $6, $9, $10)`,
		q, now, now+300_000, ids, bodies, empty, sent, groups, vis, k)
	require.NoError(t, err)
	var seqs []int64
	var dups []bool
	for rows.Next() {
		var s int64
		var d bool
		require.NoError(t, rows.Scan(&s, &d))
		seqs, dups = append(seqs, s), append(dups, d)
	}
	require.NoError(t, rows.Err())
	return seqs, dups
}

type received struct {
	seqs, tokens []int64
	bodies       []string
	counts       []int32
	deadLettered int32
	next         int64
}

// receive calls message_receive with no retention and no in-flight limit; dlq 0 means none.
func (b *sqlBundle) receive(t *testing.T, conn *pgx.Conn, q, now int64, max int, vis int64, dlq int64, maxCount int) *received {
	t.Helper()
	var dlqID *int64
	if dlq != 0 {
		dlqID = &dlq
	}
	rows, err := conn.Query(b.ctx, `SELECT seq, token, receive_count, body, dead_lettered, next_visible_at
		FROM message_receive($1, $2, $3, $4, 0, 0, '', 0, $5, $6, 'arn:src', false, false)`, q, now, max, vis, dlqID, maxCount)
	require.NoError(t, err)
	r := &received{}
	for rows.Next() {
		var seq, token, next *int64
		var count, dead *int32
		var body *string
		require.NoError(t, rows.Scan(&seq, &token, &count, &body, &dead, &next))
		if seq == nil {
			r.deadLettered, r.next = *dead, *next
			continue
		}
		r.seqs, r.tokens, r.counts, r.bodies = append(r.seqs, *seq), append(r.tokens, *token), append(r.counts, *count), append(r.bodies, *body)
	}
	require.NoError(t, rows.Err())
	return r
}

func (b *sqlBundle) stats(t *testing.T, name string, now int64) [3]int64 {
	t.Helper()
	var s [3]int64
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT visible, in_flight, delayed FROM queue_stats('000000000000', $1, $2, 0)`, name, now).Scan(&s[0], &s[1], &s[2]))
	return s
}

func TestSQLSendReceiveDelete(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q", false)
	seqs, dups := b.send(t, b.conn, q, t0, "", nil, "a", "b", "c")
	require.Len(t, seqs, 3)
	require.Equal(t, []bool{false, false, false}, dups)
	require.Less(t, seqs[0], seqs[1])
	require.Equal(t, [3]int64{3, 0, 0}, b.stats(t, "q", t0))

	r := b.receive(t, b.conn, q, t0, 2, t0+30_000, 0, 0)
	require.Equal(t, []string{"a", "b"}, r.bodies, "oldest first")
	require.Equal(t, []int32{1, 1}, r.counts)
	require.NotContains(t, r.tokens, int64(0))
	require.Equal(t, [3]int64{1, 2, 0}, b.stats(t, "q", t0))

	var st []int32
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT message_delete($1, $2, $3, $4, $5, true)`,
		q, t0, []int64{q, q, q, q + 1}, []int64{r.seqs[0], r.seqs[0], r.seqs[1], r.seqs[1]},
		[]int64{r.tokens[0], r.tokens[0], r.tokens[1] ^ 1, r.tokens[1]}).Scan(&st))
	require.Equal(t, []int32{0, 1, 2, 1}, st, "deleted; already gone; wrong token; another queue's receipt")
	require.Equal(t, [3]int64{1, 1, 0}, b.stats(t, "q", t0))

	_, err := b.conn.Exec(b.ctx, `SELECT message_delete(424242, 0, '{}', '{}', '{}', false)`)
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "SL001", pe.Code, "a missing queue raises SL001")
}

func TestSQLReceiveUnderContention(t *testing.T) {
	// Receivers on separate connections (as on separate nodes) never take the same message
	// while it is in flight, and together take every message.
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q", false)
	const total = 300
	for i := 0; i < total; i += 30 {
		var bodies []string
		for j := range 30 {
			bodies = append(bodies, fmt.Sprint(i+j))
		}
		b.send(t, b.conn, q, t0, "", nil, bodies...)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 6 {
		conn := b.connect(t)
		wg.Go(func() {
			for {
				r := b.receive(t, conn, q, t0, 4, t0+3_600_000, 0, 0)
				if len(r.seqs) == 0 {
					return
				}
				mu.Lock()
				for _, s := range r.seqs {
					seen[s]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, total)
	for seq, n := range seen {
		require.Equal(t, 1, n, "seq %d taken %d times", seq, n)
	}
	require.Equal(t, [3]int64{0, total, 0}, b.stats(t, "q", t0))
}

func TestSQLVisibility(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q", false)
	b.send(t, b.conn, q, t0, "", nil, "m")
	r := b.receive(t, b.conn, q, t0, 10, t0+30_000, 0, 0)
	require.Len(t, r.seqs, 1)

	empty := b.receive(t, b.conn, q, t0+10_000, 10, t0+60_000, 0, 0)
	require.Empty(t, empty.seqs, "invisible while in flight")
	require.Equal(t, t0+30_000, empty.next, "next_visible_at is the deadline")

	// Extend to 50 s, capped at 40 s after the receive: refused (4); to 35 s: accepted.
	var st []int32
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT message_change_visibility($1, $2, $3, $4, $5, $6, true, 40000)`,
		q, t0+10_000, []int64{q, q}, []int64{r.seqs[0], r.seqs[0]}, []int64{r.tokens[0], r.tokens[0]},
		[]int64{t0 + 50_000, t0 + 35_000}).Scan(&st))
	require.Equal(t, []int32{4, 0}, st)
	require.Empty(t, b.receive(t, b.conn, q, t0+34_999, 10, t0+60_000, 0, 0).seqs)
	again := b.receive(t, b.conn, q, t0+35_000, 10, t0+60_000, 0, 0)
	require.Equal(t, []int32{2}, again.counts, "visible again at the new deadline")

	// The first receipt is superseded; after the deadline the current one is not in flight.
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT message_change_visibility($1, $2, $3, $4, $5, $6, true, 0)`,
		q, t0+70_000, []int64{q, q}, []int64{r.seqs[0], r.seqs[0]}, []int64{r.tokens[0], again.tokens[0]},
		[]int64{t0 + 80_000, t0 + 80_000}).Scan(&st))
	require.Equal(t, []int32{2, 3}, st)
}

func TestSQLRedriveToDeadLetterQueue(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "src", false)
	dlq := b.createQueue(t, "dlq", false)
	b.send(t, b.conn, q, t0, "", nil, "poison")
	require.Len(t, b.receive(t, b.conn, q, t0, 10, t0+1000, dlq, 2).seqs, 1)
	require.Len(t, b.receive(t, b.conn, q, t0+1000, 10, t0+2000, dlq, 2).seqs, 1)
	third := b.receive(t, b.conn, q, t0+2000, 10, t0+3000, dlq, 2)
	require.Empty(t, third.seqs)
	require.Equal(t, int32(1), third.deadLettered)

	var arn string
	var count int32
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT dead_letter_source_arn, receive_count FROM messages WHERE queue_id = $1`, dlq).Scan(&arn, &count))
	require.Equal(t, "arn:src", arn)
	require.Equal(t, int32(2), count)
	require.Equal(t, [3]int64{0, 0, 0}, b.stats(t, "src", t0+3000))
	require.Equal(t, [3]int64{1, 0, 0}, b.stats(t, "dlq", t0+3000))

	// A move task step takes it back.
	var moved int32
	var unroutable string
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT * FROM message_move($1, $2, 10, 0, $3, $4)`,
		dlq, t0+4000, []string{"arn:src"}, []int64{q}).Scan(&moved, &unroutable))
	require.Equal(t, int32(1), moved)
	require.Empty(t, unroutable)
	require.Equal(t, [3]int64{1, 0, 0}, b.stats(t, "src", t0+4000))
}

func TestSQLFIFOGroupBlocking(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q.fifo", true)
	b.send(t, b.conn, q, t0, "a", nil, "a1", "a2")
	b.send(t, b.conn, q, t0, "b", nil, "b1")
	b.send(t, b.conn, q, t0, "a", nil, "a3")

	r := b.receive(t, b.conn, q, t0, 10, t0+60_000, 0, 0)
	require.Equal(t, []string{"a1", "a2", "a3", "b1"}, r.bodies, "a batch fills from one group, in order, then the next")
	b.send(t, b.conn, q, t0+1, "a", nil, "a4")
	b.send(t, b.conn, q, t0+1, "c", nil, "c1")
	require.Equal(t, []string{"c1"}, b.receive(t, b.conn, q, t0+1, 10, t0+60_000, 0, 0).bodies, "group a is blocked by its in-flight messages")

	// Deleting a1..a3 unblocks a at a4.
	var st []int32
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT message_delete($1, $2, $3, $4, $5, true)`,
		q, t0+2, []int64{q, q, q}, r.seqs[:3], r.tokens[:3]).Scan(&st))
	require.Equal(t, []int32{0, 0, 0}, st)
	require.Equal(t, []string{"a4"}, b.receive(t, b.conn, q, t0+2, 10, t0+60_000, 0, 0).bodies)
}

func TestSQLDedupExpiry(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q.fifo", true)
	first, dups := b.send(t, b.conn, q, t0, "g", []string{"k"}, "one")
	require.Equal(t, []bool{false}, dups)
	again, dups := b.send(t, b.conn, q, t0+299_999, "g", []string{"k", "k2", "k2"}, "two", "three", "four")
	require.Equal(t, []bool{true, false, true}, dups, "within the window; a repeat within one call")
	require.Equal(t, first[0], again[0], "a duplicate names the first message")
	require.Equal(t, again[1], again[2])

	// The key expires 300 s after the first send, and is then taken anew.
	later, dups := b.send(t, b.conn, q, t0+300_000, "g", []string{"k"}, "five")
	require.Equal(t, []bool{false}, dups)
	require.Greater(t, later[0], first[0])
	var until int64
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT until FROM dedup WHERE queue_id = $1 AND key = 'k'::bytea`, q).Scan(&until))
	require.Equal(t, t0+600_000, until)

	// A purge forgets every key.
	_, err := b.conn.Exec(b.ctx, `SELECT queue_purge('000000000000', 'q.fifo', $1, 60000)`, t0+300_001)
	require.NoError(t, err)
	_, dups = b.send(t, b.conn, q, t0+300_002, "g", []string{"k"}, "six")
	require.Equal(t, []bool{false}, dups)
}

// TestSQLMoveTaskPutKeepsEndedStatus: the lead node's worker may store a step's progress
// (RUNNING) just after another node stored the cancel; the task stays CANCELLED and its moved
// count only grows.
func TestSQLMoveTaskPutKeepsEndedStatus(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	put := func(status string, moved int64, reason string) {
		t.Helper()
		_, err := b.conn.Exec(b.ctx, `SELECT move_task_put('h', 1, 'arn:src', '', 0, $1, $2, 10, $3, $4)`, status, moved, reason, t0)
		require.NoError(t, err)
	}
	get := func() (status string, moved int64, reason string) {
		t.Helper()
		require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT status, moved, failure_reason FROM move_tasks WHERE handle = 'h'`).Scan(&status, &moved, &reason))
		return
	}
	put("RUNNING", 0, "")
	put("RUNNING", 3, "")
	put("CANCELLED", 2, "") // the cancel read an older count
	s, m, _ := get()
	require.Equal(t, "CANCELLED", s)
	require.Equal(t, int64(3), m)
	put("RUNNING", 4, "") // the worker's step, after the cancel
	put("FAILED", 4, "AWS.SimpleQueueService.NonExistentQueue")
	s, m, r := get()
	require.Equal(t, "CANCELLED", s, "an ended task keeps its status")
	require.Equal(t, int64(4), m)
	require.Empty(t, r)
}

// TestSQLFairRanks calls message_send and message_receive directly on a standard queue with
// tenants: a tenant's messages take turns with the others' (rank, then seq), a message without
// group id ranks at the front, a tenant back from idle does not jump ahead, and queue_stats
// reports the tenants.
func TestSQLFairRanks(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q", false)
	b.send(t, b.conn, q, t0, "a", nil, "a1", "a2", "a3", "a4")
	b.send(t, b.conn, q, t0, "b", nil, "b1", "b2")
	b.send(t, b.conn, q, t0, "", nil, "x")
	var tenants, largest int64
	require.NoError(t, b.conn.QueryRow(b.ctx, `SELECT tenants, largest_tenant FROM queue_stats('000000000000', 'q', $1, 0)`, t0).
		Scan(&tenants, &largest))
	require.Equal(t, [2]int64{2, 4}, [2]int64{tenants, largest})

	r := b.receive(t, b.conn, q, t0, 10, t0+30_000, 0, 0)
	require.Equal(t, []string{"a1", "b1", "x", "a2", "b2", "a3", "a4"}, r.bodies,
		"each tenant's k-th message with the others' k-th; no group id at the front")

	// The queue is now empty (all in flight, then deleted by purging): a tenant that comes back
	// ranks from the highest rank reached, not from its own old one.
	_, err := b.conn.Exec(b.ctx, `DELETE FROM messages WHERE queue_id = $1`, q)
	require.NoError(t, err)
	b.send(t, b.conn, q, t0+1, "a", nil, "a5", "a6")
	b.send(t, b.conn, q, t0+1, "b", nil, "b3")
	r = b.receive(t, b.conn, q, t0+1, 10, t0+30_000, 0, 0)
	require.Equal(t, []string{"a5", "b3", "a6"}, r.bodies)
}

// TestSQLReceiveInFlightAndExpiry calls message_receive with its two optional checks: the
// in-flight count (returned, and SL004 at the limit) and expiry of the queue's old messages.
func TestSQLReceiveInFlightAndExpiry(t *testing.T) {
	t.Parallel()
	b := sqlSetup(t)
	q := b.createQueue(t, "q", false)
	b.send(t, b.conn, q, t0, "", nil, "old-1", "old-2", "old-3")
	b.send(t, b.conn, q, t0+20_000, "", nil, "new-1", "new-2")
	// recv returns the bodies taken and the in_flight column of the status row.
	recv := func(now int64, max, maxInFlight int, cutoff int64, expire bool) ([]string, int32, error) {
		rows, err := b.conn.Query(b.ctx, `SELECT body, in_flight
			FROM message_receive($1, $2, $3, $4, $5, $6, '', 0, NULL, 0, '', false, $7)`,
			q, now, max, now+3_600_000, cutoff, maxInFlight, expire)
		require.NoError(t, err)
		var bodies []string
		var inFlight int32
		for rows.Next() {
			var body *string
			var n *int32
			require.NoError(t, rows.Scan(&body, &n))
			if body == nil {
				inFlight = *n
				continue
			}
			bodies = append(bodies, *body)
		}
		return bodies, inFlight, rows.Err()
	}

	got, inFlight, err := recv(t0+21_000, 1, 0, 0, false)
	require.NoError(t, err)
	require.Equal(t, []string{"old-1"}, got)
	require.Equal(t, int32(-1), inFlight, "not counted unless asked")

	got, inFlight, err = recv(t0+21_000, 1, 5, 0, false)
	require.NoError(t, err)
	require.Equal(t, []string{"old-2"}, got)
	require.Equal(t, int32(1), inFlight, "the count before this receive's own")

	_, _, err = recv(t0+21_000, 1, 2, 0, false)
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "SL004", pe.Code, "two in flight: the limit of two is reached")

	// Past retention: without expiry the in-flight old messages stay, the visible one met by
	// the receive is deleted rather than delivered.
	got, _, err = recv(t0+25_000, 10, 0, t0+10_000, false)
	require.NoError(t, err)
	require.Equal(t, []string{"new-1", "new-2"}, got)
	require.Equal(t, [3]int64{0, 4, 0}, b.stats(t, "q", t0+25_000), "old-1 and old-2 are still in flight")

	got, _, err = recv(t0+25_000, 10, 0, t0+10_000, true)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, [3]int64{0, 2, 0}, b.stats(t, "q", t0+25_000), "expiry removed the old in-flight messages")
}
