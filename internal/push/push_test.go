package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/memengine"
	"sluice/internal/push"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

const account = sluicetest.Account

var caller = &queue.Caller{Account: account, Region: "us-east-1", BaseURL: "http://x"}

type testBundle struct {
	clk *clock.Fake
	svc *queue.Service
	mgr *push.Manager
}

func setup(t *testing.T, eng engine.Engine) *testBundle {
	t.Helper()
	if eng == nil {
		eng = memengine.New()
	}
	clk := clock.NewFake(sluicetest.Start)
	svc := queue.New(queue.Options{Engine: eng, Clock: clk, SweepEvery: -1, PurgeInterval: -1, DeleteCooldown: -1})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, svc.Start(ctx))
	mgr := push.New(push.Options{Service: svc, Account: account, Region: "us-east-1", Clock: clk})
	require.NoError(t, mgr.Start(ctx))
	t.Cleanup(func() {
		cancel()
		mgr.Close()
		svc.Close()
	})
	return &testBundle{clk: clk, svc: svc, mgr: mgr}
}

func (b *testBundle) createQueue(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := b.svc.CreateQueue(context.Background(), caller, &queue.CreateQueueInput{QueueName: name, Attributes: attrs})
	require.NoError(t, err)
	return out.QueueUrl
}

func (b *testBundle) send(t *testing.T, url, body, group string) {
	t.Helper()
	in := &queue.SendMessageInput{QueueUrl: url, MessageBody: &body}
	if group != "" {
		in.MessageGroupId = &group
		in.MessageDeduplicationId = &body
	}
	_, err := b.svc.SendMessage(context.Background(), caller, in)
	require.NoError(t, err)
}

func (b *testBundle) attr(t *testing.T, url, name string) string {
	t.Helper()
	out, err := b.svc.GetQueueAttributes(context.Background(), caller, &queue.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []string{name}})
	require.NoError(t, err)
	return out.Attributes[name]
}

func (b *testBundle) status(t *testing.T, name string) *push.Status {
	t.Helper()
	st, err := b.mgr.Get(context.Background(), name)
	require.NoError(t, err)
	return st
}

// settled waits until the subscription has nothing in flight, the given counts, and its
// dispatcher parked on a clock timer (a long poll or the rate limiter).
func (b *testBundle) settled(t *testing.T, name string, delivered, failed int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := b.mgr.Get(context.Background(), name)
		return err == nil && st.InFlight == 0 && st.Delivered == delivered && st.Failed == failed && b.clk.Waiters() >= 1
	}, 10*time.Second, time.Millisecond, "waiting for delivered=%d failed=%d", delivered, failed)
}

type request struct {
	body   string
	header http.Header
}

// worker is an httptest endpoint that records requests and answers with respond.
func worker(t *testing.T, respond func(n int, r *request, w http.ResponseWriter)) (*httptest.Server, func() []request) {
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := request{body: string(b), header: r.Header.Clone()}
		mu.Lock()
		got = append(got, req)
		n := len(got)
		mu.Unlock()
		respond(n, &req, w)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

func ok(int, *request, http.ResponseWriter) {}

func TestDeliverAndDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	srv, got := worker(t, ok)
	attr := "v1"
	_, err := b.svc.SendMessage(context.Background(), caller, &queue.SendMessageInput{QueueUrl: url, MessageBody: ptr("hello"),
		MessageAttributes: map[string]queue.MessageAttributeValue{"tenant": {DataType: "String", StringValue: &attr}}})
	require.NoError(t, err)
	b.send(t, url, "second", "")

	_, err = b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 100})
	require.NoError(t, err)
	b.settled(t, "jobs", 2, 0)

	reqs := got()
	require.Len(t, reqs, 2)
	var first request
	for _, r := range reqs {
		if r.body == "hello" {
			first = r
		}
	}
	require.Equal(t, "hello", first.body)
	require.NotEmpty(t, first.header.Get(push.HeaderMessageID))
	require.Equal(t, "1", first.header.Get(push.HeaderReceiveCount))
	require.Equal(t, "jobs", first.header.Get(push.HeaderQueue))
	require.Equal(t, fmt.Sprint(sluicetest.Start.UnixMilli()), first.header.Get(push.HeaderSentTime))
	var attrs map[string]queue.MessageAttributeValue
	require.NoError(t, json.Unmarshal([]byte(first.header.Get(push.HeaderAttributes)), &attrs))
	require.Equal(t, "v1", *attrs["tenant"].StringValue)

	require.Equal(t, "0", b.attr(t, url, "ApproximateNumberOfMessages"))
	require.Equal(t, "0", b.attr(t, url, "ApproximateNumberOfMessagesNotVisible"))
}

