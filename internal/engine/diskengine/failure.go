package diskengine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrStoreFailed is wrapped by every error of a store that stopped after a storage failure: a
// write or fsync of its write-ahead log (WAL) failed, or Pebble panicked. The error also wraps
// the cause (errors.Is(err, syscall.ENOSPC) works).
//
// A failed store refuses every later operation, and nothing written after the failure is
// acknowledged; the indexed engine then refuses every operation too (its index may be ahead of
// the store). Recovery is a restart: Close it and open the directory again (a new process, or
// the same one), which replays the WAL up to the failure. Everything acknowledged before it is
// there; writes that failed may or may not be, as after a crash.
var ErrStoreFailed = errors.New("store failed")

// failure records the first storage failure of a store. It is shared by the Store and the WAL
// guard of its file system, which sets it the moment an I/O call fails, before Pebble learns of
// it.
type failure struct {
	err      atomic.Pointer[storeFailedError]
	panicked atomic.Bool // Pebble panicked: its internal state (and locks) are unknown
	log      *slog.Logger
}

// storeFailedError is the error of a failed store: it wraps ErrStoreFailed and the cause.
type storeFailedError struct{ cause error }

func (e *storeFailedError) Error() string {
	return "diskengine: store failed, no write is accepted until restart: " + e.cause.Error()
}

func (e *storeFailedError) Unwrap() []error { return []error{ErrStoreFailed, e.cause} }

// set records cause as the failure, unless one is recorded already.
func (f *failure) set(cause error) {
	if f.err.CompareAndSwap(nil, &storeFailedError{cause: cause}) {
		f.log.Error("store failed: refusing every operation until restart; "+
			"nothing written after this is acknowledged", "err", cause)
	}
}

// get returns the failure, or nil.
func (f *failure) get() error {
	if e := f.err.Load(); e != nil {
		return e
	}
	return nil
}

// recovered turns a panic out of Pebble (the value of recover, or nil) into the store's
// failure, and returns the failure (nil if r is nil).
func (f *failure) recovered(op string, r any) error {
	if r == nil {
		return nil
	}
	f.panicked.Store(true)
	f.set(fmt.Errorf("pebble panicked while %s: %v", op, r))
	return f.get()
}

// walGuard is the file system Pebble runs on: opts.FS with its write-ahead log files guarded.
//
// Without the guard, Pebble handles a failed WAL write or fsync badly (pebble v2.1.7):
//   - The error is sticky in the WAL writer (record/log_writer.go, flushLoop: f.err): every
//     later sync fails with it, so the store cannot recover without being reopened.
//   - Batch.SyncWait returns it to waiting committers, but DB.Apply, Batch.Commit and DB.LogData
//     with Sync call Logger.Fatalf("pebble: fatal commit error") (db.go, applyInternal).
//   - Once the writer's current 32 KiB block is full, the next commit gets the error from
//     LogWriter.SyncRecord and panics (db.go, commitWrite: panic(err)) while it holds the commit
//     pipeline's mutex (commit.go, prepare), so every later commit blocks forever.
//   - A memtable rotation closes the WAL, gets the error and panics (db.go, rotateWAL) with
//     DB.mu unlocked under a deferred DB.mu.Unlock in commitWrite: "fatal error: sync: unlock of
//     unlocked mutex", which no recover can stop. The same happens if creating the next WAL
//     fails.
//
// The guard sets the store's failure the moment a WAL call fails, and from then on lets no
// byte reach a WAL: the failing call and every later write, sync or close of a WAL report
// success to Pebble without touching the file, and a new WAL is a file that discards what is
// written to it (nothing is created on disk). The WAL on disk therefore ends where the failure
// happened (at worst with a torn last record, which Pebble's recovery drops because it is the
// newest WAL); Pebble never takes its error paths; and the Store, which checks the failure after
// every commit and sync, turns every write that was not durable before the failure into an
// error. Pebble's other files (tables, MANIFEST) are not guarded: Pebble retries failed flushes
// and compactions, and a failed MANIFEST write makes it call Logger.Fatalf on its background
// goroutine, which ends the process (crash-only; nothing acknowledged is lost, as the WAL
// holds it).
type walGuard struct {
	vfs.FS
	fail *failure
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

// Unwrap implements vfs.FS.
func (g *walGuard) Unwrap() vfs.FS { return g.FS }

// Create implements vfs.FS.
func (g *walGuard) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if !isWAL(name) {
		return g.FS.Create(name, category)
	}
	if g.fail.get() != nil {
		return discardFile{name: name}, nil
	}
	f, err := g.FS.Create(name, category)
	if err != nil {
		g.fail.set(fmt.Errorf("creating WAL %s: %w", name, err))
		return discardFile{name: name}, nil
	}
	return &walFile{File: f, name: name, fail: g.fail}, nil
}

