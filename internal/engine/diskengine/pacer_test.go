package diskengine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"sluice/internal/engine"
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

// TestSyncGap: many writers at once share fsyncs spaced by the gap; one writer alone is never
// held back by it.
func TestSyncGap(t *testing.T) {
	t.Parallel()
	const gap = 25 * time.Millisecond
	clock := &syncClock{FS: vfs.Default}
	e := openEngine(t, Options{Dir: t.TempDir(), FS: clock, MinSyncGap: gap, GapWaiters: 2})
	q := createQueue(t, e, "gap", nil)

	// Alone: 20 sends one after the other, each waiting for its fsync. Were each held by the
	// gap after the previous one's sync, they would take at least 19 gaps (475ms).
	before := clock.count()
	start := time.Now()
	for i := range 20 {
		send(t, e, q.ID, t0, &engine.Message{ID: fmt.Sprintf("alone-%d", i), Body: "b"})
	}
	if alone := time.Since(start); alone >= 19*gap {
		t.Errorf("20 sends by one writer took %v: the gap held them back", alone)
	}
	if n := clock.count() - before; n < 20 {
		t.Errorf("20 synced sends by one writer made %d WAL syncs, want one each", n)
	}

	// Together: 16 writers, 8 sends each. More than 2 wait at once, so syncs are spaced by the
	// gap and shared.
	before = clock.count()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 8 {
				send(t, e, q.ID, t0, &engine.Message{ID: fmt.Sprintf("w%d-%d", w, i), Body: "b"})
			}
		})
	}
	wg.Wait()
	clock.mu.Lock()
	syncs := clock.syncs[before:]
	clock.mu.Unlock()
	if len(syncs) > 128/4 {
		t.Errorf("128 sends by 16 writers made %d WAL syncs, want them shared (at most 32)", len(syncs))
	}
	spaced := 0
	for i := 1; i < len(syncs); i++ {
		if syncs[i].Sub(syncs[i-1]) >= gap-gap/5 {
			spaced++
		}
	}
	if spaced == 0 {
		t.Errorf("no two of %d WAL syncs were a gap (%v) apart while 16 writers waited", len(syncs), gap)
	}
	if st := stats(t, e, "gap", t0); st.Visible != 20+128 {
		t.Errorf("visible = %d, want %d: every acknowledged send stored", st.Visible, 20+128)
	}
}
