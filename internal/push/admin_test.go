package push_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"sluice/internal/push"
	"sluice/internal/queue"
)

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.createQueue(t, "jobs", nil)
	worker, _ := worker(t, ok)
	h := push.Handler(b.mgr, nil)

	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body)))
		var out map[string]any
		if rec.Body.Len() > 0 {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
		}
		return rec.Code, out
	}

	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		errHas                   string
	}{
		{"bad JSON", "PUT", "/admin/push/jobs", `{"rate":`, 400, "bad JSON"},
		{"wrong type", "PUT", "/admin/push/jobs", `{"rate":"fast"}`, 400, "bad JSON"},
		{"unknown field", "PUT", "/admin/push/jobs", `{"rat":1}`, 400, "unknown field"},
		{"bad duration", "PUT", "/admin/push/jobs", `{"endpoint":"http://w","rate":1,"timeout":"soon"}`, 400, "bad duration"},
		{"no endpoint", "PUT", "/admin/push/jobs", `{"rate":1}`, 400, "endpoint"},
		{"bad scheme", "PUT", "/admin/push/jobs", `{"endpoint":"ftp://w/x","rate":1}`, 400, "endpoint"},
		{"rate zero", "PUT", "/admin/push/jobs", `{"endpoint":"http://w","rate":0}`, 400, "rate"},
		{"rate negative", "PUT", "/admin/push/jobs", `{"endpoint":"http://w","rate":-3}`, 400, "rate"},
		{"concurrency", "PUT", "/admin/push/jobs", `{"endpoint":"http://w","rate":1,"concurrency":-1}`, 400, "concurrency"},
		{"backoffs", "PUT", "/admin/push/jobs", `{"endpoint":"http://w","rate":1,"min_backoff":"10s","max_backoff":"1s"}`, 400, "backoff"},
		{"queue mismatch", "PUT", "/admin/push/jobs", `{"queue":"other","endpoint":"http://w","rate":1}`, 400, "differs"},
		{"unknown queue", "PUT", "/admin/push/nope", `{"endpoint":"http://w","rate":1}`, 404, "queue does not exist"},
		{"no subscription", "GET", "/admin/push/jobs", ``, 404, "not found"},
		{"delete none", "DELETE", "/admin/push/jobs", ``, 404, "not found"},
		{"pause none", "POST", "/admin/push/jobs/pause", ``, 404, "not found"},
		{"bad method", "PATCH", "/admin/push/jobs", ``, 405, "use GET"},
		{"bad list method", "POST", "/admin/push/", ``, 405, "list"},
		{"bad path", "GET", "/admin/push/jobs/x/y", ``, 404, "not found"},
	} {
		code, out := do(tc.method, tc.path, tc.body)
		require.Equal(t, tc.code, code, tc.name)
		require.Contains(t, out["error"], tc.errHas, tc.name)
	}

	code, out := do("PUT", "/admin/push/jobs", `{"endpoint":"`+worker.URL+`","rate":5,"concurrency":2,"timeout":"2s"}`)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "jobs", out["queue"])
	require.Equal(t, "2s", out["timeout"])
	require.Equal(t, 5.0, out["burst"])

	code, out = do("GET", "/admin/push/jobs", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 5.0, out["current_rate"])
	require.Equal(t, 0.0, out["in_flight"])

	code, out = do("POST", "/admin/push/jobs/pause", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, out["paused"])
	code, out = do("GET", "/admin/push/", "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["subscriptions"], 1)
	code, _ = do("POST", "/admin/push/jobs/resume", "")
	require.Equal(t, http.StatusOK, code)

	code, _ = do("DELETE", "/admin/push/jobs", "")
	require.Equal(t, http.StatusNoContent, code)
	code, out = do("GET", "/admin/push/", "")
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, out["subscriptions"])
	tags, err := b.svc.ListQueueTags(context.Background(), caller, &queue.QueueUrlInput{QueueUrl: "/" + account + "/jobs"})
	require.NoError(t, err)
	require.Empty(t, tags.Tags, "the subscription's tags are gone")
}