// ReuseForWrite implements vfs.FS.
func (g *walGuard) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if !isWAL(newname) {
		return g.FS.ReuseForWrite(oldname, newname, category)
	}
	if g.fail.get() != nil {
		return discardFile{name: newname}, nil
	}
	f, err := g.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		g.fail.set(fmt.Errorf("reusing WAL %s as %s: %w", oldname, newname, err))
		return discardFile{name: newname}, nil
	}
	return &walFile{File: f, name: newname, fail: g.fail}, nil
}

// walFile is an open WAL: the first failing call fails the store, and no call after it reaches
// the file.
type walFile struct {
	vfs.File
	name string
	fail *failure
}

// failed records err (if any) as the store's failure and reports whether the store has failed.
func (w *walFile) failed(what string, err error) bool {
	if err != nil {
		w.fail.set(fmt.Errorf("%s WAL %s: %w", what, w.name, err))
	}
	return w.fail.get() != nil
}

func (w *walFile) Write(p []byte) (int, error) {
	if w.fail.get() != nil {
		return len(p), nil
	}
	n, err := w.File.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if w.failed("writing", err) {
		return len(p), nil
	}
	return n, nil
}

func (w *walFile) WriteAt(p []byte, off int64) (int, error) {
	if w.fail.get() != nil {
		return len(p), nil
	}
	n, err := w.File.WriteAt(p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if w.failed("writing", err) {
		return len(p), nil
	}
	return n, nil
}

func (w *walFile) Preallocate(offset, length int64) error {
	if w.fail.get() != nil {
		return nil
	}
	w.failed("preallocating", w.File.Preallocate(offset, length))
	return nil
}

func (w *walFile) Sync() error {
	if w.fail.get() != nil {
		return nil
	}
	w.failed("syncing", w.File.Sync())
	return nil
}

func (w *walFile) SyncData() error {
	if w.fail.get() != nil {
		return nil
	}
	w.failed("syncing", w.File.SyncData())
	return nil
}

func (w *walFile) SyncTo(length int64) (bool, error) {
	if w.fail.get() != nil {
		return false, nil
	}
	full, err := w.File.SyncTo(length)
	if w.failed("syncing", err) {
		return false, nil
	}
	return full, nil
}

// Close closes the file even after a failure (the descriptor must be released); its error
// fails the store (data not yet synced may be lost) but is not reported to Pebble.
func (w *walFile) Close() error {
	w.failed("closing", w.File.Close())
	return nil
}

// discardFile stands in for a WAL created after the store failed: it exists only in Pebble's
// mind, and discards what is written to it.
type discardFile struct{ name string }

func (discardFile) Close() error                           { return nil }
func (discardFile) Read([]byte) (int, error)               { return 0, io.EOF }
func (discardFile) ReadAt([]byte, int64) (int, error)      { return 0, io.EOF }
func (discardFile) Write(p []byte) (int, error)            { return len(p), nil }
func (discardFile) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (discardFile) Preallocate(int64, int64) error         { return nil }
func (d discardFile) Stat() (vfs.FileInfo, error)          { return discardInfo(d), nil }
func (discardFile) Sync() error                            { return nil }
func (discardFile) SyncData() error                        { return nil }
func (discardFile) SyncTo(int64) (bool, error)             { return false, nil }
func (discardFile) Prefetch(int64, int64) error            { return nil }
func (discardFile) Fd() uintptr                            { return vfs.InvalidFd }

type discardInfo struct{ name string }

func (i discardInfo) Name() string         { return i.name }
func (discardInfo) Size() int64            { return 0 }
func (discardInfo) Mode() os.FileMode      { return 0o644 }
func (discardInfo) ModTime() time.Time     { return time.Time{} }
func (discardInfo) IsDir() bool            { return false }
func (discardInfo) Sys() any               { return nil }
func (discardInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }
