package diskengine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"sluice/internal/engine"
	"sluice/internal/engine/diskengine/faultfs"
	"sluice/internal/engine/indexed"
)

// faultEngine is an engine over a store on a faulty disk; the test keeps the store to look
// inside it.
type faultEngine struct {
	engine.Engine
	s *Store
}

func openFaulty(t *testing.T, fs vfs.FS, mode SyncMode) faultEngine {
	t.Helper()
	s, err := OpenStore(Options{Dir: "/data", FS: fs, Sync: mode, SyncEvery: time.Hour})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	e, err := indexed.New(t.Context(), s)
	if err != nil {
		_ = s.Close()
		t.Fatalf("indexed.New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return faultEngine{e, s}
}

// wantFailed checks that err reports the store's failure and its cause.
func wantFailed(t *testing.T, what string, err error, cause error) {
	t.Helper()
	if !errors.Is(err, ErrStoreFailed) || (cause != nil && !errors.Is(err, cause)) {
		t.Fatalf("%s: err = %v, want ErrStoreFailed caused by %v", what, err, cause)
	}
}

// sendBodies sends one message per body, in one call.
func sendBodies(t *testing.T, e engine.Engine, qid uint64, now time.Time, bs ...string) error {
	t.Helper()
	p := &engine.MessageSendParams{QueueID: qid, Now: now}
	for _, b := range bs {
		p.Entries = append(p.Entries, engine.MessageSendEntry{Message: &engine.Message{ID: b, Body: b, SentAt: now}, VisibleAt: now})
	}
	_, err := e.MessageSend(t.Context(), p)
	return err
}

// drain receives every message of a queue at now (after all visibility timeouts of the test)
// and returns their bodies, sorted.
func drain(t *testing.T, e engine.Engine, qid uint64, now time.Time) []string {
	t.Helper()
	var out []string
	for {
		got := receive(t, e, qid, now, now.Add(time.Hour), 10)
		if len(got) == 0 {
			break
		}
		out = append(out, bodies(got)...)
	}
	slices.Sort(out)
	return out
}

// checkConsistent checks that every message record of the store has its state record and the
// reverse (batches are atomic), and that a full load succeeds.
func checkConsistent(t *testing.T, s *Store) {
	t.Helper()
	if m, st := countKeys(t, s, prefixMessage), countKeys(t, s, prefixState); m != st {
		t.Fatalf("store holds %d messages and %d states", m, st)
	}
	if err := s.Load(t.Context(), &indexed.Loader{}); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// TestFaultRefusesAndRecovers drives the engine over a store whose disk fails: every operation
// from the one that meets the fault on fails with ErrStoreFailed and the fault's cause, the
// store stays failed after the fault clears (Pebble's WAL cannot go on), and after a restart
// (with or without a power loss) everything acknowledged before the fault is there, deletes
// included, and the store is consistent.
func TestFaultRefusesAndRecovers(t *testing.T) {
	t.Parallel()
	for _, f := range faultfs.Faults {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			d := faultfs.New()
			e := openFaulty(t, d.FS(), SyncAlways)
			q := createQueue(t, e, "q", nil)
			fq := createQueue(t, e, "q.fifo", map[string]string{"FifoQueue": "true"})
			if err := sendBodies(t, e, q.ID, at(0), "m1", "m2", "m3", "m4"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.MessageSend(t.Context(), &engine.MessageSendParams{QueueID: fq.ID, Now: at(0), DedupUntil: at(5 * time.Minute),
				Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "f1", Body: "f1", GroupID: "g", SentAt: at(0)}, VisibleAt: at(0), DedupKey: "d1"}}}); err != nil {
				t.Fatal(err)
			}
			got := receive(t, e, q.ID, at(time.Second), at(time.Hour), 2)
			if b := bodies(got); !slices.Equal(b, []string{"m1", "m2"}) {
				t.Fatalf("received %v", b)
			}
			if errs, err := e.MessageDelete(t.Context(), &engine.MessageDeleteParams{QueueID: q.ID, Now: at(time.Second),
				Receipts: []engine.Receipt{got[0].Receipt}}); err != nil || errs[0] != nil {
				t.Fatalf("delete m1: %v %v", errs, err)
			}
			if e.s.Err() != nil {
				t.Fatalf("Err before the fault: %v", e.s.Err())
			}

			d.Set(f)
			// The first write meets the fault.
			_, err := e.MessageDelete(t.Context(), &engine.MessageDeleteParams{QueueID: q.ID, Now: at(2 * time.Second),
				Receipts: []engine.Receipt{got[1].Receipt}})
			wantFailed(t, "delete under the fault", err, f.Cause())
			wantFailed(t, "Err", e.s.Err(), f.Cause())
			// A retry is not acknowledged either, although the index already forgot the message.
			_, err = e.MessageDelete(t.Context(), &engine.MessageDeleteParams{QueueID: q.ID, Now: at(2 * time.Second),
				Receipts: []engine.Receipt{got[1].Receipt}})
			wantFailed(t, "retried delete", err, f.Cause())
			wantFailed(t, "send", sendBodies(t, e, q.ID, at(2*time.Second), "lost"), f.Cause())
			_, err = e.MessageReceive(t.Context(), &engine.MessageReceiveParams{QueueID: q.ID, Now: at(2 * time.Second), Max: 10, VisibleAt: at(time.Minute)})
			wantFailed(t, "receive", err, f.Cause())
			_, err = e.MessageChangeVisibility(t.Context(), &engine.MessageChangeVisibilityParams{QueueID: q.ID, Now: at(2 * time.Second),
				Entries: []engine.VisibilityChange{{Receipt: got[1].Receipt, VisibleAt: at(2 * time.Second)}}})
			wantFailed(t, "change visibility", err, f.Cause())
			_, err = e.QueueCreate(t.Context(), &engine.QueueCreateParams{Key: engine.QueueKey{Account: account, Name: "new"}, Now: at(2 * time.Second)})
			wantFailed(t, "create queue", err, f.Cause())
			_, err = e.QueueGet(t.Context(), &engine.QueueGetParams{Key: q.Key})
			wantFailed(t, "get queue", err, f.Cause())
			if _, err := e.s.Message(t.Context(), q.ID, 3); !errors.Is(err, ErrStoreFailed) {
				t.Fatalf("Message from a failed store: %v", err)
			}

			// The fault clears; the store stays failed until it is reopened.
			d.Set(faultfs.None)
			wantFailed(t, "send after the fault", sendBodies(t, e, q.ID, at(3*time.Second), "late"), f.Cause())
			wantFailed(t, "Close", e.Close(), f.Cause())

			for _, restart := range []struct {
				name string
				fs   vfs.FS
			}{{"power loss", d.Crashed()}, {"restart", d.Mem()}} {
				e := openFaulty(t, restart.fs, SyncAlways)
				checkConsistent(t, e.s)
				got := drain(t, e, q.ID, at(2*time.Hour))
				// m1's delete was acknowledged; m2's delete and the sends under the fault
				// were not, so m2 is back unless its delete reached the disk, and "lost"
				// may or may not be there.
				rest := slices.DeleteFunc(slices.Clone(got), func(b string) bool { return b == "m2" || b == "lost" })
				if !slices.Equal(rest, []string{"m3", "m4"}) {
					t.Errorf("%s: queue holds %v, want m3 and m4 (and maybe m2, lost)", restart.name, got)
				}
				if f == faultfs.WriteENOSPC && !slices.Equal(got, []string{"m2", "m3", "m4"}) {
					t.Errorf("%s: queue holds %v; nothing was written under ENOSPC", restart.name, got)
				}
				if b := drain(t, e, fq.ID, at(2*time.Hour)); !slices.Equal(b, []string{"f1"}) {
					t.Errorf("%s: FIFO queue holds %v", restart.name, b)
				}
				// The store works again.
				if err := sendBodies(t, e, q.ID, at(3*time.Hour), "after"); err != nil {
					t.Fatalf("%s: send after reopening: %v", restart.name, err)
				}
				mustClose(t, e)
			}
		})
	}
}