func ptr[T any](v T) *T { return &v }

func TestFailureBackoffThenDeadLetter(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.createQueue(t, "jobs-dlq", nil)
	url := b.createQueue(t, "jobs", map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:%s:jobs-dlq","maxReceiveCount":"2"}`, account)})
	dlqURL := "/" + account + "/jobs-dlq"
	srv, got := worker(t, func(_ int, _ *request, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	b.send(t, url, "poison", "")
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 100,
		MinBackoff: push.Duration(10 * time.Second), MaxBackoff: push.Duration(time.Minute)})
	require.NoError(t, err)

	b.settled(t, "jobs", 0, 1)
	st := b.status(t, "jobs")
	require.Contains(t, st.LastError, "HTTP 500")
	// Backoff of the first failure: 10 s. Not redelivered before.
	b.clk.Advance(9 * time.Second)
	require.Equal(t, "1", b.attr(t, url, "ApproximateNumberOfMessagesNotVisible"))
	// The long poll (20 s) ends; the message is visible again and fails a second time.
	b.clk.Advance(12 * time.Second)
	b.settled(t, "jobs", 0, 2)
	require.Len(t, got(), 2)
	require.Equal(t, "2", got()[1].header.Get(push.HeaderReceiveCount))
	// Second backoff: doubled to 20 s. Then the next receive moves it to the DLQ.
	b.clk.Advance(21 * time.Second)
	require.Eventually(t, func() bool { return b.attr(t, dlqURL, "ApproximateNumberOfMessages") == "1" }, 10*time.Second, time.Millisecond)
	require.Len(t, got(), 2)
	require.Equal(t, "0", b.attr(t, url, "ApproximateNumberOfMessages"))
}

func TestRateBound(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	var hits atomic.Int64
	srv, _ := worker(t, func(int, *request, http.ResponseWriter) { hits.Add(1) })
	for i := range 30 {
		b.send(t, url, fmt.Sprint("m", i), "")
	}
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 10, Burst: 2, Concurrency: 50})
	require.NoError(t, err)
	// The burst goes at once, then one dispatch per 100 ms of clock time.
	b.settled(t, "jobs", 2, 0)
	for i := 3; i <= 20; i++ {
		b.clk.Advance(100 * time.Millisecond)
		b.settled(t, "jobs", int64(i), 0)
		require.Equal(t, int64(i), hits.Load())
	}
	// Over 1.8 s of clock time: burst + rate × time, exactly.
	require.Equal(t, int64(20), hits.Load())
}

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	release := make(chan struct{})
	var cur, peak atomic.Int64
	srv, _ := worker(t, func(_ int, _ *request, _ http.ResponseWriter) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		cur.Add(-1)
	})
	for i := range 12 {
		b.send(t, url, fmt.Sprint("m", i), "")
	}
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 1000, Burst: 100, Concurrency: 3})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return cur.Load() == 3 }, 10*time.Second, time.Millisecond)
	require.Equal(t, int64(3), b.status(t, "jobs").InFlight)
	close(release)
	b.settled(t, "jobs", 12, 0)
	require.Equal(t, int64(3), peak.Load())
}

