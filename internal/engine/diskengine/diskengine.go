// Package diskengine is Sluice's durable, default storage engine: the indexed engine over a
// Store kept in Pebble (github.com/cockroachdb/pebble/v2), an embedded LSM key-value store with
// a write-ahead log and group commit.
//
// Message bodies live only on disk; memory holds the indexed engine's small fixed-size index
// entry per message, which Load rebuilds at start from the queue and state records alone (see
// the key layout in codec.go). With SyncAlways, the default, a write that asks for durability is
// acknowledged only after the WAL holding it has been fsynced; concurrent writers share one fsync
// (group commit). SyncInterval fsyncs in the background instead and may lose the last few
// milliseconds of acknowledged writes on any crash.
//
// A data directory is used by one process at a time: Open fails with a clear error when another
// process (or another Open in this process) holds it.
//
// Storage failures are fail-stop: when a write or fsync of the write-ahead log fails (an I/O
// error, a full disk, a short write), the store fails for good. The operation that met the
// failure and every later one return an error wrapping ErrStoreFailed (which the server answers
// with a retryable 503 ServiceUnavailable), nothing that was not durable before the failure is
// acknowledged, and Err reports the failure (for readiness checks). Recovery is a restart, which
// replays the log up to the failure; see ErrStoreFailed and walGuard for why Pebble cannot go on
// after such a failure.
package diskengine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"sluice/internal/engine"
	"sluice/internal/engine/indexed"
)

// SyncMode says when writes reach stable storage.
type SyncMode int

const (
	// SyncAlways makes every write that asks for durability (Batch.Sync: sends, receives,
	// deletes, queue changes) wait for an fsync of the WAL before it returns. Concurrent writes
	// share fsyncs through Pebble's group commit.
	SyncAlways SyncMode = iota
	// SyncInterval never waits for an fsync: a background goroutine syncs the WAL every
	// Options.SyncEvery. On any crash — of the sluice process too, not only of the OS or the
	// power: Pebble keeps the partly filled log block in process memory until a sync — the
	// writes of the last SyncEvery (default 10ms) may be lost even though they were
	// acknowledged, and so may they when a write or fsync of the log fails (the store then
	// fails: see ErrStoreFailed). The crash harness measured it (docs/durability.md).
	SyncInterval
)

// String returns the mode's flag value: "always" or "interval".
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	default:
		return fmt.Sprintf("SyncMode(%d)", int(m))
	}
}

// ParseSyncMode parses "always" or "interval".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	default:
		return 0, fmt.Errorf("unknown sync mode %q (want always or interval)", s)
	}
}

// Defaults of Options.
const (
	DefaultSyncEvery    = 10 * time.Millisecond
	DefaultCacheSize    = 64 << 20
	DefaultMemTableSize = 32 << 20
)

// Options configure the disk engine. The zero value of every field but Dir is a sane default.
type Options struct {
	// Dir is the data directory, created if absent. It must be empty, absent or hold a store
	// written by this engine.
	Dir string
	// Sync says when writes become durable; the default is SyncAlways.
	Sync SyncMode
	// SyncEvery is the background sync period of SyncInterval (0: 10ms).
	SyncEvery time.Duration
	// MinSyncGap is the shortest time between two fsyncs of the log with SyncAlways while more
	// than GapWaiters writes wait for durability: a sync asked for sooner waits out the rest of
	// the gap, so that more writes share it (group commit with a commit delay). With fewer
	// writes waiting, the log syncs as soon as asked. 0 never waits.
	MinSyncGap time.Duration
	// GapWaiters is how many writes waiting for durability at once turn MinSyncGap on
	// (0: DefaultGapWaiters).
	GapWaiters int
	// CacheSize is the size in bytes of Pebble's block cache (0: 64 MiB).
	CacheSize int64
	// MemTableSize is the size in bytes of one Pebble memtable (0: 32 MiB). Pebble keeps up to
	// two in memory before it stalls writes while flushing.
	MemTableSize uint64
	// FS is the file system the store lives on; nil means the operating system's (vfs.Default).
	// It is the seam for fault-injection and crash tests (vfs.NewMem, errorfs).
	FS vfs.FS
	// Logger receives the engine's log messages, and Pebble's with subsystem=pebble; nil
	// discards them. The caller names the component (e.g. With("component", "diskengine")).
	Logger *slog.Logger
}