// TestFaultRetryNotAcknowledged checks the two retries that the engine used to acknowledge
// without writing anything after a storage failure, because its index had already changed: a
// repeated delete (the message was gone from the index, so the delete "succeeded") and a
// repeated FIFO send with the same deduplication id (the id was remembered, so the send was a
// "duplicate"). After a restart the message of the delete is back and the FIFO message is
// missing: acknowledging the retries would have lost a delete and a message.
func TestFaultRetryNotAcknowledged(t *testing.T) {
	t.Parallel()
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		d := faultfs.New()
		e := openFaulty(t, d.FS(), SyncAlways)
		q := createQueue(t, e, "q", nil)
		if err := sendBodies(t, e, q.ID, at(0), "m"); err != nil {
			t.Fatal(err)
		}
		got := receive(t, e, q.ID, at(0), at(time.Hour), 1)
		d.Set(faultfs.WriteENOSPC)
		p := &engine.MessageDeleteParams{QueueID: q.ID, Now: at(time.Second), Receipts: []engine.Receipt{got[0].Receipt}}
		_, err := e.MessageDelete(t.Context(), p)
		wantFailed(t, "delete", err, syscall.ENOSPC)
		errs, err := e.MessageDelete(t.Context(), p)
		if err == nil {
			t.Errorf("retried delete acknowledged (per-receipt result %v)", errs)
		}
		d.Set(faultfs.None)
		_ = e.Close()
		e = openFaulty(t, d.Crashed(), SyncAlways)
		if b := drain(t, e, q.ID, at(2*time.Hour)); !slices.Equal(b, []string{"m"}) {
			t.Fatalf("after restart the queue holds %v, want the undeleted m", b)
		}
	})
	t.Run("fifo send", func(t *testing.T) {
		t.Parallel()
		d := faultfs.New()
		e := openFaulty(t, d.FS(), SyncAlways)
		q := createQueue(t, e, "q.fifo", map[string]string{"FifoQueue": "true"})
		d.Set(faultfs.WriteENOSPC)
		p := &engine.MessageSendParams{QueueID: q.ID, Now: at(0), DedupUntil: at(5 * time.Minute),
			Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "id", Body: "m", GroupID: "g", SentAt: at(0)}, VisibleAt: at(0), DedupKey: "d"}}}
		_, err := e.MessageSend(t.Context(), p)
		wantFailed(t, "send", err, syscall.ENOSPC)
		res, err := e.MessageSend(t.Context(), p)
		if err == nil {
			t.Errorf("retried send acknowledged: %+v", res.Entries)
		}
		d.Set(faultfs.None)
		_ = e.Close()
		e = openFaulty(t, d.Crashed(), SyncAlways)
		if b := drain(t, e, q.ID, at(2*time.Hour)); len(b) != 0 {
			t.Fatalf("after restart the queue holds %v, want nothing", b)
		}
	})
}

