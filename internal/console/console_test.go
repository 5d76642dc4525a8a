package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/console"
	"sluice/internal/engine/memengine"
	"sluice/internal/history"
	"sluice/internal/queue"
)

const account = "000000000000"

type testBundle struct {
	ctx     context.Context
	svc     *queue.Service
	hist    *history.History
	clock   *clock.Fake
	console *console.Console
	caller  *queue.Caller
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	eng := memengine.New()
	fc := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	hist := history.New(history.Options{Engine: eng, Clock: fc})
	svc := queue.New(queue.Options{Engine: eng, Clock: fc, SweepEvery: -1, PurgeInterval: -1, Observer: hist})
	require.NoError(t, svc.Start(context.Background()))
	t.Cleanup(func() { svc.Close(); _ = eng.Close() })
	c, err := console.New(console.Options{Service: svc, History: hist, Account: account, Region: "us-east-1",
		Token: "s3cret-token", Credentials: map[string]string{"AKIDOPS": "ops-secret"}, Clock: fc})
	require.NoError(t, err)
	return &testBundle{ctx: context.Background(), svc: svc, hist: hist, clock: fc, console: c,
		caller: &queue.Caller{Account: account, Region: "us-east-1", BaseURL: "http://x", SenderID: account}}
}

func (b *testBundle) createQueue(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := b.svc.CreateQueue(b.ctx, b.caller, &queue.CreateQueueInput{QueueName: name, Attributes: attrs,
		Tags: map[string]string{"team": "ops"}})
	require.NoError(t, err)
	return out.QueueUrl
}

func (b *testBundle) sendMessage(t *testing.T, url, body string) {
	t.Helper()
	_, err := b.svc.SendMessage(b.ctx, b.caller, &queue.SendMessageInput{QueueUrl: url, MessageBody: &body})
	require.NoError(t, err)
}

func (b *testBundle) stats(t *testing.T, url string) (visible, inFlight string) {
	t.Helper()
	out, err := b.svc.GetQueueAttributes(b.ctx, b.caller, &queue.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []string{"All"}})
	require.NoError(t, err)
	return out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
}

// do serves a request from the loopback interface (remote: another address) and returns the
// recorded response.
func (b *testBundle) do(r *http.Request, remote string) *httptest.ResponseRecorder {
	if remote == "" {
		remote = "127.0.0.1:40000"
	}
	r.RemoteAddr = remote
	rec := httptest.NewRecorder()
	b.console.ServeHTTP(rec, r)
	return rec
}

func (b *testBundle) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	return b.do(httptest.NewRequest(http.MethodGet, path, nil), "")
}

// csrf fetches a page and returns the CSRF cookie it sets.
func (b *testBundle) csrf(t *testing.T) *http.Cookie {
	t.Helper()
	rec := b.get(t, "/console/")
	require.Equal(t, http.StatusOK, rec.Code)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "sluice_csrf" {
			require.True(t, c.HttpOnly)
			require.Equal(t, http.SameSiteStrictMode, c.SameSite)
			return c
		}
	}
	t.Fatal("no CSRF cookie")
	return nil
}

// post submits a form with the cookie (when not nil) and the form's fields.
func (b *testBundle) post(t *testing.T, path string, cookie *http.Cookie, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return b.do(r, "")
}

func TestQueueList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.createQueue(t, "jobs", nil)
	b.createQueue(t, "events.fifo", map[string]string{"FifoQueue": "true"})
	for range 3 {
		b.sendMessage(t, u, "hello")
	}
	b.clock.Advance(90 * time.Second)
	rec := b.get(t, "/console/")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	require.Contains(t, body, `<a href="/console/queues/000000000000/jobs">jobs</a>`)
	require.Contains(t, body, `<td class="n visible">3</td>`)
	require.Contains(t, body, "1m30s", "age of the oldest message")
	require.Contains(t, body, "events.fifo")
	require.Equal(t, "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
		rec.Header().Get("Content-Security-Policy"))

	// The JSON form the CLI reads.
	rec = b.get(t, "/console/api/queues")
	require.Equal(t, http.StatusOK, rec.Code)
	var rows []console.QueueRow
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rows))
	require.Len(t, rows, 2)
	require.Equal(t, "jobs", rows[1].Name)
	require.Equal(t, int64(3), rows[1].Visible)
	require.Equal(t, 90.0, rows[1].OldestAge)
	require.True(t, rows[0].FIFO)

	// Another account has none; a bad account is refused.
	require.Contains(t, b.get(t, "/console/?account=111111111111").Body.String(), "No queues in this account")
	require.Equal(t, http.StatusBadRequest, b.get(t, "/console/?account=abc").Code)
}

