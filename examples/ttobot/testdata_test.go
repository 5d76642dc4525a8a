package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ttobot/internal/bot"
	"ttobot/internal/cohort"
)

// sluiceBin builds the parent module's sluice once per test binary.
var sluiceBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ttobot-sluice-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build sluice: %w\n%s", err, out)
	}
	return bin, nil
})

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sluice is a running `sluice serve`.
type sluice struct {
	Endpoint string
	cmd      *exec.Cmd
	out      *bytes.Buffer
}

// startSluice starts a real sluice serve on a free loopback port; dataDir "" means memory.
// A missing build is a failure, never a skip.
func startSluice(t *testing.T, addr, dataDir string) *sluice {
	t.Helper()
	bin, err := sluiceBin()
	if err != nil {
		t.Fatalf("sluice is needed for this test: %v", err)
	}
	if addr == "" {
		addr = freePort(t)
	}
	args := []string{"serve", "--listen", addr, "--log-level", "warn"}
	if dataDir == "" {
		args = append(args, "--storage=memory")
	} else {
		args = append(args, "--storage=disk", "--data-dir", dataDir)
	}
	s := &sluice{Endpoint: "http://" + addr, out: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sluice: %v", err)
	}
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice did not start on %s: %v\n%s", addr, err, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server by its PID (SIGTERM, then SIGKILL) and waits for it.
func (s *sluice) stop(t *testing.T) {
	if s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		t.Errorf("sluice did not stop on SIGTERM\n%s", s.out)
	}
}

// handlerTransport serves every request from h: the fake blog behind any URL.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// blogFetcher fetches titles from a fake blog: /missing is 404, any other path has a title.
func blogFetcher() bot.TitleFetcher {
	blog := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			http.NotFound(w, r)
		case strings.HasSuffix(r.URL.Path, "/untitled"):
			_, _ = io.WriteString(w, "<html><body>no title</body></html>")
		default:
			_, _ = fmt.Fprintf(w, "<html><head><title> 글 %s </title></head></html>", r.URL.Path)
		}
	})
	return &bot.HTTPFetcher{Client: &http.Client{Transport: handlerTransport{blog}}}
}

// testLogger writes through t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// roster10 is the 10th cohort's schedule with members spread over channels.
func roster10(t *testing.T, members int, channels int) *cohort.Roster {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"cohort":{"name":"10기","start_date":"2024-09-29","max_pass":2,
	"due_dates":["2024-10-13","2024-10-27","2024-11-10","2024-11-24","2024-12-08","2024-12-22","2025-01-05","2025-01-19","2025-02-02","2025-02-16","2025-03-02","2025-03-16"],
	"categories":["프로젝트","기술 & 언어","조직 & 문화","취준 & 이직","일상 & 생각 & 회고","기타"]},
	"admin_channel_id":"CADMIN","support_channel":"CSUPPORT","members":[`)
	for i := range members {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"user_id":"U%04d","name":"멤버%04d","channel_id":"C%02d","channel_name":"core-%02d"}`, i, i, i%channels, i%channels)
	}
	b.WriteString(`,{"user_id":"UADMIN","name":"운영진","admin":true}]}`)
	r, err := cohort.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func kst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.000", s, cohort.Seoul)
	if err != nil {
		panic(err)
	}
	return t
}

// eventually polls cond until it holds or the (real-time) limit passes; step runs between
// polls (e.g. to advance a fake clock).
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool, step func()) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if step != nil {
			step()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// kill ends the server abruptly (SIGKILL by PID): a crash, not a shutdown.
func (s *sluice) kill(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