// Store is an indexed.Store on Pebble. Its methods are safe for concurrent use.
type Store struct {
	db   *pebble.DB
	lock *pebble.Lock
	dir  string
	mode SyncMode
	log  *slog.Logger

	// closeMu is held shared by every operation on db and exclusively by Close, so that Close
	// waits for operations in progress and none starts on a closed db (which Pebble punishes
	// with a panic).
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// fail records a storage failure, after which every operation is refused.
	fail *failure
	// pacer counts the writes waiting for an fsync and spaces the fsyncs by them.
	pacer *syncPacer

	// unsynced is set by writes not yet fsynced in SyncInterval mode.
	unsynced atomic.Bool
	stopSync chan struct{} // closed to stop the sync goroutine; nil without one
	syncDone chan struct{} // closed when the sync goroutine has returned
}

var _ indexed.Store = (*Store)(nil)

// Open opens (or creates) the store in opts.Dir and returns the engine over it, with its index
// rebuilt from the store.
func Open(ctx context.Context, opts Options) (*indexed.Engine, error) {
	s, err := OpenStore(opts)
	if err != nil {
		return nil, err
	}
	e, err := indexed.New(ctx, s)
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("opening disk engine in %s: %w", s.dir, err)
	}
	return e, nil
}

// OpenStore opens (or creates) the store in opts.Dir.
//
// It refuses a directory that is in use by another process, that holds files but no Pebble
// store, or whose Pebble store was not written by this version of sluice.
func OpenStore(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("diskengine: no data dir given")
	}
	if opts.Sync != SyncAlways && opts.Sync != SyncInterval {
		return nil, fmt.Errorf("diskengine: unknown sync mode %d", opts.Sync)
	}
	fs := opts.FS
	dir := filepath.Clean(opts.Dir)
	if fs == nil {
		fs = vfs.Default
		// Pebble detects a second lock in this process by path name: make the name canonical.
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("data dir %s: %w", dir, err)
		}
		dir = abs
	}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	log := base.With("dir", dir)
	plog := log.With("subsystem", "pebble")
	fail := &failure{log: log}

	if err := checkDir(fs, dir); err != nil {
		return nil, err
	}
	lock, err := pebble.LockDirectory(dir, fs)
	if err != nil {
		if lockHeld(err) {
			return nil, fmt.Errorf("data dir %s is in use by another sluice process: %w", dir, err)
		}
		return nil, fmt.Errorf("locking data dir %s: %w", dir, err)
	}

	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	memTableSize := opts.MemTableSize
	if memTableSize == 0 {
		memTableSize = DefaultMemTableSize
	}
	pacer := &syncPacer{gap: opts.MinSyncGap, waiters: int64(opts.GapWaiters)}
	if pacer.waiters <= 0 {
		pacer.waiters = DefaultGapWaiters
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref() // the DB holds its own reference
	db, err := pebble.Open(dir, &pebble.Options{
		FS:                 &walGuard{FS: fs, fail: fail},
		Lock:               lock,
		Cache:              cache,
		MemTableSize:       memTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log: plog, fail: fail},
		EventListener:      pebbleEvents(plog),
		WALMinSyncInterval: pacer.next,
	})
	if err != nil {
		_ = lock.Close()
		if pebble.IsCorruptionError(err) {
			return nil, fmt.Errorf("data dir %s holds a damaged store, which sluice will not open: %w; "+
				"restore the directory from a backup, or move it aside to start with an empty store", dir, err)
		}
		return nil, fmt.Errorf("opening store in data dir %s: %w", dir, err)
	}
	err = checkFormat(db, dir)
	if ferr := fail.get(); ferr != nil {
		// Writing the log failed while opening (recovery or the format marker).
		err = fmt.Errorf("opening store in data dir %s: %w", dir, ferr)
	}
	if err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, err
	}

	s := &Store{db: db, lock: lock, dir: dir, mode: opts.Sync, log: log, fail: fail, pacer: pacer}
	if s.mode == SyncInterval {
		every := opts.SyncEvery
		if every <= 0 {
			every = DefaultSyncEvery
		}
		s.stopSync = make(chan struct{})
		s.syncDone = make(chan struct{})
		go s.syncLoop(every)
	}
	log.Info("store opened", "sync", s.mode.String())
	return s, nil
}

