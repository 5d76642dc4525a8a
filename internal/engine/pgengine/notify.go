package pgengine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"sluice/internal/engine"
)

// Cross-process wakeups. After a write that may make messages receivable (a send, a move, a
// visibility change, a dead-letter move) commits, the engine queues the queue's id with the
// notifier, which sends them with pg_notify on its own, outside the write's transaction:
// NOTIFY inside a transaction takes a database-wide lock at commit, which would serialise
// every send's commit. Payloads are "<node id> <queue id>"; the watcher of every process
// LISTENs on the schema's channel and wakes its long polls, ignoring its own notifications.

func newNodeID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (e *Engine) channel() string { return notifyChannelPrefix + e.schema }

// notifier batches queue ids and sends them.
type notifier struct {
	e       *Engine
	mu      sync.Mutex
	pending map[uint64]bool // guarded by mu
	kick    chan struct{}
}

func newNotifier(e *Engine) *notifier {
	return &notifier{e: e, pending: map[uint64]bool{}, kick: make(chan struct{}, 1)}
}

// add queues notifications for ids.
func (n *notifier) add(ids ...uint64) {
	if n.e.opts.NoBackground {
		return
	}
	n.mu.Lock()
	for _, id := range ids {
		n.pending[id] = true
	}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *notifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		return nil
	}
	out := make([]string, 0, len(n.pending))
	for id := range n.pending {
		out = append(out, n.e.nodeID+" "+strconv.FormatUint(id, 10))
	}
	clear(n.pending)
	return out
}

// send delivers the pending notifications; on failure they are queued again.
func (n *notifier) send(ctx context.Context) error {
	payloads := n.take()
	if len(payloads) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := n.e.pool.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", n.e.channel(), payloads)
	if err != nil {
		n.mu.Lock()
		for _, p := range payloads {
			if _, id, ok := strings.Cut(p, " "); ok {
				if v, err := strconv.ParseUint(id, 10, 64); err == nil {
					n.pending[v] = true
				}
			}
		}
		n.mu.Unlock()
	}
	return err
}

// flush sends what is pending (at Close).
func (n *notifier) flush() {
	if !n.e.opts.NoBackground {
		_ = n.send(context.Background())
	}
}

func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		if err := n.send(ctx); err != nil && ctx.Err() == nil {
			n.e.log.Warn("postgres: sending notifications", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(n.e.opts.PollInterval):
			}
			select {
			case n.kick <- struct{}{}:
			default:
			}
		}
	}
}

// watcher LISTENs for other processes' notifications and calls the registered functions.
type watcher struct {
	e   *Engine
	mu  sync.Mutex
	fns []func(engine.QueueKey) // guarded by mu
}

func newWatcher(e *Engine) *watcher { return &watcher{e: e} }

// Watch implements engine.Watcher.
func (e *Engine) Watch(fn func(engine.QueueKey)) {
	e.watch.mu.Lock()
	defer e.watch.mu.Unlock()
	e.watch.fns = append(e.watch.fns, fn)
}

func (w *watcher) call(k engine.QueueKey) {
	w.mu.Lock()
	fns := append([]func(engine.QueueKey){}, w.fns...)
	w.mu.Unlock()
	for _, fn := range fns {
		fn(k)
	}
}

// run keeps a LISTEN connection. While it is down, and once each time it comes back, every
// waiter is woken every PollInterval (the polling fallback): notifications sent meanwhile are
// lost.
func (w *watcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		w.e.log.Warn("postgres: notification listener lost; polling until it is back", "err", err)
		w.call(engine.QueueKey{})
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.e.opts.PollInterval):
		}
	}
}

func (w *watcher) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, w.e.cfg.ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{w.e.channel()}.Sanitize()); err != nil {
		return err
	}
	// Anything sent while we were not listening is lost: look again everywhere.
	w.call(engine.QueueKey{})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		node, id, ok := strings.Cut(n.Payload, " ")
		if !ok || node == w.e.nodeID {
			continue
		}
		qid, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			continue
		}
		if k, ok := w.e.keyOf(ctx, conn, qid); ok {
			w.call(k)
		}
	}
}

// keyOf returns the key of a queue id, from the cache or the database.
func (e *Engine) keyOf(ctx context.Context, conn *pgx.Conn, id uint64) (engine.QueueKey, bool) {
	if k, ok := e.keys.Load(id); ok {
		return k.(engine.QueueKey), true
	}
	var k engine.QueueKey
	err := conn.QueryRow(ctx, "SELECT account, name FROM queues WHERE id = $1", int64(id)).Scan(&k.Account, &k.Name)
	if err != nil {
		return k, false
	}
	e.keys.Store(id, k)
	return k, true
}

// remember caches a queue's key for notifications.
func (e *Engine) remember(q *engine.Queue) { e.keys.Store(q.ID, q.Key) }