// TestFaultUnderLoad turns a fault on while several goroutines send and delete, with bodies
// large enough to fill Pebble's 32 KiB WAL blocks (without the WAL guard this makes Pebble panic
// in a committer and wedge its commit pipeline, or die in a memtable rotation). No call may
// panic or hang; every call after the fault fails with ErrStoreFailed; and after a power loss
// every acknowledged send is there and every acknowledged delete is not.
func TestFaultUnderLoad(t *testing.T) {
	t.Parallel()
	for _, f := range faultfs.Faults {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			d := faultfs.New()
			// A small memtable, so that memtable rotations happen around the fault too.
			s, err := OpenStore(Options{Dir: "/data", FS: d.FS(), MemTableSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			ie, err := indexed.New(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			e := faultEngine{ie, s}
			t.Cleanup(func() { _ = e.Close() })
			q := createQueue(t, e, "q", nil)

			const workers, perWorker, faultAfter = 4, 150, 200
			var (
				mu      sync.Mutex
				sent    = map[string]bool{} // acknowledged sends
				tried   = map[string]bool{} // deletes tried (a failed one may have reached the disk)
				deleted = map[string]bool{} // acknowledged deletes
				ops     atomic.Int64
				wg      sync.WaitGroup
			)
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					failed := false
					for i := range perWorker {
						if ops.Add(1) == faultAfter {
							d.Set(f)
						}
						body := fmt.Sprintf("w%d-%d-", w, i) + strings.Repeat("x", rng.IntN(20000))
						_, err := e.MessageSend(t.Context(), &engine.MessageSendParams{QueueID: q.ID, Now: at(0),
							Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: body[:12], Body: body, SentAt: at(0)}, VisibleAt: at(0)}}})
						if err == nil && failed {
							errs <- fmt.Errorf("send acknowledged after an earlier failure")
							return
						}
						if err != nil {
							if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, f.Cause()) {
								errs <- fmt.Errorf("send: %w", err)
								return
							}
							failed = true
							continue
						}
						mu.Lock()
						sent[body] = true
						mu.Unlock()
						if i%3 != 0 {
							continue
						}
						res, err := e.MessageReceive(t.Context(), &engine.MessageReceiveParams{QueueID: q.ID, Now: at(0), Max: 2, VisibleAt: at(time.Hour)})
						if err != nil {
							failed = true
							continue
						}
						for _, m := range res.Messages {
							mu.Lock()
							tried[m.Message.Body] = true
							mu.Unlock()
							errs2, err := e.MessageDelete(t.Context(), &engine.MessageDeleteParams{QueueID: q.ID, Now: at(0), Receipts: []engine.Receipt{m.Receipt}})
							switch {
							case err != nil:
								failed = true
							case errs2[0] == nil:
								mu.Lock()
								deleted[m.Message.Body] = true
								mu.Unlock()
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if s.Err() == nil {
				t.Fatal("the store did not fail")
			}
			crashed := d.Crashed()
			_ = e.Close()

			r := openFaulty(t, crashed, SyncAlways)
			checkConsistent(t, r.s)
			have := map[string]bool{}
			for _, b := range drain(t, r, q.ID, at(2*time.Hour)) {
				have[b] = true
			}
			missing, resurrected := 0, 0
			for b := range sent {
				if !have[b] && !tried[b] {
					missing++
				}
			}
			for b := range deleted {
				if have[b] {
					resurrected++
				}
			}
			t.Logf("%d sends and %d deletes acknowledged", len(sent), len(deleted))
			if missing != 0 || resurrected != 0 {
				t.Fatalf("after the crash: %d acknowledged sends missing, %d acknowledged deletes undone", missing, resurrected)
			}
			if len(sent) < faultAfter/2 {
				t.Fatalf("only %d sends acknowledged before the fault", len(sent))
			}
		})
	}
}

