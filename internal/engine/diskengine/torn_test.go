package diskengine

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"sluice/internal/engine/indexed"
)

// newestWAL returns the path and size of the newest WAL in dir (Pebble numbers them).
func newestWAL(t *testing.T, dir string) (string, int64) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no WAL in %s (%v)", dir, err)
	}
	slices.Sort(logs)
	fi, err := os.Stat(logs[len(logs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return logs[len(logs)-1], fi.Size()
}

// copyDir copies the files of a data dir, but its lock, into a new directory: what a crash
// would leave behind if the OS kept everything written.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == pebbleLockFile || !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		_ = in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTornFinalRecord simulates a crash in the middle of writing the last WAL record, on a real
// directory: the WAL of a copy of a live store is cut at points inside its last record (a
// three-message batch that spans WAL blocks). The store opens every time; the messages
// acknowledged before the last record are all there, and of the torn batch none is (a batch is
// atomic). Cut at its end, the batch is whole. The recovered store then works and reopens.
func TestTornFinalRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := openEngine(t, Options{Dir: dir})
	q := createQueue(t, e, "q", nil)
	var acked []string
	for i := range 5 {
		b := fmt.Sprintf("a%d", i)
		if err := sendBodies(t, e, q.ID, at(0), b); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, b)
	}
	wal, before := newestWAL(t, dir)
	last := []string{"b0-" + strings.Repeat("x", 12000), "b1-" + strings.Repeat("y", 12000), "b2-" + strings.Repeat("z", 12000)}
	if err := sendBodies(t, e, q.ID, at(0), last...); err != nil {
		t.Fatal(err)
	}
	wal2, after := newestWAL(t, dir)
	if wal2 != wal || after-before < 36000 {
		t.Fatalf("WAL %s grew from %d to %d bytes; want one WAL with the batch in it", wal2, before, after)
	}
	whole := slices.Sorted(slices.Values(append(slices.Clone(acked), last...)))

	for _, cut := range []int64{before, before + 1, before + 10, before + 20, (before + after) / 2, after - 1, after} {
		t.Run(fmt.Sprint(cut-before), func(t *testing.T) {
			t.Parallel()
			cp := copyDir(t, dir)
			if err := os.Truncate(filepath.Join(cp, filepath.Base(wal)), cut); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, Options{Dir: cp})
			r, err := indexed.New(t.Context(), s)
			if err != nil {
				t.Fatalf("opening a store with a torn last record: %v", err)
			}
			checkConsistent(t, s)
			want := acked
			if cut == after {
				want = whole
			}
			if got := drain(t, r, q.ID, at(time.Hour)); !slices.Equal(got, want) {
				t.Fatalf("cut at +%d: queue holds %v..., want %v", cut-before, short(got), short(want))
			}
			// Recovery leaves a working store, which reopens (the torn WAL does not become an
			// older WAL with an unclean end, which Pebble would call corrupt).
			if err := sendBodies(t, r, q.ID, at(2*time.Hour), "after"); err != nil {
				t.Fatal(err)
			}
			mustClose(t, r)
			r2 := openEngine(t, Options{Dir: cp})
			if st := stats(t, r2, "q", at(3*time.Hour)); st.Visible+st.InFlight != int64(len(want))+1 {
				t.Fatalf("after a second reopen: %+v, want %d messages", st, len(want)+1)
			}
		})
	}
}

func short(bs []string) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b[:min(len(b), 4)]
	}
	return out
}

