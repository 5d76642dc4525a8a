package push_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/push"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

// TestRateHeldRealTime is issue 7's measurement: with a backlog far larger than what is
// delivered, the rate is held over 10 s of real time within ±5 % of the configured rate, on
// every engine, and the concurrency is never exceeded. It counts the requests an endpoint
// receives in [2 s, 12 s) after the subscription is set (the burst is behind by then). It takes
// about 13 s. The concurrency leaves room for the engine's latency on a loaded machine (the
// slot of a message is held until its delete returns).
func TestRateHeldRealTime(t *testing.T) {
	t.Parallel()
	const (
		rate        = 50
		burst       = 10
		concurrency = 16
		work        = 100 * time.Millisecond // each request: 5 in flight on average, more after the burst
		backlog     = 1000                   // more than the 12 s deliver (rate × 12 + burst)
		from, to    = 2 * time.Second, 12 * time.Second
	)
	// The three engines are measured at once (the test mostly waits): one 12 s wait in all, and
	// one slot of -parallel.
	type run struct {
		name  string
		mgr   *push.Manager
		start time.Time
		peak  peakCounter
		mu    sync.Mutex
		at    []time.Time // arrival of each request
	}
	var runs []*run
	for _, f := range sluicetest.Engines() {
		r := &run{name: f.Name}
		runs = append(runs, r)
		eng := f.Open(t)
		t.Cleanup(func() { _ = eng.Close() })
		svc := queue.New(queue.Options{Engine: eng, Clock: clock.Real{}})
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, svc.Start(ctx))
		leader, _ := eng.(engine.Leader)
		if leader != nil {
			waitFor(t, "the engine's lead", leader.Leading, nil)
		}
		r.mgr = push.New(push.Options{Service: svc, Account: account, Region: "us-east-1", Leader: leader})
		require.NoError(t, r.mgr.Start(ctx))
		t.Cleanup(func() {
			cancel()
			r.mgr.Close()
			svc.Close()
		})
		out, err := svc.CreateQueue(ctx, caller, &queue.CreateQueueInput{QueueName: "jobs"})
		require.NoError(t, err)
		for i := 0; i < backlog; i += 10 {
			in := &queue.SendMessageBatchInput{QueueUrl: out.QueueUrl}
			for j := range 10 {
				in.Entries = append(in.Entries, queue.SendMessageBatchRequestEntry{Id: fmt.Sprint("e", j), MessageBody: ptr(fmt.Sprint("m", i+j))})
			}
			res, err := svc.SendMessageBatch(ctx, caller, in)
			require.NoError(t, err)
			require.Empty(t, res.Failed)
		}
	}
	for _, r := range runs {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.peak.enter()
			defer r.peak.leave()
			_, _ = io.ReadAll(req.Body)
			r.mu.Lock()
			r.at = append(r.at, time.Now())
			r.mu.Unlock()
			select { // the worker's work
			case <-time.After(work):
			case <-req.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		r.start = time.Now()
		_, err := r.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: rate, Burst: burst, Concurrency: concurrency})
		require.NoError(t, err)
	}
	time.Sleep(time.Until(runs[len(runs)-1].start.Add(to))) // a real-time measurement: no clock to advance
	for _, r := range runs {
		r.mgr.Close()
		t.Run(r.name, func(t *testing.T) {
			r.mu.Lock()
			n := 0
			for _, a := range r.at {
				if d := a.Sub(r.start); d >= from && d < to {
					n++
				}
			}
			total := len(r.at)
			r.mu.Unlock()
			want := rate * (to - from).Seconds()
			t.Logf("%s: %d deliveries in [%v, %v) (%.1f/s; configured %d/s), %d in all, at most %d at once",
				r.name, n, from, to, float64(n)/(to-from).Seconds(), rate, total, r.peak.peak.Load())
			require.InDelta(t, want, float64(n), want*0.05, "rate held within ±5 %%")
			require.LessOrEqual(t, r.peak.peak.Load(), int64(concurrency))
			require.Less(t, total, backlog, "the backlog never ran out")
		})
	}
}