// Load implements indexed.Store. It reads queue and state records (and the small bookkeeping
// and move task records) only, never a message body, from one snapshot.
// States are reported whether or not their queue exists: the indexed engine deletes orphans.
func (s *Store) Load(ctx context.Context, l *indexed.Loader) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return engine.ErrClosed
	}
	if err := s.fail.get(); err != nil {
		return err
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()

	loaders := []struct {
		what   string
		prefix byte
		fn     func(k, v []byte) error
	}{
		{"queues", prefixQueue, func(k, v []byte) error {
			q, err := decodeQueue(v)
			if err != nil {
				return fmt.Errorf("queue key %x: %w", k, err)
			}
			if !bytes.Equal(k, queueKey(q.ID)) {
				return fmt.Errorf("queue key %x: %w", k, corruptf("record of queue id %d", q.ID))
			}
			if l.Queue != nil {
				l.Queue(q)
			}
			return nil
		}},
		{"message states", prefixState, func(k, v []byte) error {
			qid, seq, err := parseMsgKey(k)
			if err != nil {
				return err
			}
			st, err := decodeState(seq, v)
			if err != nil {
				return fmt.Errorf("state of message %d/%d: %w", qid, seq, err)
			}
			if l.State != nil {
				l.State(qid, st)
			}
			return nil
		}},
		{"sequences", prefixNextSeq, func(k, v []byte) error {
			next, err := uint64Value(v)
			if err != nil || len(k) != 9 {
				return fmt.Errorf("sequence key %x: %w", k, corruptf("bad sequence record"))
			}
			if l.NextSeq != nil {
				l.NextSeq(binary.BigEndian.Uint64(k[1:]), next)
			}
			return nil
		}},
		{"deduplication keys", prefixDedup, func(k, v []byte) error {
			qid, key, seq, until, id, err := decodeDedup(k, v)
			if err != nil {
				return err
			}
			if l.Dedup != nil {
				l.Dedup(indexed.Dedup{QueueID: qid, Key: key, Seq: seq, Until: time.UnixMilli(until), MessageID: id})
			}
			return nil
		}},
		{"message move tasks", prefixTask, func(k, v []byte) error {
			t, err := decodeMoveTask(v)
			if err != nil {
				return fmt.Errorf("move task key %x: %w", k, err)
			}
			if !bytes.Equal(k, moveTaskKey(t.Handle)) {
				return fmt.Errorf("move task key %x: %w", k, corruptf("record of task %q", t.Handle))
			}
			if l.MoveTask != nil {
				l.MoveTask(t)
			}
			return nil
		}},
		{"tombstones", prefixTomb, func(k, v []byte) error {
			key, err := parseTombKey(k)
			if err != nil {
				return err
			}
			at, err := uint64Value(v)
			if err != nil {
				return fmt.Errorf("tombstone %x: %w", k, err)
			}
			if l.Tombstone != nil {
				l.Tombstone(indexed.Tombstone{Key: key, DeletedAt: time.UnixMilli(int64(at))})
			}
			return nil
		}},
	}
	for _, ld := range loaders {
		lo, hi := prefixSpan(ld.prefix)
		if err := scan(ctx, snap, lo, hi, ld.fn); err != nil {
			return fmt.Errorf("loading %s: %w", ld.what, err)
		}
	}
	v, closer, err := snap.Get(nextQueueIDKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("loading next queue id: %w", err)
	default:
		next, derr := uint64Value(v)
		closer.Close()
		if derr != nil {
			return fmt.Errorf("loading next queue id: %w", derr)
		}
		if l.NextQueueID != nil {
			l.NextQueueID(next)
		}
	}
	return nil
}