func TestRetryAfterPausesAndSlows(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	srv, got := worker(t, func(n int, _ *request, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	b.send(t, url, "a", "")
	b.send(t, url, "b", "")
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 10, Burst: 1})
	require.NoError(t, err)
	b.settled(t, "jobs", 0, 1)
	st := b.status(t, "jobs")
	require.Equal(t, 5.0, st.CurrentRate)
	require.NotNil(t, st.PausedUntil)
	require.Equal(t, sluicetest.Start.Add(30*time.Second), *st.PausedUntil)

	b.clk.Advance(29 * time.Second)
	b.settled(t, "jobs", 0, 1)
	require.Len(t, got(), 1, "nothing is sent before the Retry-After instant")

	b.clk.Advance(time.Second)
	b.settled(t, "jobs", 1, 1)
	b.clk.Advance(time.Second)
	b.settled(t, "jobs", 2, 1)
	st = b.status(t, "jobs")
	require.Nil(t, st.PausedUntil)
	require.Greater(t, st.CurrentRate, 5.0)
	require.LessOrEqual(t, st.CurrentRate, 10.0)
}

func TestFIFOOrderPerGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs.fifo", map[string]string{"FifoQueue": "true"})
	var mu sync.Mutex
	failedOnce := false
	srv, got := worker(t, func(_ int, r *request, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		if r.body == "a2" && !failedOnce {
			failedOnce = true
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	for i := 1; i <= 5; i++ {
		b.send(t, url, fmt.Sprint("a", i), "a")
		b.send(t, url, fmt.Sprint("b", i), "b")
	}
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs.fifo", Endpoint: srv.URL, Rate: 1000, Burst: 100, Concurrency: 10})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := b.status(t, "jobs.fifo")
		return st.Failed == 1 && st.Delivered >= 5 && st.InFlight == 0 && b.clk.Waiters() >= 1
	}, 10*time.Second, time.Millisecond)
	b.clk.Advance(21 * time.Second) // past a2's backoff and the long poll
	b.settled(t, "jobs.fifo", 10, 1)

	order := map[string][]string{}
	for _, r := range got() {
		g := r.header.Get(push.HeaderGroupID)
		order[g] = append(order[g], r.body)
	}
	require.Equal(t, []string{"a1", "a2", "a2", "a3", "a4", "a5"}, order["a"])
	require.Equal(t, []string{"b1", "b2", "b3", "b4", "b5"}, order["b"])
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	srv, got := worker(t, ok)
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 100})
	require.NoError(t, err)
	_, err = b.mgr.SetPaused(context.Background(), "jobs", true)
	require.NoError(t, err)
	b.send(t, url, "x", "")
	st := b.status(t, "jobs")
	require.True(t, st.Paused)
	require.Zero(t, st.CurrentRate)
	require.Equal(t, "1", b.attr(t, url, "ApproximateNumberOfMessages"), "a paused subscription receives nothing")
	require.Empty(t, got())

	_, err = b.mgr.SetPaused(context.Background(), "jobs", false)
	require.NoError(t, err)
	b.settled(t, "jobs", 1, 0)
	require.Len(t, got(), 1)
}

func TestSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, got := worker(t, ok)
	long := "http://" + strings.TrimPrefix(srv.URL, "http://") + "/" + strings.Repeat("p", 600) // several tag chunks
	{
		eng := sluicetest.OpenDisk(t, dir)
		clk := clock.NewFake(sluicetest.Start)
		svc := queue.New(queue.Options{Engine: eng, Clock: clk, SweepEvery: -1})
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, svc.Start(ctx))
		_, err := svc.CreateQueue(ctx, caller, &queue.CreateQueueInput{QueueName: "jobs"})
		require.NoError(t, err)
		mgr := push.New(push.Options{Service: svc, Account: account, Clock: clk})
		require.NoError(t, mgr.Start(ctx))
		_, err = mgr.Put(ctx, push.Subscription{Queue: "jobs", Endpoint: long, Rate: 5, Concurrency: 2})
		require.NoError(t, err)
		_, err = mgr.SetPaused(ctx, "jobs", true)
		require.NoError(t, err)
		cancel()
		mgr.Close()
		svc.Close()
		require.NoError(t, eng.Close())
	}
	b := setup(t, sluicetest.OpenDisk(t, dir))
	list := b.mgr.List()
	require.Len(t, list, 1)
	require.Equal(t, long, list[0].Endpoint)
	require.Equal(t, 5.0, list[0].Rate)
	require.Equal(t, 2, list[0].Concurrency)
	require.True(t, list[0].Paused)

	b.send(t, "/"+account+"/jobs", "after restart", "")
	_, err := b.mgr.SetPaused(context.Background(), "jobs", false)
	require.NoError(t, err)
	b.settled(t, "jobs", 1, 0)
	require.Equal(t, "after restart", got()[0].body)
}

func TestQueueDeletedEndsSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	srv, _ := worker(t, ok)
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 100})
	require.NoError(t, err)
	b.send(t, url, "x", "")
	b.settled(t, "jobs", 1, 0)
	_, err = b.mgr.SetPaused(context.Background(), "jobs", false) // a restart keeps the counts
	require.NoError(t, err)
	require.Equal(t, int64(1), b.status(t, "jobs").Delivered)

	_, err = b.svc.DeleteQueue(context.Background(), caller, &queue.QueueUrlInput{QueueUrl: url})
	require.NoError(t, err)
	b.clk.Advance(21 * time.Second) // the long poll in progress ends
	require.Eventually(t, func() bool { return len(b.mgr.List()) == 0 }, 10*time.Second, time.Millisecond)
	_, err = b.mgr.Get(context.Background(), "jobs")
	require.ErrorIs(t, err, push.ErrQueueNotFound)
}

// TestEveryEngine delivers, retries and deletes on each engine (subscriptions are tags, which
// every engine stores).
func TestEveryEngine(t *testing.T) {
	t.Parallel()
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, f.Open(t))
			url := b.createQueue(t, "jobs", nil)
			srv, got := worker(t, func(n int, _ *request, w http.ResponseWriter) {
				if n == 1 {
					w.WriteHeader(http.StatusBadGateway)
				}
			})
			b.send(t, url, "m", "")
			_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 100})
			require.NoError(t, err)
			b.settled(t, "jobs", 0, 1)
			b.clk.Advance(time.Second) // min backoff
			b.settled(t, "jobs", 1, 1)
			require.Len(t, got(), 2)
			require.Equal(t, "2", got()[1].header.Get(push.HeaderReceiveCount))
			require.Equal(t, "0", b.attr(t, url, "ApproximateNumberOfMessagesNotVisible"))
			require.Equal(t, "0", b.attr(t, url, "ApproximateNumberOfMessages"))
		})
	}
}

