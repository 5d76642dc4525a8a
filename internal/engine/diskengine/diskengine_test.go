package diskengine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"

	"sluice/internal/engine"
	"sluice/internal/engine/indexed"
	"sluice/internal/engine/msgindex"
)

// t0 is the tests' epoch; every time an operation needs is derived from it.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const account = "000000000000"

// openEngine opens the engine in dir and closes it at the end of the test (closing twice is
// harmless, so tests may close it earlier to reopen).
func openEngine(t *testing.T, opts Options) engine.Engine {
	t.Helper()
	e, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func openStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := OpenStore(opts)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustClose(t *testing.T, c interface{ Close() error }) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func createQueue(t *testing.T, e engine.Engine, name string, attrs map[string]string) *engine.Queue {
	t.Helper()
	res, err := e.QueueCreate(t.Context(), &engine.QueueCreateParams{
		Key: engine.QueueKey{Account: account, Name: name}, Attributes: attrs,
		Tags: map[string]string{"team": "core"}, Now: t0,
	})
	if err != nil || !res.Created {
		t.Fatalf("QueueCreate(%s) = %+v, %v", name, res, err)
	}
	return res.Queue
}

func send(t *testing.T, e engine.Engine, qid uint64, now time.Time, msgs ...*engine.Message) {
	t.Helper()
	p := &engine.MessageSendParams{QueueID: qid, Now: now}
	for _, m := range msgs {
		if m.SentAt.IsZero() {
			m.SentAt = now
		}
		p.Entries = append(p.Entries, engine.MessageSendEntry{Message: m, VisibleAt: m.SentAt})
	}
	if _, err := e.MessageSend(t.Context(), p); err != nil {
		t.Fatalf("MessageSend: %v", err)
	}
}

func receive(t *testing.T, e engine.Engine, qid uint64, now, visibleAt time.Time, max int) []engine.ReceivedMessage {
	t.Helper()
	res, err := e.MessageReceive(t.Context(), &engine.MessageReceiveParams{
		QueueID: qid, Now: now, Max: max, VisibleAt: visibleAt,
	})
	if err != nil {
		t.Fatalf("MessageReceive: %v", err)
	}
	return res.Messages
}

func stats(t *testing.T, e engine.Engine, name string, now time.Time) engine.QueueStats {
	t.Helper()
	st, err := e.QueueStats(t.Context(), &engine.QueueStatsParams{Key: engine.QueueKey{Account: account, Name: name}, Now: now})
	if err != nil {
		t.Fatalf("QueueStats(%s): %v", name, err)
	}
	return *st
}

func bodies(ms []engine.ReceivedMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Message.Body)
	}
	return out
}

