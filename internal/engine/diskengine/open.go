package diskengine

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// pebbleLockFile is the name of the lock file Pebble keeps in its directory (and leaves behind
// after closing).
const pebbleLockFile = "LOCK"

// checkDir creates dir if needed and refuses it if it holds files but no Pebble store: a typo
// in --data-dir must not scatter a store among someone else's files. It only reads.
func checkDir(fsys vfs.FS, dir string) error {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating data dir %s: %w", dir, err)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("reading data dir %s: %w", dir, err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == pebbleLockFile })
	if len(names) == 0 {
		return nil
	}
	desc, err := pebble.Peek(dir, fsys)
	if err != nil {
		return fmt.Errorf("data dir %s is not a sluice store: %w", dir, err)
	}
	if desc.Exists {
		return nil
	}
	slices.Sort(names)
	shown := names
	if len(shown) > 3 {
		shown = append(shown[:3:3], "...")
	}
	if slices.ContainsFunc(names, isPebbleFile) {
		// Pebble finds its current MANIFEST through a marker file; without it the store's
		// files are there but unusable.
		return fmt.Errorf("data dir %s holds a damaged store: it contains store files (%s) but no "+
			"manifest marker; restore the directory from a backup, or move it aside to start with an empty store",
			dir, strings.Join(shown, ", "))
	}
	return fmt.Errorf("data dir %s is not empty and holds no sluice store (it contains %s); "+
		"refusing to create one among foreign files: use an empty or new directory",
		dir, strings.Join(shown, ", "))
}

// isPebbleFile reports whether a file name is one Pebble writes in its directory.
func isPebbleFile(name string) bool {
	for _, p := range [...]string{"MANIFEST-", "OPTIONS-", "marker."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range [...]string{".log", ".sst", ".blob"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// checkFormat verifies the format marker of a freshly opened store, or writes it into a store
// that holds nothing yet.
func checkFormat(db *pebble.DB, dir string) error {
	v, closer, err := db.Get(formatKey)
	switch {
	case err == nil:
		ver := string(v)
		_ = closer.Close()
		if ver != formatVersion {
			return fmt.Errorf("data dir %s was not written by this version of sluice: "+
				"its format version is %q, this sluice reads format %q", dir, ver, formatVersion)
		}
		return nil
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("reading format marker of data dir %s: %w", dir, err)
	}

	// No marker: acceptable only in a store without any key (new, or created by an Open that
	// stopped before it wrote the marker).
	it, err := db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("reading data dir %s: %w", dir, err)
	}
	hasKeys := it.First()
	err = errors.Join(it.Error(), it.Close())
	if err != nil {
		return fmt.Errorf("reading data dir %s: %w", dir, err)
	}
	if hasKeys {
		return fmt.Errorf("data dir %s was not written by this version of sluice: "+
			"it holds a Pebble store without a sluice format marker", dir)
	}
	if err := db.Set(formatKey, []byte(formatVersion), pebble.Sync); err != nil {
		return fmt.Errorf("writing format marker of data dir %s: %w", dir, err)
	}
	// Pebble creates a new store's first WAL before it raises the store to the newest format,
	// so that WAL lacks the synced offsets (FormatWALSyncChunks) that let recovery tell a
	// corrupt record from a torn tail: with them it refuses a WAL damaged before its last
	// synced record; without them it silently drops everything after the damage. A flush
	// moves the marker to a table and switches to a new WAL, written with synced offsets.
	if err := db.Flush(); err != nil {
		return fmt.Errorf("flushing new store in data dir %s: %w", dir, err)
	}
	return nil
}

// lockHeld reports whether err, from locking a data dir, means that another holder has it (as
// opposed to, say, a permission problem creating the lock file).
func lockHeld(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	// fcntl(F_SETLK) fails with EAGAIN or EACCES when another process holds the lock; Pebble
	// refuses a second lock of the same file within one process with its own error.
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// pebbleLogger routes Pebble's log messages to slog: Infof at Info, Errorf at Error. Fatalf,
// which Pebble calls when it cannot go on (a failed commit or MANIFEST write, corruption found
// in the background), logs at Error, fails the store (if fail is set) and panics with the
// message instead of exiting the process. On a goroutine of an operation the Store recovers the
// panic into ErrStoreFailed; on one of Pebble's background goroutines (flushes, compactions)
// nothing does, and the panic ends the process: crash-only, as Pebble intends, and nothing
// acknowledged is lost, since the WAL holds it.
type pebbleLogger struct {
	log  *slog.Logger
	fail *failure
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	l.log.Error("fatal: " + msg)
	if l.fail != nil {
		l.fail.set(errors.New("pebble: " + msg))
	}
	panic("pebble: " + msg)
}

// pebbleEvents logs the Pebble events an operator should hear about: background errors, write
// stalls (the disk cannot keep up; writes wait) and low disk space.
func pebbleEvents(log *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			log.Error("background error", "err", err)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			log.Warn("write stall: writes wait for flushes or compactions", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			log.Info("write stall ended")
		},
		LowDiskSpace: func(info pebble.LowDiskSpaceInfo) {
			log.Warn("low disk space", "avail_bytes", info.AvailBytes, "total_bytes", info.TotalBytes,
				"below_percent", info.PercentThreshold)
		},
	}
}