// TestFaultSyncInterval: in SyncInterval mode the background sync meets the fault. Without the
// WAL guard, DB.LogData with Sync calls Logger.Fatalf, a panic on the sync goroutine that would
// end the process; with it, the store fails. Writes synced before the fault survive a power
// loss; writes acknowledged but not yet synced survive a restart of the process only (as
// documented for SyncInterval).
func TestFaultSyncInterval(t *testing.T) {
	t.Parallel()
	d := faultfs.New()
	e := openFaulty(t, d.FS(), SyncInterval) // the ticker (1h) never fires: the test syncs
	q := createQueue(t, e, "q", nil)
	if err := sendBodies(t, e, q.ID, at(0), "synced"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.syncWAL(); err != nil {
		t.Fatal(err)
	}
	if err := sendBodies(t, e, q.ID, at(0), "unsynced"); err != nil {
		t.Fatal(err)
	}
	d.Set(faultfs.SyncEIO)
	wantFailed(t, "background sync", e.s.syncWAL(), syscall.EIO)
	wantFailed(t, "send", sendBodies(t, e, q.ID, at(0), "refused"), syscall.EIO)
	d.Set(faultfs.None)
	crashed := d.Crashed()
	wantFailed(t, "Close", e.Close(), syscall.EIO)

	r := openFaulty(t, crashed, SyncAlways)
	if b := drain(t, r, q.ID, at(time.Hour)); !slices.Equal(b, []string{"synced"}) {
		t.Errorf("after a power loss: %v, want only the synced message", b)
	}
	r = openFaulty(t, d.Mem(), SyncAlways)
	if b := drain(t, r, q.ID, at(time.Hour)); !slices.Equal(b, []string{"synced", "unsynced"}) {
		t.Errorf("after a restart: %v, want both acknowledged messages", b)
	}
}

// TestFaultAtOpen: a store whose log cannot be written refuses to open, with the cause.
func TestFaultAtOpen(t *testing.T) {
	t.Parallel()
	for _, f := range []faultfs.Fault{faultfs.SyncEIO, faultfs.WriteENOSPC} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			d := faultfs.New()
			d.Set(f)
			_, err := OpenStore(Options{Dir: "/data", FS: d.FS()})
			if !errors.Is(err, f.Cause()) || !strings.Contains(err.Error(), "data dir /data") {
				t.Fatalf("OpenStore: %v", err)
			}
			if f == faultfs.SyncEIO {
				// Pebble opened; writing its log failed.
				wantFailed(t, "OpenStore", err, f.Cause())
			}
			d.Set(faultfs.None)
			mustClose(t, openStore(t, Options{Dir: "/data", FS: d.FS()}))
		})
	}
}