// TestRoundTrip drives the engine through its interface, closes it, reopens it and checks that
// queues, messages, receive counts, receipts and states survived.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	opts := Options{Dir: t.TempDir()}
	e := openEngine(t, opts)

	q1 := createQueue(t, e, "q1", map[string]string{"VisibilityTimeout": "30"})
	q2 := createQueue(t, e, "q2.fifo", map[string]string{"FifoQueue": "true"})
	if _, err := e.QueueUpdate(t.Context(), &engine.QueueUpdateParams{
		Key: q1.Key, Now: at(time.Second), SetAttributes: map[string]string{"DelaySeconds": "0"},
		SetTags: map[string]string{"env": "test"},
	}); err != nil {
		t.Fatal(err)
	}

	rich := &engine.Message{
		ID: "m1", Body: "one", SenderID: "AIDAEXAMPLE", SentAt: at(123456789),
		Attributes: map[string]engine.MessageAttribute{
			"s": {DataType: "String", StringValue: "v"},
			"b": {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 255}, IsBinary: true},
		},
		SystemAttributes: map[string]engine.MessageAttribute{
			"AWSTraceHeader": {DataType: "String", StringValue: "Root=1-abc"},
		},
	}
	send(t, e, q1.ID, at(0), rich, &engine.Message{ID: "m2", Body: "two"}, &engine.Message{ID: "m3", Body: "three"},
		&engine.Message{ID: "m4", Body: "four"})
	// A delayed message.
	if _, err := e.MessageSend(t.Context(), &engine.MessageSendParams{QueueID: q1.ID, Now: at(0), Entries: []engine.MessageSendEntry{{
		Message: &engine.Message{ID: "m5", Body: "delayed", SentAt: at(0)}, VisibleAt: at(60 * time.Second),
	}}}); err != nil {
		t.Fatal(err)
	}
	send(t, e, q2.ID, at(0), &engine.Message{ID: "f1", Body: "fifo", GroupID: "g", DeduplicationID: "d"})

	got := receive(t, e, q1.ID, at(time.Second), at(31*time.Second), 2)
	if b := bodies(got); !slices.Equal(b, []string{"one", "two"}) {
		t.Fatalf("first receive = %v", b)
	}
	if !equalMessages(got[0].Message, rich) {
		t.Fatalf("received %+v, want %+v", got[0].Message, rich)
	}
	// Delete "one"; move "two" far out.
	errs, err := e.MessageDelete(t.Context(), &engine.MessageDeleteParams{QueueID: q1.ID, Now: at(2 * time.Second),
		Receipts: []engine.Receipt{got[0].Receipt}})
	if err != nil || errs[0] != nil {
		t.Fatalf("MessageDelete: %v %v", errs, err)
	}
	errs, err = e.MessageChangeVisibility(t.Context(), &engine.MessageChangeVisibilityParams{QueueID: q1.ID,
		Now: at(2 * time.Second), Entries: []engine.VisibilityChange{{Receipt: got[1].Receipt, VisibleAt: at(100 * time.Second)}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("MessageChangeVisibility: %v %v", errs, err)
	}
	twoReceipt := got[1].Receipt
	want := engine.QueueStats{Visible: 2, InFlight: 1, Delayed: 1}
	if st := stats(t, e, "q1", at(3*time.Second)); st != want {
		t.Fatalf("stats before reopen = %+v, want %+v", st, want)
	}
	mustClose(t, e)

	// Reopen: everything is as it was.
	e = openEngine(t, opts)
	qs, err := e.QueueList(t.Context(), &engine.QueueListParams{Account: account})
	if err != nil || len(qs) != 2 {
		t.Fatalf("QueueList = %v, %v", qs, err)
	}
	if qs[0].ID != q1.ID || qs[0].Key != q1.Key || qs[0].Attributes["DelaySeconds"] != "0" ||
		qs[0].Tags["env"] != "test" || !qs[0].ModifiedAt.Equal(at(time.Second)) || !qs[0].CreatedAt.Equal(t0) {
		t.Errorf("q1 after reopen = %+v", qs[0])
	}
	if qs[1].ID != q2.ID || !reflect.DeepEqual(qs[1].Attributes, q2.Attributes) {
		t.Errorf("q2 after reopen = %+v", qs[1])
	}
	if st := stats(t, e, "q1", at(3*time.Second)); st != want {
		t.Fatalf("stats after reopen = %+v, want %+v", st, want)
	}

	// The receipt issued before the restart still works.
	errs, err = e.MessageChangeVisibility(t.Context(), &engine.MessageChangeVisibilityParams{QueueID: q1.ID,
		Now: at(4 * time.Second), Entries: []engine.VisibilityChange{{Receipt: twoReceipt, VisibleAt: at(4 * time.Second)}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("MessageChangeVisibility after reopen: %v %v", errs, err)
	}
	got = receive(t, e, q1.ID, at(5*time.Second), at(35*time.Second), 10)
	if b := bodies(got); !slices.Equal(b, []string{"two", "three", "four"}) {
		t.Fatalf("receive after reopen = %v", b)
	}
	if got[0].ReceiveCount != 2 || !got[0].FirstReceiveAt.Equal(at(time.Second)) {
		t.Errorf("two: receive count %d, first receive %v", got[0].ReceiveCount, got[0].FirstReceiveAt)
	}
	if got[1].ReceiveCount != 1 || !got[1].FirstReceiveAt.Equal(at(5*time.Second)) {
		t.Errorf("three: receive count %d, first receive %v", got[1].ReceiveCount, got[1].FirstReceiveAt)
	}
	// The stale receipt of "two" is superseded, across the restart.
	errs, err = e.MessageDelete(t.Context(), &engine.MessageDeleteParams{QueueID: q1.ID, Now: at(6 * time.Second),
		Receipts: []engine.Receipt{twoReceipt}})
	if err != nil || !errors.Is(errs[0], engine.ErrReceiptSuperseded) {
		t.Fatalf("delete with stale receipt: %v %v", errs, err)
	}
	// The delayed message shows up once its delay has passed.
	got = receive(t, e, q1.ID, at(61*time.Second), at(91*time.Second), 10)
	if b := bodies(got); !slices.Equal(b, []string{"two", "three", "four", "delayed"}) {
		t.Fatalf("receive at 61s = %v", b)
	}
	got = receive(t, e, q2.ID, at(time.Second), at(31*time.Second), 10)
	if len(got) != 1 || got[0].Message.GroupID != "g" || got[0].Message.DeduplicationID != "d" {
		t.Fatalf("fifo receive = %+v", got)
	}
	mustClose(t, e)

	// And once more, to check the states written after the first reopen.
	e = openEngine(t, opts)
	want = engine.QueueStats{InFlight: 4}
	if st := stats(t, e, "q1", at(62*time.Second)); st != want {
		t.Fatalf("stats after second reopen = %+v, want %+v", st, want)
	}
}

// countKeys counts the live keys under prefix.
func countKeys(t *testing.T, s *Store, prefix byte) int {
	t.Helper()
	lo, hi := prefixSpan(prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n
}

func TestPurgeAndDeleteRemoveData(t *testing.T) {
	t.Parallel()
	opts := Options{Dir: t.TempDir()}
	e := openEngine(t, opts)
	purged := createQueue(t, e, "purged", nil)
	gone := createQueue(t, e, "gone", nil)
	kept := createQueue(t, e, "kept", nil)
	for _, q := range []*engine.Queue{purged, gone, kept} {
		send(t, e, q.ID, at(0), &engine.Message{Body: "a"}, &engine.Message{Body: "b"}, &engine.Message{Body: "c"})
	}
	receive(t, e, purged.ID, at(time.Second), at(time.Hour), 1)
	if err := e.QueuePurge(t.Context(), &engine.QueuePurgeParams{Key: purged.Key, Now: at(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	send(t, e, purged.ID, at(3*time.Second), &engine.Message{Body: "after purge"})
	if err := e.QueueDelete(t.Context(), &engine.QueueDeleteParams{Key: gone.Key, Now: at(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, e)

	// In the store: 4 messages of "kept" and "purged" (3 + 1), and 2 queues.
	s := openStore(t, opts)
	if n := countKeys(t, s, prefixQueue); n != 2 {
		t.Errorf("%d queue records, want 2", n)
	}
	for _, p := range []byte{prefixMessage, prefixState} {
		if n := countKeys(t, s, p); n != 4 {
			t.Errorf("%d records under prefix %d, want 4", n, p)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if _, err := s.Message(t.Context(), purged.ID, seq); !errors.Is(err, engine.ErrMessageNotFound) {
			t.Errorf("purged message %d: err = %v, want ErrMessageNotFound", seq, err)
		}
		if _, err := s.Message(t.Context(), gone.ID, seq); !errors.Is(err, engine.ErrMessageNotFound) {
			t.Errorf("message %d of deleted queue: err = %v, want ErrMessageNotFound", seq, err)
		}
	}
	mustClose(t, s)

	e = openEngine(t, opts)
	if _, err := e.QueueGet(t.Context(), &engine.QueueGetParams{Key: gone.Key}); !errors.Is(err, engine.ErrQueueNotFound) {
		t.Errorf("deleted queue after reopen: err = %v", err)
	}
	if st := stats(t, e, "purged", at(4*time.Second)); st != (engine.QueueStats{Visible: 1}) {
		t.Errorf("purged queue stats = %+v", st)
	}
	if b := bodies(receive(t, e, purged.ID, at(4*time.Second), at(time.Hour), 10)); !slices.Equal(b, []string{"after purge"}) {
		t.Errorf("purged queue holds %v", b)
	}
	if st := stats(t, e, "kept", at(4*time.Second)); st != (engine.QueueStats{Visible: 3}) {
		t.Errorf("kept queue stats = %+v", st)
	}
}

// TestLoadReportsOrphans checks that states of a queue without a record reach Load's callback,
// and that the engine removes them when it opens.
func TestLoadReportsOrphans(t *testing.T) {
	t.Parallel()
	opts := Options{Dir: t.TempDir()}
	s := openStore(t, opts)
	if err := apply(t.Context(), s, &indexed.Batch{Sync: true, Messages: []indexed.NewMessage{
		{QueueID: 9, Message: &engine.Message{Body: "orphan"}, State: msgindex.State{Seq: 4}},
	}}); err != nil {
		t.Fatal(err)
	}
	var queues, orphans int
	if err := s.Load(t.Context(), &indexed.Loader{Queue: func(*engine.Queue) { queues++ }, State: func(qid uint64, st msgindex.State) {
		if qid == 9 && st.Seq == 4 {
			orphans++
		}
	}}); err != nil {
		t.Fatal(err)
	}
	if queues != 0 || orphans != 1 {
		t.Fatalf("Load reported %d queues and %d orphans, want 0 and 1", queues, orphans)
	}
	mustClose(t, s)

	e := openEngine(t, opts)
	mustClose(t, e)
	s = openStore(t, opts)
	if n := countKeys(t, s, prefixState) + countKeys(t, s, prefixMessage); n != 0 {
		t.Fatalf("%d records left after the engine opened, want 0", n)
	}
}

func TestMessageNotFoundAndCorrupt(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{Dir: t.TempDir()})
	if _, err := s.Message(t.Context(), 1, 1); !errors.Is(err, engine.ErrMessageNotFound) {
		t.Fatalf("absent message: err = %v", err)
	}
	if err := s.db.Set(msgKey(prefixMessage, 1, 1), []byte{messageVersion, 5, 'a'}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Message(t.Context(), 1, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt message: err = %v, want ErrCorrupt", err)
	}
	if err := s.db.Set(msgKey(prefixState, 1, 1), []byte{stateVersion, 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	err := s.Load(t.Context(), &indexed.Loader{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load with corrupt state: err = %v, want ErrCorrupt", err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{Dir: t.TempDir()})
	mustClose(t, s)
	mustClose(t, s) // twice is fine
	if _, err := s.Message(t.Context(), 1, 1); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Message after Close: %v", err)
	}
	if _, err := s.Apply(t.Context(), &indexed.Batch{DeletedQueues: []uint64{1}}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if err := s.Load(t.Context(), &indexed.Loader{}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

func TestForeignDirRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStore(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "holds no sluice store") || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("OpenStore in a foreign dir: err = %v", err)
	}
	// Nothing was created there.
	names, err := os.ReadDir(dir)
	if err != nil || len(names) != 1 {
		t.Fatalf("dir now holds %v (%v), want only notes.txt", names, err)
	}
}

func TestEmptyAndAbsentDirAccepted(t *testing.T) {
	t.Parallel()
	mustClose(t, openStore(t, Options{Dir: t.TempDir()}))
	mustClose(t, openStore(t, Options{Dir: filepath.Join(t.TempDir(), "a", "b")}))
}

func TestPebbleStoreWithoutMarkerRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log: discardLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("someone else's"), []byte("data"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	mustClose(t, db)
	_, err = OpenStore(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "was not written by this version of sluice") {
		t.Fatalf("OpenStore on a foreign Pebble store: err = %v", err)
	}
}

func TestUnknownFormatRefused(t *testing.T) {
	t.Parallel()
	opts := Options{Dir: t.TempDir()}
	s := openStore(t, opts)
	if err := s.db.Set(formatKey, []byte("2"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	_, err := OpenStore(opts)
	if err == nil || !strings.Contains(err.Error(), "was not written by this version of sluice") ||
		!strings.Contains(err.Error(), `"2"`) {
		t.Fatalf("OpenStore on format 2: err = %v", err)
	}
	// The refusal released the lock: fixing the marker makes the dir usable again.
	db, err := pebble.Open(opts.Dir, &pebble.Options{Logger: pebbleLogger{log: discardLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey, []byte(formatVersion), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	mustClose(t, db)
	mustClose(t, openStore(t, opts))
}

func TestDoubleOpenRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	_, err := OpenStore(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "is in use by another sluice process") {
		t.Fatalf("second OpenStore: err = %v", err)
	}
	// Another spelling of the same path is caught too.
	_, err = OpenStore(Options{Dir: filepath.Join(dir, "x", "..") + string(filepath.Separator)})
	if err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("OpenStore by another path: err = %v", err)
	}
	mustClose(t, s)
	mustClose(t, openStore(t, Options{Dir: dir}))
}

func TestDoubleOpenRefusedInMemFS(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	s := openStore(t, Options{Dir: "/data", FS: fs})
	_, err := OpenStore(Options{Dir: "/data", FS: fs})
	if err == nil || !strings.Contains(err.Error(), "is in use by another sluice process") {
		t.Fatalf("second OpenStore: err = %v", err)
	}
	mustClose(t, s)
}

// helperDirEnv makes the test binary, run as a child, hold a store open (TestHelperHoldStore).
const helperDirEnv = "SLUICE_DISKENGINE_HELPER_DIR"

// TestHelperHoldStore is not a test: run by TestDoubleOpenAcrossProcesses in a child process, it
// opens the store, says "ready" and keeps it open until its stdin closes.
func TestHelperHoldStore(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := OpenStore(Options{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = s.Close()
}

func TestDoubleOpenAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperHoldStore$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = OpenStore(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "is in use by another sluice process") {
		t.Errorf("OpenStore while another process holds the dir: err = %v", err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	mustClose(t, openStore(t, Options{Dir: dir}))
}

// TestCrashDurability simulates power loss with a crashable in-memory file system, which keeps
// only what was fsynced: with SyncAlways every acknowledged write survives; with SyncInterval
// writes survive once the background sync has run.
func TestCrashDurability(t *testing.T) {
	t.Parallel()
	crash := func(fs *vfs.MemFS) Options {
		return Options{Dir: "/data", FS: fs.CrashClone(vfs.CrashCloneCfg{})}
	}

	t.Run("always", func(t *testing.T) {
		t.Parallel()
		fs := vfs.NewCrashableMem()
		e := openEngine(t, Options{Dir: "/data", FS: fs})
		q := createQueue(t, e, "q", nil)
		send(t, e, q.ID, at(0), &engine.Message{Body: "durable"})
		receive(t, e, q.ID, at(time.Second), at(time.Minute), 1)

		e2 := openEngine(t, crash(fs)) // e is still open: this is a crash, not a shutdown
		if st := stats(t, e2, "q", at(2*time.Second)); st != (engine.QueueStats{InFlight: 1}) {
			t.Fatalf("after crash: %+v, want one message in flight", st)
		}
	})

	t.Run("interval", func(t *testing.T) {
		t.Parallel()
		fs := vfs.NewCrashableMem()
		// The ticker never fires during the test; the test runs the sync itself.
		s := openStore(t, Options{Dir: "/data", FS: fs, Sync: SyncInterval, SyncEvery: time.Hour})
		ie, err := indexed.New(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		var e engine.Engine = ie
		q := createQueue(t, e, "q", nil)
		send(t, e, q.ID, at(0), &engine.Message{Body: "maybe"})

		lost := openEngine(t, crash(fs))
		if _, err := lost.QueueGet(t.Context(), &engine.QueueGetParams{Key: q.Key}); !errors.Is(err, engine.ErrQueueNotFound) {
			t.Fatalf("unsynced queue survived a crash: %v", err)
		}
		if err := s.syncWAL(); err != nil {
			t.Fatal(err)
		}
		kept := openEngine(t, crash(fs))
		if st := stats(t, kept, "q", at(time.Second)); st != (engine.QueueStats{Visible: 1}) {
			t.Fatalf("after sync and crash: %+v, want one visible message", st)
		}

		// A clean close syncs what is pending.
		send(t, e, q.ID, at(0), &engine.Message{Body: "at close"})
		mustClose(t, e)
		e = openEngine(t, crash(fs))
		if st := stats(t, e, "q", at(time.Second)); st != (engine.QueueStats{Visible: 2}) {
			t.Fatalf("after close: %+v, want two visible messages", st)
		}
	})
}

// TestCloseLeavesNoGoroutines checks that Close stops Pebble and the sync goroutine. It does not
// run in parallel, so that other tests' goroutines do not interfere.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, mode := range []SyncMode{SyncAlways, SyncInterval} {
		e, err := Open(t.Context(), Options{Dir: t.TempDir(), Sync: mode, SyncEvery: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		q := createQueue(t, e, "q", nil)
		send(t, e, q.ID, at(0), &engine.Message{Body: "x"})
		mustClose(t, e)
	}
}

func TestParseSyncMode(t *testing.T) {
	t.Parallel()
	for _, m := range []SyncMode{SyncAlways, SyncInterval} {
		if got, err := ParseSyncMode(m.String()); err != nil || got != m {
			t.Errorf("ParseSyncMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseSyncMode("sometimes"); err == nil {
		t.Error("ParseSyncMode accepted an unknown mode")
	}
}

func TestApplyContextCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	s := openStore(t, Options{Dir: t.TempDir()})
	cancel()
	if _, err := s.Apply(ctx, &indexed.Batch{DeletedQueues: []uint64{1}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a canceled context: %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestLogsToGivenLogger(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := openStore(t, Options{Dir: t.TempDir(), Logger: log})
	mustClose(t, s)
	mu.Lock()
	defer mu.Unlock()
	if out := buf.String(); !strings.Contains(out, "store opened") || !strings.Contains(out, "store closed") {
		t.Fatalf("log output:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// apply writes a batch and waits for it to be durable.
func apply(ctx context.Context, s *Store, b *indexed.Batch) error {
	wait, err := s.Apply(ctx, b)
	if err != nil {
		return err
	}
	return wait()
}

// TestReopenBookkeeping checks the records that keep ids and names from being reused across a
// restart: the next queue id, each queue's next sequence, and deleted-queue tombstones.
func TestReopenBookkeeping(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	e, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(e engine.Engine, name string, now time.Time) (*engine.Queue, error) {
		res, err := e.QueueCreate(ctx, &engine.QueueCreateParams{Key: engine.QueueKey{Account: account, Name: name}, Now: now, DeletedCooldown: time.Minute})
		if err != nil {
			return nil, err
		}
		return res.Queue, nil
	}
	a, err := mk(e, "a", at(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := mk(e, "b", at(0))
	if err != nil {
		t.Fatal(err)
	}
	send(t, e, a.ID, at(0), &engine.Message{ID: "one", Body: "one"})
	r := receive(t, e, a.ID, at(0), at(time.Hour), 1)
	if len(r) != 1 {
		t.Fatalf("received %d", len(r))
	}
	errs, err := e.MessageDelete(ctx, &engine.MessageDeleteParams{QueueID: a.ID, Now: at(0), Receipts: []engine.Receipt{r[0].Receipt}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if err := e.QueueDelete(ctx, &engine.QueueDeleteParams{Key: b.Key, Now: at(0)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := mk(e, "b", at(time.Second)); !errors.Is(err, engine.ErrQueueDeletedRecently) {
		t.Fatalf("recreate within the cooldown after a restart: %v", err)
	}
	c, err := mk(e, "c", at(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == b.ID || c.ID == a.ID {
		t.Fatalf("queue id %d reused after a restart", c.ID)
	}
	send(t, e, a.ID, at(time.Second), &engine.Message{ID: "two", Body: "two"})
	errs, err = e.MessageDelete(ctx, &engine.MessageDeleteParams{QueueID: a.ID, Now: at(time.Second), Receipts: []engine.Receipt{r[0].Receipt}})
	if err != nil || !errors.Is(errs[0], engine.ErrMessageNotFound) {
		t.Fatalf("receipt of a message deleted before the restart: %v %v (sequence reused?)", err, errs)
	}
	if _, err := mk(e, "b", at(time.Minute+time.Second)); err != nil {
		t.Fatalf("recreate after the cooldown: %v", err)
	}
}

// TestExpiryRunsKeepWhatIsLive expires two runs of consecutive messages around a message that
// is still within retention: the runs go as range deletions, and the message between them stays,
// in the store and after a reopen.
func TestExpiryRunsKeepWhatIsLive(t *testing.T) {
	t.Parallel()
	opts := Options{Dir: t.TempDir()}
	e := openEngine(t, opts)
	q := createQueue(t, e, "q", nil)
	batch := func(n int, sentAt time.Time, prefix string) {
		var ms []*engine.Message
		for i := range n {
			ms = append(ms, &engine.Message{Body: fmt.Sprint(prefix, i), SentAt: sentAt})
		}
		send(t, e, q.ID, sentAt, ms...)
	}
	batch(40, at(0), "old")          // seqs 1-40
	batch(1, at(time.Hour), "new")   // seq 41
	batch(40, at(0), "older")        // seqs 42-81
	batch(3, at(time.Hour), "newer") // seqs 82-84
	n, err := e.MessageExpire(t.Context(), &engine.MessageExpireParams{Key: q.Key, RetentionCutoff: at(time.Minute)})
	if err != nil || n != 80 {
		t.Fatalf("MessageExpire = %d, %v; want 80", n, err)
	}
	mustClose(t, e)
	s := openStore(t, opts)
	for _, p := range []byte{prefixMessage, prefixState} {
		if got := countKeys(t, s, p); got != 4 {
			t.Errorf("%d records under prefix %d after expiry, want 4", got, p)
		}
	}
	mustClose(t, s)
	e = openEngine(t, opts)
	got := bodies(receive(t, e, q.ID, at(2*time.Hour), at(3*time.Hour), 10))
	if want := []string{"new0", "newer0", "newer1", "newer2"}; !slices.Equal(got, want) {
		t.Errorf("after reopen: %v, want %v", got, want)
	}
}
