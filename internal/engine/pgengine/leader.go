package pgengine

import (
	"context"
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
	}
}