// TestClosePanickedStore: after Pebble panicked, Close returns at once without touching Pebble
// (whose commit mutex may be held forever) and keeps the directory locked.
func TestClosePanickedStore(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	s := openStore(t, Options{Dir: "/data", FS: fs})
	err := s.fail.recovered("testing", "boom")
	if !errors.Is(err, ErrStoreFailed) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("recovered: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrStoreFailed) || !strings.Contains(err.Error(), "restart the process") {
		t.Fatalf("Close: %v", err)
	}
	if _, err := OpenStore(Options{Dir: "/data", FS: fs}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("reopen after a panicked close: %v", err)
	}
	if _, err := s.Apply(t.Context(), &indexed.Batch{DeletedQueues: []uint64{1}}); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("Apply: %v", err)
	}
	// Let the test end cleanly: Pebble did not really panic.
	s.fail.panicked.Store(false)
	if err := s.Close(); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("Close: %v", err)
	}
}

// TestWALRotationAfterFailure covers the WAL rotations that make Pebble die (panic in rotateWAL
// under a deferred unlock of an unlocked mutex) when it learns of a WAL failure: creating the
// next WAL fails, or the current WAL, whose writes failed, is closed at a rotation. The guard
// keeps both from Pebble; the store fails, closes, and reopens with what was acknowledged.
func TestWALRotationAfterFailure(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		kinds []errorfs.OpKind // the WAL operations that fail
	}{
		// Pebble creates a WAL, or recycles an old one.
		{"create fails", []errorfs.OpKind{errorfs.OpCreate, errorfs.OpReuseForWrite}},
		{"sync failed before", []errorfs.OpKind{errorfs.OpFileSyncData}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mem := vfs.NewCrashableMem()
			var on atomic.Bool
			fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if on.Load() && slices.Contains(c.kinds, op.Kind) && isWAL(op.Path) {
					return syscall.EIO
				}
				return nil
			}))
			e := openFaulty(t, fs, SyncAlways)
			q := createQueue(t, e, "q", nil)
			if err := sendBodies(t, e, q.ID, at(0), "acked"); err != nil {
				t.Fatal(err)
			}
			on.Store(true)
			if c.kinds[0] == errorfs.OpFileSyncData {
				wantFailed(t, "send", sendBodies(t, e, q.ID, at(0), "refused"), syscall.EIO)
			}
			// A manual flush rotates the WAL (a write would, were the store not refusing
			// writes): Pebble closes the current WAL and creates the next.
			if err := e.s.db.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			wantFailed(t, "Err", e.s.Err(), syscall.EIO)
			on.Store(false)
			crashed := mem.CrashClone(vfs.CrashCloneCfg{})
			wantFailed(t, "Close", e.Close(), syscall.EIO)
			for _, fs := range []vfs.FS{crashed, mem} {
				for i := range 2 { // the second open finds the first one's WALs
					r := openFaulty(t, fs, SyncAlways)
					checkConsistent(t, r.s)
					got := drain(t, r, q.ID, at(time.Duration(2*i+1)*time.Hour))
					if got = slices.DeleteFunc(got, func(b string) bool { return b == "refused" }); !slices.Equal(got, []string{"acked"}) {
						t.Fatalf("queue holds %v, want the acknowledged message", got)
					}
					mustClose(t, r)
				}
			}
		})
	}
}