// scan calls fn for every key in [lo, hi) of the snapshot, checking ctx now and then. The
// slices passed to fn are valid only during the call.
func scan(ctx context.Context, snap *pebble.Snapshot, lo, hi []byte, fn func(k, v []byte) error) (err error) {
	it, err := snap.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return it.Error()
}

// Apply implements indexed.Store. The batch is written as one Pebble batch, in the order of
// the memory engine: queues, deleted queues, new messages, states, deleted messages, purges,
// then the bookkeeping records and message move tasks. Pebble applies batches in the order they enter its commit
// pipeline, which is the order of the Apply calls.
//
// After a storage failure Apply refuses every batch, and a batch in flight when it happens
// fails (from Apply or from wait) even if Pebble reports success: the WAL guard hides the
// failure from Pebble, so the store's own record of it is what decides.
func (s *Store) Apply(ctx context.Context, b *indexed.Batch) (func() error, error) {
	if b.Empty() {
		return noWait, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, engine.ErrClosed
	}
	if err := s.fail.get(); err != nil {
		s.closeMu.RUnlock()
		return nil, err
	}
	pb := s.db.NewBatch()
	if err := s.build(pb, b); err != nil {
		pb.Close()
		s.closeMu.RUnlock()
		return nil, err
	}
	if b.Sync && s.mode == SyncAlways {
		// Commit without waiting for the fsync: the caller waits for it after releasing its
		// locks, so that concurrent batches join one fsync (Pebble's group commit). closeMu
		// stays held until then.
		s.pacer.waiting.Add(1)
		if err := s.commit(pb, true); err != nil {
			s.pacer.waiting.Add(-1)
			s.closeMu.RUnlock()
			return nil, err
		}
		return func() error {
			defer s.closeMu.RUnlock()
			defer pb.Close()
			err := pb.SyncWait()
			s.pacer.waiting.Add(-1)
			if err != nil {
				// The guard keeps WAL errors from Pebble, so this is not expected; the log is
				// broken all the same.
				s.fail.set(fmt.Errorf("syncing batch: %w", err))
			}
			// Pebble reports the sync that covered this batch only after the guard recorded any
			// failure of it: a failure recorded by now may concern this batch.
			return s.fail.get()
		}, nil
	}
	defer s.closeMu.RUnlock()
	if err := s.commit(pb, false); err != nil {
		return nil, err
	}
	pb.Close()
	if err := s.fail.get(); err != nil {
		// The batch may have met the failure on its way to the log.
		return nil, err
	}
	if s.mode == SyncInterval {
		s.unsynced.Store(true)
	}
	return noWait, nil
}

// commit hands pb to Pebble: with sync, without waiting for the fsync (ApplyNoSyncWait: the
// caller calls pb.SyncWait, then pb.Close), else without sync (the caller closes pb). On error
// pb is closed, or abandoned if Pebble panicked (it may still refer to it); a panic out of
// Pebble fails the store.
func (s *Store) commit(pb *pebble.Batch, sync bool) (err error) {
	defer func() {
		if ferr := s.fail.recovered("committing a batch", recover()); ferr != nil {
			err = ferr
		}
	}()
	if sync {
		err = s.db.ApplyNoSyncWait(pb, pebble.Sync)
	} else {
		err = pb.Commit(pebble.NoSync)
	}
	if err != nil {
		pb.Close()
		return fmt.Errorf("writing batch: %w", err)
	}
	return nil
}

