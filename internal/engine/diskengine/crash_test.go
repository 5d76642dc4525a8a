package diskengine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"sluice/internal/engine"
	"sluice/internal/engine/indexed"
)

// Environment of TestHelperCrashOnFault, run as a child process by TestCrashOnFault.
const (
	crashDirEnv  = "SLUICE_DISKENGINE_CRASH_DIR"
	crashModeEnv = "SLUICE_DISKENGINE_CRASH_MODE"
)

// TestHelperCrashOnFault is not a test: run by TestCrashOnFault in a child process, it sends
// messages to a store on a real directory, printing "acked <body>" for each acknowledged one,
// turns a fault on after 20 of them, and goes on sending until the fault ends the process.
func TestHelperCrashOnFault(t *testing.T) {
	dir, mode := os.Getenv(crashDirEnv), os.Getenv(crashModeEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	var on atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !on.Load() || (op.Kind != errorfs.OpFileSync && op.Kind != errorfs.OpFileSyncData) {
			return nil
		}
		switch {
		case mode == "manifest" && strings.Contains(op.Path, "MANIFEST-"):
			return syscall.EIO
		case mode == "dir" && op.Path == dir:
			return syscall.EIO
		}
		return nil
	}))
	// A 1 MiB memtable: WAL rotations and flushes come every few dozen messages.
	s, err := OpenStore(Options{Dir: dir, FS: fs, MemTableSize: 1 << 20})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	e, err := indexed.New(t.Context(), s)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	res, err := e.QueueCreate(t.Context(), &engine.QueueCreateParams{Key: engine.QueueKey{Account: account, Name: "q"}, Now: t0})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pad := strings.Repeat("x", 20000)
	for i := range 2000 {
		if i == 20 {
			on.Store(true)
		}
		body := fmt.Sprintf("m%04d", i)
		_, err := e.MessageSend(t.Context(), &engine.MessageSendParams{QueueID: res.Queue.ID, Now: t0,
			Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: body, Body: body + pad, SentAt: t0}, VisibleAt: t0}}})
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println("acked", body)
	}
	fmt.Println("survived")
}

// TestCrashOnFault shows the faults that end the process (crash-only), and that a restart then
// loses nothing acknowledged:
//   - "manifest": an fsync of the MANIFEST fails during a memtable flush. Pebble calls
//     Logger.Fatalf (version_set.go, "MANIFEST sync failed"), whose panic on Pebble's flush
//     goroutine nothing can recover.
//   - "dir": an fsync of the data directory fails when Pebble creates the next WAL at a
//     memtable rotation. Pebble panics in rotateWAL with DB.mu unlocked under a deferred
//     DB.mu.Unlock (db.go), a "fatal error: sync: unlock of unlocked mutex" that no recover
//     stops, on the goroutine of the send.
func TestCrashOnFault(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode string
		want []string // in the child's dying words
	}{
		{"manifest", []string{"panic: pebble: MANIFEST sync failed", "(*DB).flush1"}},
		{"dir", []string{"fatal error: sync: unlock of unlocked mutex", "(*DB).rotateWAL", "(*Store).Apply"}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperCrashOnFault$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashModeEnv+"="+c.mode)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || strings.Contains(stdout.String(), "survived") {
				t.Fatalf("the child was not ended by the fault: %v\n%s", err, stdout.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Fatalf("the child died without %q:\n%s", w, firstLines(stderr.String(), 40))
				}
			}
			var acked []string
			sc := bufio.NewScanner(&stdout)
			for sc.Scan() {
				if b, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked = append(acked, b)
				}
			}
			if len(acked) < 20 {
				t.Fatalf("only %d sends acknowledged:\n%s", len(acked), stdout.String())
			}

			e := openEngine(t, Options{Dir: dir})
			q, err := e.QueueGet(t.Context(), &engine.QueueGetParams{Key: engine.QueueKey{Account: account, Name: "q"}})
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, b := range drain(t, e, q.ID, at(time.Hour)) {
				have[b[:5]] = true
			}
			for _, b := range acked {
				if !have[b] {
					t.Errorf("acknowledged %s is missing after the restart", b)
				}
			}
			t.Logf("%d sends acknowledged before the crash, all present after the restart", len(acked))
		})
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
