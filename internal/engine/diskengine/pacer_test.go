package diskengine

import (
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"sluice/internal/engine/indexed"
)

func TestSyncPacerNext(t *testing.T) {
	t.Parallel()
	p := &syncPacer{gap: time.Millisecond, waiters: 4}
	for waiting, want := range map[int64]time.Duration{0: 0, 4: 0, 5: time.Millisecond, 50: time.Millisecond} {
		p.waiting.Store(waiting)
		if got := p.next(); got != want {
			t.Errorf("next() with %d waiting = %v, want %v", waiting, got, want)
		}
	}
	off := &syncPacer{waiters: 4}
	off.waiting.Store(50)
	if got := off.next(); got != 0 {
		t.Errorf("next() without a gap = %v, want 0", got)
	}
}

// syncClock records when the WAL is synced.
type syncClock struct {
	vfs.FS
	mu    sync.Mutex
	syncs []time.Time
}

func (c *syncClock) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &clockedFile{File: f, c: c}, nil
}

func (c *syncClock) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if !isWAL(name) {
		return c.FS.Create(name, cat)
	}
	return c.wrap(c.FS.Create(name, cat))
}

func (c *syncClock) ReuseForWrite(old, name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if !isWAL(name) {
		return c.FS.ReuseForWrite(old, name, cat)
	}
	return c.wrap(c.FS.ReuseForWrite(old, name, cat))
}

func (c *syncClock) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.syncs)
}

type clockedFile struct {
	vfs.File
	c *syncClock
}

func (f *clockedFile) note() {
	f.c.mu.Lock()
	f.c.syncs = append(f.c.syncs, time.Now())
	f.c.mu.Unlock()
}

func (f *clockedFile) Sync() error     { f.note(); return f.File.Sync() }
func (f *clockedFile) SyncData() error { f.note(); return f.File.SyncData() }

// TestSyncGap: a writer alone is never held back by the gap; while more than GapWaiters writes
// wait, the log's fsyncs are spaced by it; the count of waiting writes balances.
func TestSyncGap(t *testing.T) {
	t.Parallel()
	const gap = 25 * time.Millisecond
	clock := &syncClock{FS: vfs.Default}
	s := openStore(t, Options{Dir: t.TempDir(), FS: clock, MinSyncGap: gap, GapWaiters: 2})
	write := func() {
		t.Helper()
		wait, err := s.Apply(t.Context(), &indexed.Batch{Sync: true, DeletedQueues: []uint64{1}})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if n := s.pacer.waiting.Load(); n < 1 {
			t.Errorf("%d writes counted as waiting between Apply and its wait, want at least 1", n)
		}
		if err := wait(); err != nil {
			t.Fatalf("waiting for the sync: %v", err)
		}
	}

	// Alone: 20 synced writes one after the other. Were each held by the gap after the
	// previous one's sync, they would take at least 19 gaps (475ms).
	before := clock.count()
	start := time.Now()
	for range 20 {
		write()
	}
	if alone := time.Since(start); alone >= 19*gap {
		t.Errorf("20 synced writes by one writer took %v: the gap held them back", alone)
	}
	if n := clock.count() - before; n < 20 {
		t.Errorf("20 synced writes by one writer made %d WAL syncs, want one each", n)
	}
	if n := s.pacer.waiting.Load(); n != 0 {
		t.Errorf("%d writes counted as waiting after every wait returned", n)
	}

	// Crowded: as if 100 more writes were waiting. Each write's sync now comes a gap after the
	// previous one.
	s.pacer.waiting.Add(100)
	before = clock.count()
	for range 5 {
		write()
	}
	s.pacer.waiting.Add(-100)
	clock.mu.Lock()
	syncs := clock.syncs[before:]
	clock.mu.Unlock()
	if len(syncs) < 5 {
		t.Fatalf("5 synced writes made %d WAL syncs", len(syncs))
	}
	for i := 1; i < len(syncs); i++ {
		if d := syncs[i].Sub(syncs[i-1]); d < gap-gap/5 {
			t.Errorf("WAL syncs %d and %d were %v apart while 100 writes waited, want the gap (%v)", i-1, i, d, gap)
		}
	}
}
