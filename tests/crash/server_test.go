package crash

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildSluice builds ./cmd/sluice once into a temporary directory and returns the binary's path.
// When this test binary has the race detector, so does the server.
func buildSluice(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the crash harness builds cmd/sluice and needs the go tool on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "sluice/cmd/sluice")
	cmd := exec.Command(goTool, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// freeAddr returns 127.0.0.1:<port> of a port that was free a moment ago, chosen below the
// kernel's ephemeral port range when it can be: while the server is down, a client's connect()
// to a port inside that range can be given that very port as its source and connect to itself
// (TCP simultaneous open), and the restarted server could then not listen.
func freeAddr(t *testing.T, rng *rand.Rand) string {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	if lo > 11000 {
		for range 50 {
			addr := fmt.Sprintf("127.0.0.1:%d", 10000+rng.IntN(lo-11000))
			if ln, err := net.Listen("tcp", addr); err == nil {
				_ = ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// server runs `sluice serve` as a child process on one address and data dir, and kills it with
// SIGKILL. It only ever signals the PID it started.
type server struct {
	bin, addr string
	args      []string // serve's flags besides --listen and --log-level
	logPath   string
	log       *os.File

	mu       sync.Mutex
	cur      *proc // the running process, nil if none
	starts   int
	ready    []time.Duration // per start: from exec to accepting connections
	lastKill time.Time
}

// proc is one child process.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once the process has been reaped
	err    error         // its exit status, written before exited is closed
}

func newServer(t *testing.T, bin, addr string, args ...string) *server {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "sluice.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{bin: bin, addr: addr, args: args, logPath: logPath, log: f}
	t.Cleanup(func() {
		s.kill()
		_ = f.Close()
	})
	return s
}

// start starts the server and waits until it accepts connections.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return errors.New("server already running")
	}
	s.starts++
	fmt.Fprintf(s.log, "=== harness: start %d\n", s.starts)
	cmd := exec.Command(s.bin, append([]string{"serve", "--listen", s.addr, "--log-level", "warn"}, s.args...)...)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	setDeathSignal(cmd)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting sluice: %w", err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.cur = p
	deadline := began.Add(60 * time.Second)
	for {
		select {
		case <-p.exited:
			s.cur = nil
			return fmt.Errorf("sluice (pid %d) exited while starting: %v; log: %s", p.pid, p.err, s.logPath)
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			s.ready = append(s.ready, time.Since(began))
			return nil
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("sluice (pid %d) did not accept connections on %s within 60s: %v", p.pid, s.addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// crash SIGKILLs the running server and reaps it. It fails if the server was not running or
// had already exited on its own.
func (s *server) crash() (pid int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cur
	if p == nil {
		return 0, errors.New("server not running")
	}
	select {
	case <-p.exited:
		s.cur = nil
		return p.pid, fmt.Errorf("sluice (pid %d) exited on its own: %v; log: %s", p.pid, p.err, s.logPath)
	default:
	}
	s.killLocked()
	return p.pid, nil
}

// kill SIGKILLs the server if it is running; it is safe to call at any time.
func (s *server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *server) killLocked() {
	p := s.cur
	if p == nil {
		return
	}
	// os.Process.Kill sends SIGKILL to this PID only, and never after the process was reaped.
	_ = p.cmd.Process.Kill()
	<-p.exited
	s.lastKill = time.Now()
	fmt.Fprintf(s.log, "=== harness: killed pid %d\n", p.pid)
	s.cur = nil
}

// running reports whether the server is running (started and not killed by the harness).
func (s *server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}

// lastKilled returns when the server was last killed.
func (s *server) lastKilled() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastKill
}

// logTail returns the last n lines of the server's log.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// logProblems returns the lines of the server's log that report a panic or a data race.
func (s *server) logProblems() []string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "panic:") || strings.Contains(l, "WARNING: DATA RACE") || strings.HasPrefix(l, "fatal error:") {
			out = append(out, l)
		}
	}
	return out
}