// TestHangingWorker delivers to an endpoint that never answers a first attempt: each attempt is
// cut at the subscription's timeout and the message retried, no more than concurrency requests
// are in flight, the goroutines do not grow with the messages waiting, and Close does not wait
// for the hanging requests. Not parallel: it counts the process's goroutines.
func TestHangingWorker(t *testing.T) {
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	const n, concurrency, timeout = 100, 4, 500 * time.Millisecond
	var (
		peak     peakCounter
		gmax     atomic.Int64
		mu       sync.Mutex
		cut      []time.Duration         // how long each cut attempt lasted, seen from the endpoint
		attempts = map[string][]string{} // message id → the receive counts of its attempts
		stop     = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peak.enter()
		defer peak.leave()
		start := time.Now()
		_, _ = io.ReadAll(r.Body) // then the server notices the client going away
		if g := int64(runtime.NumGoroutine()); g > gmax.Load() {
			gmax.Store(g) // racy maximum, good enough: a growth with n would be far above
		}
		id, count := r.Header.Get(push.HeaderMessageID), r.Header.Get(push.HeaderReceiveCount)
		mu.Lock()
		attempts[id] = append(attempts[id], count)
		mu.Unlock()
		if count != "1" {
			return // a retry is answered at once
		}
		select {
		case <-r.Context().Done():
			mu.Lock()
			cut = append(cut, time.Since(start))
			mu.Unlock()
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // before srv.Close, which waits for the handlers
	for i := range n {
		b.send(t, url, fmt.Sprint("m", i), "")
	}
	// The requests in flight are counted on the client side: the endpoint notices a request
	// cut at the timeout only a little after the dispatcher has moved on.
	sent := &peakTransport{}
	mgr := push.New(push.Options{Service: b.svc, Account: account, Region: "us-east-1", Clock: b.clk,
		Client: &http.Client{Transport: sent}})
	require.NoError(t, mgr.Start(context.Background()))
	t.Cleanup(mgr.Close)
	status := func() *push.Status {
		st, err := mgr.Get(context.Background(), "jobs")
		require.NoError(t, err)
		return st
	}
	g0 := runtime.NumGoroutine()
	_, err := mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 1000, Burst: 1000,
		Concurrency: concurrency, Timeout: push.Duration(timeout)})
	require.NoError(t, err)

	// Two rounds of attempts cut at the timeout; then, a second past the backoff, a retry.
	waitFor(t, "two rounds of cut attempts", func() bool { return status().Failed >= 2*concurrency }, nil)
	var retried string
	waitFor(t, "a retry", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id, counts := range attempts {
			if len(counts) == 2 {
				retried = id
				return true
			}
		}
		return false
	}, func() { b.clk.Advance(100 * time.Millisecond) })
	mu.Lock()
	require.Equal(t, []string{"1", "2"}, attempts[retried], "the message of a cut attempt is received again")
	require.GreaterOrEqual(t, len(cut), 2*concurrency)
	for _, d := range cut {
		require.InDelta(t, float64(timeout), float64(d), float64(200*time.Millisecond), "each attempt is cut at the timeout (%v)", d)
	}
	mu.Unlock()
	require.Contains(t, status().LastError, "deadline exceeded")
	require.Eventually(t, func() bool { return status().Delivered >= 1 }, 10*time.Second, time.Millisecond)

	// Requests in flight never exceed the concurrency, and the goroutines stay bounded by it,
	// whatever the number of messages waiting.
	require.Equal(t, int64(concurrency), sent.peak.Load())
	require.GreaterOrEqual(t, peak.peak.Load(), int64(concurrency), "the endpoint saw them")
	require.Less(t, int(gmax.Load())-g0, 10*concurrency, "goroutines: %d before, %d at most", g0, gmax.Load())
	require.Less(t, 10*concurrency, n)
	t.Logf("goroutines: %d before, %d at most while delivering", g0, gmax.Load())

	// Close while requests hang: it does not wait for their timeout.
	waitFor(t, "fresh hanging requests", func() bool { return sent.cur.Load() == concurrency }, nil)
	start := time.Now()
	mgr.Close()
	require.Less(t, time.Since(start), timeout/2, "Close returns promptly")
	waitFor(t, "the endpoint to see the requests end", func() bool { return peak.cur.Load() == 0 }, nil)
}

// peakTransport counts the requests in flight on the client side, from the start of a round
// trip to the close of its response body, and the most at once.
type peakTransport struct{ peakCounter }

func (p *peakTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p.enter()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		p.leave()
		return nil, err
	}
	resp.Body = &leaveOnClose{ReadCloser: resp.Body, leave: p.leave}
	return resp, nil
}

type leaveOnClose struct {
	io.ReadCloser
	leave func()
	once  sync.Once
}

func (l *leaveOnClose) Close() error {
	l.once.Do(l.leave)
	return l.ReadCloser.Close()
}
