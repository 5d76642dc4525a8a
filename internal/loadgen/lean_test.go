package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLeanScenariosOnSluice runs the scenarios that fit the lean client against a real Sluice
// and checks what the SDK runs check.
func TestLeanScenariosOnSluice(t *testing.T) {
	url := startSluice(t)
	target := "lean=" + url
	ctx := context.Background()

	tg, err := OpenTarget(ctx, target, 0)
	require.NoError(t, err)
	require.Equal(t, "sqs-lean", tg.Kind())
	require.NoError(t, tg.Close())
	sqsScenarios(t, target)
	t.Run("fair and push need the SDK target", func(t *testing.T) {
		for _, sc := range []string{"fair", "push"} {
			_, err := Run(ctx, smallConfig(t, sc, target))
			require.ErrorContains(t, err, "needs an sqs=URL target")
		}
	})
}

// TestLeanOnNullServer runs the lean client against the null server (target null-lean): every
// call must pass its checks (MD5s included), and the scenarios must know the canned messages
// carry no ids (no loss counted, no drain waited for).
func TestLeanOnNullServer(t *testing.T) {
	hs := httptest.NewServer(NewNullServer(256, nil))
	t.Cleanup(hs.Close)
	ctx := context.Background()
	for _, sc := range []string{"pipeline", "single"} {
		t.Run(sc, func(t *testing.T) {
			cfg := smallConfig(t, sc, "null-lean="+hs.URL)
			cfg.Duration = 500 * time.Millisecond
			r, err := Run(ctx, cfg)
			require.NoError(t, err)
			require.Equal(t, "null-lean", r.Target)
			require.Empty(t, r.Errors)
			require.Positive(t, r.Sent)
			require.Positive(t, r.Received)
			require.Positive(t, r.Deleted)
			require.Zero(t, r.Lost, "loss is not counted against a null server")
		})
	}
}

// TestLeanErrorCodes checks that the lean client reports the codes the SDK reports, for a
// whole call that fails and for a failed entry of a batch.
func TestLeanErrorCodes(t *testing.T) {
	url := startSluice(t)
	ctx := context.Background()
	codes := func(tg Target) (receive, deleteEntry string) {
		q, err := tg.CreateQueue(ctx, QueueSpec{Name: queueName("codes"), Visibility: time.Minute})
		require.NoError(t, err)
		c, err := q.NewConsumer(ctx)
		require.NoError(t, err)
		n, err := c.Ack(ctx, []InMsg{{handle: "not-a-receipt-handle"}})
		require.Error(t, err)
		require.Zero(t, n)
		deleteEntry = errorCode(err)
		require.NoError(t, q.Delete(ctx))
		_, err = c.Receive(ctx, 10, 0)
		require.Error(t, err)
		return errorCode(err), deleteEntry
	}
	sdk := NewSQSTarget(url, false)
	t.Cleanup(func() { _ = sdk.Close() })
	lean := NewLeanTarget(url)
	t.Cleanup(func() { _ = lean.Close() })
	sdkRecv, sdkDel := codes(sdk)
	leanRecv, leanDel := codes(lean)
	require.Equal(t, "AWS.SimpleQueueService.NonExistentQueue", sdkRecv)
	require.Equal(t, sdkRecv, leanRecv)
	require.NotEmpty(t, sdkDel)
	require.Equal(t, sdkDel, leanDel)
	t.Log("receive on a deleted queue:", leanRecv, "; delete of a bad handle:", leanDel)
}

// TestLeanError decodes error responses as the SDK does: the query-compatible code when the
// server sends one, else __type without its namespace.
func TestLeanError(t *testing.T) {
	for _, tc := range []struct {
		header http.Header
		body   string
		code   string
		msg    string
	}{
		{http.Header{"X-Amzn-Query-Error": {"AWS.SimpleQueueService.NonExistentQueue;Sender"}},
			`{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"}`, "AWS.SimpleQueueService.NonExistentQueue", "gone"},
		{http.Header{}, `{"__type":"com.amazonaws.sqs#InvalidAddress","message":"bad"}`, "InvalidAddress", "bad"},
		{http.Header{}, `{"__type":"ThrottlingException:http://internal.amazon.com/","Message":"slow"}`, "ThrottlingException", "slow"},
		{http.Header{"X-Amzn-Errortype": {"InternalError"}}, `not json`, "InternalError", "Internal Server Error"},
		{http.Header{}, ``, "UnknownError", "Internal Server Error"},
	} {
		e := leanError(&http.Response{StatusCode: 500, Header: tc.header}, []byte(tc.body))
		require.Equal(t, tc.code, e.Code, tc.body)
		require.Equal(t, tc.code, errorCode(e), tc.body)
		require.Equal(t, tc.msg, e.Message, tc.body)
	}
}