func noWait() error { return nil }

// build adds b's writes to pb.
func (s *Store) build(pb *pebble.Batch, b *indexed.Batch) error {
	// Errors of Pebble's batch methods are only possible for misuse (e.g. a closed batch), so
	// the first one is kept and reported at the end.
	var berr error
	keep := func(err error) {
		if berr == nil && err != nil {
			berr = err
		}
	}
	var buf []byte
	for _, q := range b.Queues {
		v, err := encodeQueue(q)
		if err != nil {
			return fmt.Errorf("encoding queue %d: %w", q.ID, err)
		}
		keep(pb.Set(queueKey(q.ID), v, nil))
	}
	for _, qid := range b.DeletedQueues {
		keep(pb.Delete(queueKey(qid), nil))
		keep(pb.Delete(nextSeqKey(qid), nil))
		for _, p := range [...]byte{prefixMessage, prefixState, prefixDedup} {
			lo, hi := queueSpan(p, qid)
			keep(pb.DeleteRange(lo, hi, nil))
		}
	}
	for i := range b.Messages {
		m := &b.Messages[i]
		buf = appendMessage(buf[:0], m.Message)
		keep(pb.Set(msgKey(prefixMessage, m.QueueID, m.State.Seq), buf, nil))
		buf = appendState(buf[:0], &m.State)
		keep(pb.Set(msgKey(prefixState, m.QueueID, m.State.Seq), buf, nil))
	}
	// Batches reach the store in the order the engine's index made them (Apply's contract), so
	// a state is never written after its message's deletion.
	for i := range b.States {
		st := &b.States[i]
		buf = appendState(buf[:0], &st.State)
		keep(pb.Set(msgKey(prefixState, st.QueueID, st.State.Seq), buf, nil))
	}
	for _, d := range b.Deleted {
		keep(pb.Delete(msgKey(prefixMessage, d.QueueID, d.Seq), nil))
		keep(pb.Delete(msgKey(prefixState, d.QueueID, d.Seq), nil))
	}
	for _, r := range b.DeletedRuns {
		for _, prefix := range [...]byte{prefixMessage, prefixState} {
			keep(pb.DeleteRange(msgKey(prefix, r.QueueID, r.From), msgKey(prefix, r.QueueID, r.To), nil))
		}
	}
	for _, p := range b.Purges {
		if p.Seq == 0 {
			continue
		}
		for _, prefix := range [...]byte{prefixMessage, prefixState} {
			lo, _ := queueSpan(prefix, p.QueueID)
			keep(pb.DeleteRange(lo, msgKey(prefix, p.QueueID, p.Seq), nil))
		}
		lo, hi := queueSpan(prefixDedup, p.QueueID)
		keep(pb.DeleteRange(lo, hi, nil))
	}
	for _, d := range b.DeletedDedups {
		keep(pb.Delete(dedupKey(d.QueueID, d.Key), nil))
	}
	for _, d := range b.Dedups {
		keep(pb.Set(dedupKey(d.QueueID, d.Key), appendDedup(nil, d.Seq, d.Until.UnixMilli(), d.MessageID), nil))
	}
	for _, n := range b.NextSeqs {
		keep(pb.Set(nextSeqKey(n.QueueID), binary.BigEndian.AppendUint64(nil, n.Seq), nil))
	}
	if b.NextQueueID != 0 {
		keep(pb.Set(nextQueueIDKey, binary.BigEndian.AppendUint64(nil, b.NextQueueID), nil))
	}
	for _, k := range b.ClearedTombstones {
		keep(pb.Delete(tombKey(k), nil))
	}
	for _, t := range b.Tombstones {
		keep(pb.Set(tombKey(t.Key), binary.BigEndian.AppendUint64(nil, uint64(t.DeletedAt.UnixMilli())), nil))
	}
	for _, t := range b.MoveTasks {
		v, err := encodeMoveTask(t)
		if err != nil {
			return fmt.Errorf("encoding move task %q: %w", t.Handle, err)
		}
		keep(pb.Set(moveTaskKey(t.Handle), v, nil))
	}
	if berr != nil {
		return fmt.Errorf("building batch: %w", berr)
	}
	return nil
}