// TestTornTailAfterPowerLoss writes synced messages, then unsynced ones (SyncInterval, before
// its sync), and simulates power losses that keep a random part of the unsynced WAL data, in
// 4 KiB blocks with holes: torn and missing records at the tail. Every clone opens, holds every
// synced message, and of the unsynced ones a prefix in send order (recovery stops at the first
// damage, never skips one).
func TestTornTailAfterPowerLoss(t *testing.T) {
	t.Parallel()
	fs := vfs.NewCrashableMem()
	e := openFaulty(t, fs, SyncInterval) // the ticker (1h) never fires during the test
	q := createQueue(t, e, "q", nil)
	var synced, unsynced []string
	for i := range 10 {
		synced = append(synced, fmt.Sprintf("s%02d", i))
	}
	if err := sendBodies(t, e, q.ID, at(0), synced...); err != nil {
		t.Fatal(err)
	}
	if err := e.s.syncWAL(); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		b := fmt.Sprintf("u%02d-", i) + strings.Repeat("x", 3000)
		unsynced = append(unsynced, b)
		if err := sendBodies(t, e, q.ID, at(0), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, pct := range []int{0, 20, 50, 80, 100} {
		for seed := range uint64(4) {
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(seed, uint64(pct)))})
			r := openFaulty(t, clone, SyncAlways)
			checkConsistent(t, r.s)
			got := drain(t, r, q.ID, at(time.Hour))
			n := len(got) - len(synced)
			if n < 0 || !slices.Equal(got[:len(synced)], synced) || !slices.Equal(got[len(synced):], slices.Sorted(slices.Values(unsynced[:n]))) {
				t.Fatalf("%d%% of unsynced data, seed %d: queue holds %v, want %v and a prefix of %v",
					pct, seed, short(got), synced, short(unsynced))
			}
			mustClose(t, r)
		}
	}
}

// TestDamagedDataDirRefused: a store whose files are damaged is refused at start with an error
// that says so, rather than opened with acknowledged data silently missing.
func TestDamagedDataDirRefused(t *testing.T) {
	t.Parallel()
	// newStore writes a store in one session (so its data is in the store's first WAL) and
	// closes it.
	newStore := func(t *testing.T) string {
		dir := t.TempDir()
		e := openEngine(t, Options{Dir: dir})
		q := createQueue(t, e, "q", nil)
		for i := range 8 {
			if err := sendBodies(t, e, q.ID, at(0), fmt.Sprintf("m%d-", i)+strings.Repeat("x", 10000)); err != nil {
				t.Fatal(err)
			}
		}
		mustClose(t, e)
		return dir
	}
	one := func(t *testing.T, dir, pattern string) string {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil || len(m) == 0 {
			t.Fatalf("no %s in %s", pattern, dir)
		}
		slices.Sort(m)
		return m[len(m)-1]
	}
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"WAL record damaged", func(t *testing.T, dir string) {
			// A byte of the first message, in the WAL's first 32 KiB block: later records
			// show it was synced, so this is damage, not a torn write. (Damage in the WAL's
			// last block cannot be told from a torn write; Pebble drops the rest.)
			wal := one(t, dir, "*.log")
			b, err := os.ReadFile(wal)
			if err != nil || len(b) < 64<<10 {
				t.Fatalf("WAL %s: %d bytes, %v", wal, len(b), err)
			}
			b[2000] ^= 0xff
			if err := os.WriteFile(wal, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "holds a damaged store"},
		{"MANIFEST garbage", func(t *testing.T, dir string) {
			if err := os.WriteFile(one(t, dir, "MANIFEST-*"), []byte(strings.Repeat("garbage", 20)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "holds a damaged store"},
		{"MANIFEST truncated", func(t *testing.T, dir string) {
			if err := os.Truncate(one(t, dir, "MANIFEST-*"), 10); err != nil {
				t.Fatal(err)
			}
		}, "holds a damaged store"},
		{"manifest marker missing", func(t *testing.T, dir string) {
			if err := os.Remove(one(t, dir, "marker.manifest.*")); err != nil {
				t.Fatal(err)
			}
		}, "holds a damaged store"},
		{"MANIFEST missing", func(t *testing.T, dir string) {
			if err := os.Remove(one(t, dir, "MANIFEST-*")); err != nil {
				t.Fatal(err)
			}
		}, "could not open manifest file"},
		{"OPTIONS garbage", func(t *testing.T, dir string) {
			if err := os.WriteFile(one(t, dir, "OPTIONS-*"), []byte("\x00garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "holds a damaged store"},
		{"a file, not a dir", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := newStore(t)
			c.damage(t, dir)
			_, err := Open(t.Context(), Options{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open: err = %v, want one naming %s and saying %q", err, dir, c.want)
			}
		})
	}
}
