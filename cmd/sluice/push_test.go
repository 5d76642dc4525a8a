package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPushCommands drives `sluice push` against a real `sluice serve` and a worker endpoint.
func TestPushCommands(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(string(b), "job ") && r.Header.Get("X-Sluice-Queue") == "jobs" {
			got.Add(1)
		}
	}))
	t.Cleanup(worker.Close)
	ep := startServer(t)
	ok := func(args ...string) string {
		t.Helper()
		out, code := sluiceCmd(t, ep, args...)
		require.Equal(t, 0, code, out)
		return out
	}
	ok("queue", "create", "jobs")
	out := ok("push", "set", "-endpoint-url", worker.URL, "-rate", "50", "-concurrency", "4", "-timeout", "5s", "jobs")
	require.Contains(t, out, `"concurrency": 4`)
	require.Contains(t, out, `"timeout": "5s"`)
	for range 3 {
		ok("send", "jobs", "job x")
	}
	require.Eventually(t, func() bool { return got.Load() == 3 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(ok("push", "get", "jobs"), `"delivered": 3`) }, 10*time.Second, 5*time.Millisecond)
	require.Regexp(t, `jobs\s+\S+\s+50\s+50\s+4\s+0\s+3\s+0\s+active`, ok("push", "list"))
	resp, err := http.Get(ep + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, string(metrics), `sluice_push_delivered_total{queue="jobs"} 3`)
	require.Contains(t, ok("push", "pause", "jobs"), `"paused": true`)
	require.Regexp(t, `paused`, ok("push", "list"))
	require.NotContains(t, ok("push", "resume", "jobs"), `"paused"`)
	ok("push", "delete", "jobs")
	require.NotContains(t, ok("push", "list"), "jobs ")

	// Errors: the API's message, exit code 1.
	out, code := sluiceCmd(t, ep, "push", "set", "-endpoint-url", worker.URL, "-rate", "0", "jobs")
	require.Equal(t, 1, code)
	require.Contains(t, out, "rate: must be greater than 0")
	out, code = sluiceCmd(t, ep, "push", "get", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, out, "queue does not exist")
	out, code = sluiceCmd(t, ep, "push", "frob")
	require.Equal(t, 1, code)
	require.Contains(t, out, "unknown subcommand")
}

func TestPushAdminAuth(t *testing.T) {
	t.Parallel()
	h := pushAdmin(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), "tok", map[string]string{"AKID": "secret"})
	for _, tc := range []struct {
		remote, user, pass string
		want               int
	}{
		{"127.0.0.1:5000", "", "", 200},
		{"[::1]:5000", "", "", 200},
		{"10.0.0.1:5000", "", "", 401},
		{"10.0.0.1:5000", "x", "tok", 200},
		{"10.0.0.1:5000", "AKID", "secret", 200},
		{"10.0.0.1:5000", "AKID", "wrong", 401},
	} {
		r := httptest.NewRequest("GET", "/admin/push/", nil)
		r.RemoteAddr = tc.remote
		if tc.user != "" {
			r.SetBasicAuth(tc.user, tc.pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		require.Equal(t, tc.want, rec.Code, tc)
	}
}

// TestDeclaredPush declares a subscription in the config file: checked by --config-check,
// applied by serve, and kept paused across a restart when paused through the API.
func TestDeclaredPush(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	worker := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	t.Cleanup(worker.Close)
	dir := t.TempDir()
	write := func(text string) string {
		file := filepath.Join(t.TempDir(), "sluice.toml")
		require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
		return file
	}
	check := func(text string) (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), []string{"serve", "--config", write(text), "--config-check"}, &out, &out, func(string) string { return "" })
		return code, out.String()
	}
	code, out := check("[[queues]]\nname = \"a\"\n[queues.push]\nendpoint = \"http://w\"\nrate = 0\n")
	require.Equal(t, 1, code)
	require.Contains(t, out, `queue "a": push.rate`)
	code, out = check("[[queues]]\nname = \"a\"\n[queues.push]\nendpoint = \"ftp://w\"\nrate = 1\n")
	require.Equal(t, 1, code)
	require.Contains(t, out, `queue "a": push.endpoint`)

	file := write("[[queues]]\nname = \"jobs\"\n[queues.push]\nendpoint = \"" + worker.URL + "\"\nrate = 20\nconcurrency = 3\ntimeout = \"4s\"\n")
	code, out = check("[[queues]]\nname = \"jobs\"\n[queues.push]\nendpoint = \"" + worker.URL + "\"\nrate = 20\n")
	require.Equal(t, 0, code, out)

	start := func() (string, func()) {
		addr := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		var stderr syncBuffer
		done := make(chan int, 1)
		args := []string{"serve", "--config", file, "--storage", "disk", "--data-dir", dir, "--listen", addr}
		go func() { done <- run(ctx, args, &stderr, &stderr, func(string) string { return "" }) }()
		waitUp(t, addr)
		return "http://" + addr, func() {
			cancel()
			require.Equal(t, 0, <-done, stderr.String())
		}
	}
	ep, stop := start()
	out, code = sluiceCmd(t, ep, "push", "get", "jobs")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"concurrency": 3`)
	require.Contains(t, out, `"timeout": "4s"`)
	_, code = sluiceCmd(t, ep, "send", "jobs", "one")
	require.Equal(t, 0, code)
	require.Eventually(t, func() bool { return got.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	_, code = sluiceCmd(t, ep, "push", "pause", "jobs")
	require.Equal(t, 0, code)
	stop()

	ep, stop = start()
	defer stop()
	out, code = sluiceCmd(t, ep, "push", "get", "jobs")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"paused": true`, "a declared subscription keeps its paused state")
}