// TestLeanChecksum: a body whose MD5 differs from the server's digest fails the call, on send
// and on receive, as it does in the SDK.
func TestLeanChecksum(t *testing.T) {
	null := NewNullServer(100, nil)
	digest := regexp.MustCompile(`"(MD5OfMessageBody|MD5OfBody)":"[0-9a-f]{32}"`)
	var corrupt bool
	var mu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		bad := corrupt
		mu.Unlock()
		if !bad {
			null.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		null.ServeHTTP(rec, r)
		// Replace every digest with a wrong one of the same form.
		body := digest.ReplaceAllString(rec.Body.String(), `"$1":"00000000000000000000000000000000"`)
		w.Header().Set("Content-Type", nullContentType)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(hs.Close)
	lt := NewLeanTarget(hs.URL)
	t.Cleanup(func() { _ = lt.Close() })
	ctx := context.Background()
	q, err := lt.CreateQueue(ctx, QueueSpec{Name: "md5"})
	require.NoError(t, err)
	u := q.(Unbatched)
	p, err := q.NewProducer(ctx)
	require.NoError(t, err)
	c, err := q.NewConsumer(ctx)
	require.NoError(t, err)
	msg := OutMsg{Body: []byte("hello")}

	// Correct digests pass.
	errs, err := p.SendBatch(ctx, []OutMsg{msg, msg})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil}, errs)
	require.NoError(t, u.SendOne(ctx, msg))
	got, err := c.Receive(ctx, 10, 0)
	require.NoError(t, err)
	require.NotEmpty(t, got)

	mu.Lock()
	corrupt = true
	mu.Unlock()
	_, err = p.SendBatch(ctx, []OutMsg{msg})
	require.Equal(t, "MD5Mismatch", errorCode(err))
	require.Equal(t, "MD5Mismatch", errorCode(u.SendOne(ctx, msg)))
	_, err = c.Receive(ctx, 10, 0)
	require.Equal(t, "MD5Mismatch", errorCode(err))
	_, err = u.ReceiveOne(ctx, 0)
	require.Equal(t, "MD5Mismatch", errorCode(err))
}

// TestLeanSameRequests records what the SDK target and the lean target send for the same
// calls (through a recorder in front of the null server) and requires the same actions,
// content type, query mode and JSON bodies.
func TestLeanSameRequests(t *testing.T) {
	type call struct {
		target, contentType, queryMode string
		body                           map[string]any
	}
	var mu sync.Mutex
	var calls []call
	null := NewNullServer(100, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s: body %q: %v", r.Header.Get("X-Amz-Target"), raw, err)
		}
		mu.Lock()
		calls = append(calls, call{r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"), r.Header.Get("X-Amzn-Query-Mode"), body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		null.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ctx := context.Background()
	record := func(tg Target, fifo bool) []call {
		mu.Lock()
		calls = nil
		mu.Unlock()
		q, err := tg.CreateQueue(ctx, QueueSpec{Name: "same", FIFO: fifo, Visibility: 30 * time.Second})
		require.NoError(t, err)
		p, err := q.NewProducer(ctx)
		require.NoError(t, err)
		c, err := q.NewConsumer(ctx)
		require.NoError(t, err)
		msgs := []OutMsg{{Body: []byte("a <&> b")}, {Body: []byte("c"), Group: "g1", DedupID: "d1"}}
		_, err = p.SendBatch(ctx, msgs)
		require.NoError(t, err)
		got, err := c.Receive(ctx, 10, 2*time.Second)
		require.NoError(t, err)
		_, err = c.Ack(ctx, got[:2])
		require.NoError(t, err)
		u := q.(Unbatched)
		require.NoError(t, u.SendOne(ctx, msgs[1]))
		one, err := u.ReceiveOne(ctx, time.Second)
		require.NoError(t, err)
		require.NoError(t, u.DeleteOne(ctx, *one))
		_, _, err = q.(interface {
			Depth(context.Context) (int64, int64, error)
		}).Depth(ctx)
		require.NoError(t, err)
		require.NoError(t, q.Delete(ctx))
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
	sdk := NewSQSTarget(hs.URL, false)
	t.Cleanup(func() { _ = sdk.Close() })
	lean := NewLeanTarget(hs.URL)
	t.Cleanup(func() { _ = lean.Close() })
	for _, fifo := range []bool{false, true} {
		want := record(sdk, fifo)
		got := record(lean, fifo)
		require.Len(t, want, 9)
		require.Equal(t, want, got, "fifo=%v", fifo)
	}
}

func TestLeanTargetSpec(t *testing.T) {
	kind, url, err := ParseTarget("lean")
	require.NoError(t, err)
	require.Equal(t, "lean", kind)
	require.Equal(t, DefaultSQSEndpoint, url)
	tg, err := OpenTarget(context.Background(), "lean=http://127.0.0.1:1", 100)
	require.NoError(t, err)
	require.Equal(t, "sqs-lean", tg.Kind())
	require.Equal(t, "http://127.0.0.1:1", tg.Endpoint())
	require.Equal(t, NewSQSTarget("http://127.0.0.1:1", false).Durability(), tg.Durability())
	require.NoError(t, tg.Close())
	_, _, err = ParseTarget("bogus=x")
	require.ErrorContains(t, err, "lean")
}
