package pgengine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// leader holds the housekeeping lead: a session-level advisory lock on a connection of its
// own. PostgreSQL releases the lock when that session ends, so when the process dies (or its
// connection does) another process takes the lead at its next try.
type leader struct {
	held atomic.Bool
}

// Leading implements engine.Leader.
func (e *Engine) Leading() bool { return e.leading.held.Load() }

func (l *leader) run(ctx context.Context, e *Engine) {
	for ctx.Err() == nil {
		l.hold(ctx, e)
		l.held.Store(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.opts.LeaderRetry):
		}
	}
}

// hold connects, tries the lock and, if it gets it, keeps it until the context ends or the
// connection fails.
func (l *leader) hold(ctx context.Context, e *Engine) {
	conn, err := pgx.ConnectConfig(ctx, e.cfg.ConnConfig)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", advisoryLeaderKey, e.schema).Scan(&got); err != nil || !got {
		return
	}
	l.held.Store(true)
	e.log.Info("postgres: this process now runs housekeeping")
	t := time.NewTicker(e.opts.LeaderRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Closing the connection releases the lock.
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, e.opts.LeaderRetry)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			l.held.Store(false)
			e.log.Warn("postgres: lost the housekeeping lock's connection", "err", err)
			return
		}
		if err := analyzeIfGrown(ctx, conn, e.schema); err != nil && ctx.Err() == nil {
			e.log.Warn("postgres: analyzing the messages table", "err", err)
		}
	}
}

// analyzeFloor: analyzeIfGrown leaves tables under twice this many rows alone.
const analyzeFloor = 500

// analyzeIfGrown runs ANALYZE on the messages table once it holds more than twice the rows its
// statistics say (and more than 2 × analyzeFloor). Plans are made from the statistics, and the
// functions' plans are cached per connection: made while a queue was small, a lookup by primary
// key can be planned as a walk of the queue's whole range of another index, and stays so while
// the queue grows. Autovacuum analyzes too, but checks each database once a minute by default,
// and a burst fills a queue in seconds. ANALYZE reads a fixed-size sample and invalidates the
// cached plans, so they are made again. Only growth matters (an overestimate keeps index scans
// preferred), and a steady churn of sends and deletes does not trigger it.
func analyzeIfGrown(ctx context.Context, conn *pgx.Conn, schema string) error {
	var live int64
	var known float64
	err := conn.QueryRow(ctx, `SELECT s.n_live_tup, c.reltuples FROM pg_stat_user_tables s
		JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = $1 AND s.relname = 'messages'`,
		schema).Scan(&live, &known)
	if err != nil {
		return fmt.Errorf("reading table statistics: %w", err)
	}
	if float64(live) <= 2*max(known, analyzeFloor) {
		return nil
	}
	_, err = conn.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, "messages"}.Sanitize())
	return err
}
