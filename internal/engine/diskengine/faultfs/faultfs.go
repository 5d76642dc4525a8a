// Package faultfs is a file system for tests of storage faults: a crashable in-memory vfs.FS
// (the seam of diskengine.Options.FS) whose writes and syncs fail on demand, switched on and
// off while a store runs.
package faultfs

import (
	"io"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Fault is a storage fault.
type Fault int32

const (
	// None: no fault.
	None Fault = iota
	// SyncEIO: every fsync of a write-ahead log (WAL) fails with EIO; what was written before
	// stays in the file, unsynced.
	SyncEIO
	// WriteENOSPC: every write of every file, and every creation, link or rename, fails with
	// ENOSPC and writes nothing: a full disk.
	WriteENOSPC
	// ShortWrite: a write of a WAL writes half its bytes and reports success (n < len(p) with
	// a nil error, against io.Writer's contract).
	ShortWrite
	// ShortWriteENOSPC: a write of a WAL writes half its bytes and fails with ENOSPC, as
	// os.File.Write does when the disk fills in the middle of a write.
	ShortWriteENOSPC
)

// Faults lists every fault.
var Faults = []Fault{SyncEIO, WriteENOSPC, ShortWrite, ShortWriteENOSPC}

func (f Fault) String() string {
	switch f {
	case None:
		return "none"
	case SyncEIO:
		return "fsync EIO"
	case WriteENOSPC:
		return "ENOSPC"
	case ShortWrite:
		return "short write"
	case ShortWriteENOSPC:
		return "short write ENOSPC"
	}
	return "unknown fault"
}

// Cause is the error a store reports as the cause of its failure under f.
func (f Fault) Cause() error {
	switch f {
	case SyncEIO:
		return syscall.EIO
	case WriteENOSPC, ShortWriteENOSPC:
		return syscall.ENOSPC
	case ShortWrite:
		return io.ErrShortWrite
	}
	return nil
}

// Disk is a crashable in-memory file system under a switchable fault. errorfs injects ENOSPC
// into the file system's operations (create, rename, ...); the files it opens for writing
// inject the rest, because errorfs does not wrap the files ReuseForWrite returns (Pebble
// recycles WALs through it).
type Disk struct {
	mem   *vfs.MemFS
	fs    vfs.FS
	fault atomic.Int32
}

// New returns a disk without a fault.
func New() *Disk {
	d := &Disk{mem: vfs.NewCrashableMem()}
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if d.Fault() != WriteENOSPC {
			return nil
		}
		switch op.Kind {
		case errorfs.OpCreate, errorfs.OpLink, errorfs.OpRename, errorfs.OpReuseForWrite, errorfs.OpMkdirAll:
			return syscall.ENOSPC
		}
		return nil
	})
	d.fs = errorfs.Wrap(&filesFS{FS: d.mem, d: d}, inj)
	return d
}

// FS is the faulty file system, for diskengine.Options.FS.
func (d *Disk) FS() vfs.FS { return d.fs }

// Mem is the file system under the faults, as a restarted process finds it: everything
// written, synced or not.
func (d *Disk) Mem() *vfs.MemFS { return d.mem }

// Crashed returns a copy of the file system as a power loss now would leave it: what was
// synced, nothing else.
func (d *Disk) Crashed() *vfs.MemFS { return d.mem.CrashClone(vfs.CrashCloneCfg{}) }

// Set switches the fault (None clears it).
func (d *Disk) Set(f Fault) { d.fault.Store(int32(f)) }

// Fault returns the current fault.
func (d *Disk) Fault() Fault { return Fault(d.fault.Load()) }

// IsWAL reports whether a file is a Pebble write-ahead log.
func IsWAL(name string) bool { return strings.HasSuffix(name, ".log") }

// filesFS wraps the files it opens for writing in file.
type filesFS struct {
	vfs.FS
	d *Disk
}

func (s *filesFS) Unwrap() vfs.FS { return s.FS }

func (s *filesFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &file{File: f, wal: IsWAL(name), d: s.d}, nil
}

func (s *filesFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.FS.Create(name, c)
	return s.wrap(name, f, err)
}

func (s *filesFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := s.FS.ReuseForWrite(oldname, newname, c)
	return s.wrap(newname, f, err)
}

func (s *filesFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := s.FS.OpenReadWrite(name, c, opts...)
	return s.wrap(name, f, err)
}

// file fails writes and syncs as the disk's fault says.
type file struct {
	vfs.File
	wal bool
	d   *Disk
}

func (f *file) Write(p []byte) (int, error) {
	switch f.d.Fault() {
	case WriteENOSPC:
		return 0, syscall.ENOSPC
	case ShortWrite:
		if f.wal {
			return f.File.Write(p[:len(p)/2])
		}
	case ShortWriteENOSPC:
		if f.wal {
			n, _ := f.File.Write(p[:len(p)/2])
			return n, syscall.ENOSPC
		}
	}
	return f.File.Write(p)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.d.Fault() == WriteENOSPC {
		return 0, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

func (f *file) Preallocate(off, n int64) error {
	if f.d.Fault() == WriteENOSPC {
		return syscall.ENOSPC
	}
	return f.File.Preallocate(off, n)
}

func (f *file) syncErr() error {
	if f.wal && f.d.Fault() == SyncEIO {
		return syscall.EIO
	}
	return nil
}

func (f *file) Sync() error {
	if err := f.syncErr(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *file) SyncData() error {
	if err := f.syncErr(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *file) SyncTo(n int64) (bool, error) {
	if err := f.syncErr(); err != nil {
		return false, err
	}
	return f.File.SyncTo(n)
}