// Message implements indexed.Store.
func (s *Store) Message(_ context.Context, qid, seq uint64) (*engine.Message, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, engine.ErrClosed
	}
	if err := s.fail.get(); err != nil {
		// Pebble's memtable may hold writes of batches that failed: serve nothing.
		return nil, err
	}
	v, closer, err := s.db.Get(msgKey(prefixMessage, qid, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("message %d/%d: %w", qid, seq, engine.ErrMessageNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %d/%d: %w", qid, seq, err)
	}
	defer closer.Close()
	m, err := decodeMessage(v) // copies out of v, which is valid until closer.Close
	if err != nil {
		return nil, fmt.Errorf("message %d/%d: %w", qid, seq, err)
	}
	return m, nil
}

// Err returns nil while the store is healthy. After a storage failure it returns an error
// wrapping ErrStoreFailed and the cause: the store then refuses every operation until it is
// closed and opened again. Readiness checks should report it.
func (s *Store) Err() error { return s.fail.get() }

// Close implements indexed.Store: it waits for operations in progress, stops the background
// sync, syncs what is not yet durable, and closes Pebble and the directory lock. Closing twice
// is a no-op. Closing a failed store returns its failure (what was not durable stays so) after
// closing it as usual, so that the directory can be opened again; but if Pebble panicked, Close
// leaves Pebble and the lock alone and returns at once: Pebble may be stuck holding its commit
// mutex (see walGuard), so closing it could block forever, and the directory must stay locked
// while its goroutines may still run. The process must then exit to recover.
func (s *Store) Close() error {
	if s.fail.panicked.Load() {
		return fmt.Errorf("closing store in data dir %s: not closed, restart the process: %w", s.dir, s.fail.get())
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.stopSync != nil {
		close(s.stopSync)
		<-s.syncDone
		if s.fail.get() == nil {
			if err := s.syncWAL(); err != nil {
				errs = append(errs, fmt.Errorf("final sync: %w", err))
			}
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing store: %w", err))
	}
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("releasing data dir lock: %w", err))
	}
	if err := s.fail.get(); err != nil {
		errs = append(errs, err)
	}
	s.log.Info("store closed")
	return errors.Join(errs...)
}

// syncLoop fsyncs the WAL every period while there are unsynced writes (SyncInterval mode).
func (s *Store) syncLoop(every time.Duration) {
	defer close(s.syncDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopSync:
			return
		case <-t.C:
			if s.fail.get() != nil {
				continue // reported once, when it happened
			}
			if err := s.syncWAL(); err != nil {
				s.log.Error("background sync failed", "err", err)
			}
		}
	}
}

// syncWAL makes every write committed so far durable, if any is not yet. It writes an empty
// log record with Sync, which fsyncs the WAL up to and including it; concurrent writers are not
// blocked by it. It fails if the store has failed.
func (s *Store) syncWAL() (err error) {
	if err := s.fail.get(); err != nil {
		return err
	}
	if !s.unsynced.Swap(false) {
		return nil
	}
	defer func() {
		// DB.LogData with Sync calls Logger.Fatalf, which panics, if the sync fails.
		if ferr := s.fail.recovered("syncing the log", recover()); ferr != nil {
			err = ferr
		}
		if err == nil {
			err = s.fail.get() // the guard hid a failure from Pebble
		}
		if err != nil {
			s.unsynced.Store(true)
		}
	}()
	return s.db.LogData(nil, pebble.Sync)
}
