// Package pgengine is the PostgreSQL engine: several stateless `sluice serve` processes share one
// PostgreSQL database (15 or later, no extension needed). The queue logic lives in SQL
// functions (plpgsql), installed in a schema of its own by embedded, versioned migrations; each
// engine operation is one call of one function, in one transaction. Receives on standard queues
// take messages with FOR UPDATE SKIP LOCKED, so receivers on any process never wait for each
// other nor take the same message; FIFO queues serialise their receives on the queue's row.
//
// Beyond engine.Engine, the engine implements engine.Watcher (long polls wake when another
// process sends, through LISTEN/NOTIFY) and engine.Leader (housekeeping runs in the one
// process that holds a PostgreSQL advisory lock). Durability is PostgreSQL's: a send is
// acknowledged once its transaction has committed.
package pgengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sluice/internal/clock"
	"sluice/internal/engine"
)

// DefaultSchema is the schema Sluice uses when none is configured.
const DefaultSchema = "sluice"

// Options configure Open.
type Options struct {
	// URL is a PostgreSQL connection string (postgres://user@host:port/db?sslmode=disable).
	URL string
	// Schema holds Sluice's tables and functions (default DefaultSchema). It is created if
	// missing. Several Sluice clusters may share a database in different schemas.
	Schema string
	// Logger receives the engine's own events (reconnects, leadership). Default: discard.
	Logger *slog.Logger
	// MaxConns caps the connection pool (default: pgxpool's, max(4, CPUs)).
	MaxConns int32
	// PollInterval is how often long polls are woken while notifications may be lost (the
	// LISTEN connection is down). Default 1 s.
	PollInterval time.Duration
	// LeaderRetry is how often a process that does not hold the housekeeping lock tries to take
	// it, and how often the holder checks its connection. Default 2 s.
	LeaderRetry time.Duration
	// NoBackground, for SQL-level tests, starts neither the listener nor the leader election.
	NoBackground bool
	// QueueCacheTTL is how long QueueGet may answer from memory (default 1 s; negative: never).
	// Changes made through another node are seen after at most this long.
	QueueCacheTTL time.Duration
	// Clock times the queue cache (default: the real clock).
	Clock clock.Clock
}

var schemaRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidSchema reports whether name can be used as the schema (a plain identifier of at most
// 63 characters: letters, digits, underscores).
func ValidSchema(name string) bool { return schemaRE.MatchString(name) }

// Engine is an engine.Engine over PostgreSQL.
type Engine struct {
	pool   *pgxpool.Pool
	cfg    *pgxpool.Config
	schema string
	log    *slog.Logger
	opts   Options
	nodeID string

	// opMu is held shared by every operation and exclusively by Close.
	opMu   sync.RWMutex
	closed bool // guarded by opMu

	keys sync.Map // queue id (uint64) -> engine.QueueKey, for notifications

	bg     sync.WaitGroup
	cancel context.CancelFunc

	notify  *notifier
	watch   *watcher
	leading leader
	gate    queueGate
	queues  queueCache
}

var (
	_ engine.Engine  = (*Engine)(nil)
	_ engine.Watcher = (*Engine)(nil)
	_ engine.Leader  = (*Engine)(nil)
)

// Open connects to PostgreSQL, installs or upgrades the schema (safe when several processes
// start at once), and starts the engine's listener and leader election.
func Open(ctx context.Context, o Options) (*Engine, error) {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if !ValidSchema(o.Schema) {
		return nil, fmt.Errorf("postgres schema %q: want letters, digits and underscores, at most 63, not starting with a digit", o.Schema)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.LeaderRetry <= 0 {
		o.LeaderRetry = 2 * time.Second
	}
	if o.QueueCacheTTL == 0 {
		o.QueueCacheTTL = time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{o.Schema}.Sanitize()
	cfg.ConnConfig.RuntimeParams["application_name"] = "sluice"
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if err := migrate(ctx, cfg.ConnConfig, o.Schema); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	e := &Engine{pool: pool, cfg: cfg, schema: o.Schema, log: o.Logger, opts: o, nodeID: newNodeID(),
		queues: queueCache{ttl: o.QueueCacheTTL, clk: o.Clock}}
	e.notify = newNotifier(e)
	e.watch = newWatcher(e)
	bgctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if !o.NoBackground {
		e.bg.Add(3)
		go func() { defer e.bg.Done(); e.notify.run(bgctx) }()
		go func() { defer e.bg.Done(); e.watch.run(bgctx) }()
		go func() { defer e.bg.Done(); e.leading.run(bgctx, e) }()
	}
	return e, nil
}

// Pool returns the engine's connection pool (for tests that call the SQL functions).
func (e *Engine) Pool() *pgxpool.Pool { return e.pool }

// Close stops the background work (giving up the housekeeping lock) and closes the pool.
func (e *Engine) Close() error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.notify.flush()
	e.cancel()
	e.bg.Wait()
	e.pool.Close()
	return nil
}

// begin starts an operation; the caller calls the returned function when done.
func (e *Engine) begin() (func(), error) {
	e.opMu.RLock()
	if e.closed {
		e.opMu.RUnlock()
		return nil, engine.ErrClosed
	}
	return e.opMu.RUnlock, nil
}

// Error codes raised by the SQL functions.
const (
	codeQueueNotFound    = "SL001"
	codeDeletedRecently  = "SL002"
	codePurgeInProgress  = "SL003"
	codeInFlightLimit    = "SL004"
	codeDeadlock         = "40P01"
	codeSerialization    = "40001"
	maxAttempts          = 8
	notifyChannelPrefix  = "sluice:"
	advisoryMigrationKey = 0x536c6d31 // "Slm1"
	advisoryLeaderKey    = 0x536c6c31 // "Sll1"
)

// mapErr turns the SQL functions' error codes into engine sentinels.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeQueueNotFound:
		return fmt.Errorf("%s: %w", pe.Message, engine.ErrQueueNotFound)
	case codeDeletedRecently:
		return fmt.Errorf("%s: %w", pe.Message, engine.ErrQueueDeletedRecently)
	case codePurgeInProgress:
		return fmt.Errorf("%s: %w", pe.Message, engine.ErrPurgeInProgress)
	case codeInFlightLimit:
		return fmt.Errorf("%s: %w", pe.Message, engine.ErrInFlightLimit)
	}
	return fmt.Errorf("postgres: %w", err)
}

// retryable reports whether a transaction failed only because of a conflict with another one
// (a deadlock between batches that lock rows in different orders): it can be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == codeDeadlock || pe.Code == codeSerialization)
}

// run calls f until it succeeds or fails for a reason other than a transaction conflict.
func (e *Engine) run(ctx context.Context, f func() error) error {
	var err error
	for range maxAttempts {
		if err = f(); err == nil || !retryable(err) {
			break
		}
	}
	if err != nil {
		return mapErr(err)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