func TestQueuePage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "jobs-dlq", nil)
	u := b.createQueue(t, "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":3}`})
	b.sendMessage(t, u, "a")
	b.clock.Advance(5 * time.Second)
	b.hist.SampleNow(b.ctx)
	b.sendMessage(t, u, "b")
	b.clock.Advance(5 * time.Second)
	b.hist.SampleNow(b.ctx)

	rec := b.get(t, "/console/queues/000000000000/jobs")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	require.Contains(t, body, "deadLetterTargetArn")
	require.Contains(t, body, "<th>VisibilityTimeout</th>")
	require.Contains(t, body, "<th>team</th><td>ops</td>")
	require.Contains(t, body, `id="depth-chart"`)
	require.Contains(t, body, `data-state="/console/queues/000000000000/jobs/state.json"`)

	rec = b.get(t, "/console/queues/000000000000/jobs/state.json")
	require.Equal(t, http.StatusOK, rec.Code)
	var st struct {
		Visible int64
		Samples []struct {
			Visible int64   `json:"visible"`
			Sent    float64 `json:"sent"`
		} `json:"samples"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	require.Equal(t, int64(2), st.Visible)
	require.Len(t, st.Samples, 2)
	require.Equal(t, int64(1), st.Samples[0].Visible)
	require.Equal(t, int64(2), st.Samples[1].Visible)
	require.Equal(t, 0.2, st.Samples[1].Sent, "one message in five seconds")

	// The DLQ's page offers the redrive and names its source.
	body = b.get(t, "/console/queues/000000000000/jobs-dlq").Body.String()
	require.Contains(t, body, `id="redrive-form"`)
	require.Contains(t, body, `<a href="/console/queues/000000000000/jobs">jobs</a>`)
}

func TestPeekChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.createQueue(t, "jobs", nil)
	b.sendMessage(t, u, "first <b>message</b>")
	b.sendMessage(t, u, "second")
	rec := b.get(t, "/console/queues/000000000000/jobs?peek=1&max=10")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	require.Contains(t, body, "first &lt;b&gt;message&lt;/b&gt;", "bodies are escaped")
	require.Contains(t, body, "second")
	visible, inFlight := b.stats(t, u)
	require.Equal(t, "2", visible)
	require.Equal(t, "0", inFlight)

	rec = b.get(t, "/console/api/queues/000000000000/jobs/peek?max=1")
	require.Equal(t, http.StatusOK, rec.Code)
	var ms []console.PeekedMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ms))
	require.Len(t, ms, 1)
	require.Equal(t, "first <b>message</b>", ms[0].Body)
	require.Zero(t, ms[0].ReceiveCount)

	out, err := b.svc.ReceiveMessage(b.ctx, b.caller, &queue.ReceiveMessageInput{QueueUrl: u, MaxNumberOfMessages: ptr(int32(10)),
		AttributeNames: []string{"ApproximateReceiveCount"}})
	require.NoError(t, err)
	require.Len(t, out.Messages, 2)
	require.Equal(t, "1", out.Messages[0].Attributes["ApproximateReceiveCount"])
	require.Contains(t, b.get(t, "/console/queues/000000000000/jobs?peek=1").Body.String(), "No message is visible now.")
}

func TestSendAndPurgeNeedCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.createQueue(t, "jobs", nil)
	cookie := b.csrf(t)

	// No token, a wrong token, no cookie: refused, nothing sent.
	require.Equal(t, http.StatusForbidden, b.post(t, "/console/queues/000000000000/jobs/send", cookie, url.Values{"body": {"x"}}).Code)
	require.Equal(t, http.StatusForbidden, b.post(t, "/console/queues/000000000000/jobs/send", cookie,
		url.Values{"body": {"x"}, "csrf": {strings.Repeat("0", 32)}}).Code)
	require.Equal(t, http.StatusForbidden, b.post(t, "/console/queues/000000000000/jobs/send", nil,
		url.Values{"body": {"x"}, "csrf": {cookie.Value}}).Code)
	visible, _ := b.stats(t, u)
	require.Equal(t, "0", visible)

	rec := b.post(t, "/console/queues/000000000000/jobs/send", cookie, url.Values{"body": {"hello"}, "csrf": {cookie.Value}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	require.Equal(t, "/console/queues/000000000000/jobs?done=sent", rec.Header().Get("Location"))
	visible, _ = b.stats(t, u)
	require.Equal(t, "1", visible)
	require.Contains(t, b.get(t, "/console/queues/000000000000/jobs?done=sent").Body.String(), "Message sent.")

	// GET does not change anything.
	require.Equal(t, http.StatusNotFound, b.get(t, "/console/queues/000000000000/jobs/purge").Code)
	require.Equal(t, http.StatusForbidden, b.post(t, "/console/queues/000000000000/jobs/purge", cookie, url.Values{}).Code)
	visible, _ = b.stats(t, u)
	require.Equal(t, "1", visible)
	rec = b.post(t, "/console/queues/000000000000/jobs/purge", cookie, url.Values{"csrf": {cookie.Value}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	visible, _ = b.stats(t, u)
	require.Equal(t, "0", visible)
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dlq := b.createQueue(t, "jobs-dlq", nil)
	src := b.createQueue(t, "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":1}`})
	b.sendMessage(t, src, "poison")
	_, err := b.svc.ReceiveMessage(b.ctx, b.caller, &queue.ReceiveMessageInput{QueueUrl: src, VisibilityTimeout: ptr(int32(0))})
	require.NoError(t, err)
	_, err = b.svc.ReceiveMessage(b.ctx, b.caller, &queue.ReceiveMessageInput{QueueUrl: src})
	require.NoError(t, err)
	visible, _ := b.stats(t, dlq)
	require.Equal(t, "1", visible, "dead-lettered")

	cookie := b.csrf(t)
	rec := b.post(t, "/console/queues/000000000000/jobs-dlq/redrive", cookie, url.Values{"csrf": {cookie.Value}})
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	require.Eventually(t, func() bool { v, _ := b.stats(t, src); return v == "1" }, 5*time.Second, 5*time.Millisecond)
	visible, _ = b.stats(t, dlq)
	require.Equal(t, "0", visible)
	require.Eventually(t, func() bool {
		return strings.Contains(b.get(t, "/console/queues/000000000000/jobs-dlq").Body.String(), `<td class="status">COMPLETED</td>`)
	}, 5*time.Second, 5*time.Millisecond)
	rec = b.get(t, "/console/queues/000000000000/jobs-dlq/state.json")
	require.Contains(t, rec.Body.String(), `"status":"COMPLETED","moved":1`)

	// A queue that is not a dead-letter queue: the SQS error, not a 500.
	rec = b.post(t, "/console/queues/000000000000/jobs/redrive", cookie, url.Values{"csrf": {cookie.Value}})
	require.Equal(t, http.StatusBadRequest, rec.Code)
}

func ptr[T any](v T) *T { return &v }

func TestAuthOffLoopback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "jobs", nil)
	remote := "203.0.113.7:5000"
	req := func(user, pass string) int {
		r := httptest.NewRequest(http.MethodGet, "/console/", nil)
		if user != "" || pass != "" {
			r.SetBasicAuth(user, pass)
		}
		return b.do(r, remote).Code
	}
	require.Equal(t, http.StatusUnauthorized, req("", ""))
	rec := b.do(httptest.NewRequest(http.MethodGet, "/console/api/queues", nil), remote)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Basic")
	require.Equal(t, http.StatusUnauthorized, req("admin", "wrong"))
	require.Equal(t, http.StatusUnauthorized, req("AKIDOPS", "s3cret"))
	require.Equal(t, http.StatusOK, req("anyone", "s3cret-token"))
	require.Equal(t, http.StatusOK, req("AKIDOPS", "ops-secret"))
	require.Equal(t, http.StatusOK, b.do(httptest.NewRequest(http.MethodGet, "/console/", nil), "[::1]:5000").Code)

	// An unauthenticated POST is refused before anything else.
	r := httptest.NewRequest(http.MethodPost, "/console/queues/000000000000/jobs/purge", strings.NewReader("csrf=x"))
	require.Equal(t, http.StatusUnauthorized, b.do(r, remote).Code)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createQueue(t, "events.fifo", map[string]string{"FifoQueue": "true"})
	cookie := b.csrf(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/console/queues/000000000000/nope", http.StatusNotFound},
		{"/console/queues/000000000000/nope/state.json", http.StatusNotFound},
		{"/console/queues/abc/jobs", http.StatusNotFound},
		{"/console/queues/000000000000/events.fifo?peek=1&max=abc", http.StatusBadRequest},
		{"/console/queues/000000000000/events.fifo?peek=1&max=1000", http.StatusBadRequest},
		{"/console/api/queues/000000000000/events.fifo/peek?max=0", http.StatusBadRequest},
		{"/console/api/queues/000000000000/nope/peek", http.StatusNotFound},
		{"/console/nothing/here", http.StatusNotFound},
		{"/console/static/console.css", http.StatusOK},
		{"/console/static/console.js", http.StatusOK},
	} {
		rec := b.get(t, tc.path)
		require.Equal(t, tc.status, rec.Code, tc.path)
	}
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/console/queues/000000000000/events.fifo/send", url.Values{"body": {"no group"}}},
		{"/console/queues/000000000000/events.fifo/send", url.Values{"body": {"x"}, "group": {"g"}, "delay": {"soon"}}},
		{"/console/queues/000000000000/events.fifo/send", url.Values{"body": {"\x00"}, "group": {"g"}}},
		{"/console/queues/000000000000/events.fifo/cancel", url.Values{"task": {"garbage"}}},
		{"/console/queues/000000000000/events.fifo/redrive", url.Values{"rate": {"-5"}}},
	} {
		tc.form.Set("csrf", cookie.Value)
		rec := b.post(t, tc.path, cookie, tc.form)
		require.GreaterOrEqual(t, rec.Code, 400, tc.path)
		require.Less(t, rec.Code, 500, "%s %v: %s", tc.path, tc.form, rec.Body.String())
	}
	rec := b.post(t, "/console/queues/000000000000/nope/purge", cookie, url.Values{"csrf": {cookie.Value}})
	require.Equal(t, http.StatusNotFound, rec.Code)
}
