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
	"sluice/internal/push"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

// TestRestartMidDelivery stops the server (Manager, Service, disk engine) in the middle of a
// delivery and starts it again on the same data: no message is lost, and the messages that
// were in flight at the stop are delivered again (at least once). It logs the duplicates, the
// number docs/push.md quotes.
func TestRestartMidDelivery(t *testing.T) {
	t.Parallel()
	const n, concurrency, timeout = 2000, 16, 2 * time.Second
	dir := t.TempDir()
	clk := clock.NewFake(sluicetest.Start)
	var (
		mu   sync.Mutex
		got  = map[string]int{} // message id → requests answered 200
		stop = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select { // the worker's work
		case <-time.After(time.Millisecond):
		case <-r.Context().Done():
			return // the request was abandoned: not done
		case <-stop:
			return
		}
		mu.Lock()
		got[r.Header.Get(push.HeaderMessageID)]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	type server struct {
		svc    *queue.Service
		mgr    *push.Manager
		cancel context.CancelFunc
		close  func()
	}
	start := func() *server {
		eng := sluicetest.OpenDisk(t, dir)
		svc := queue.New(queue.Options{Engine: eng, Clock: clk, SweepEvery: -1, PurgeInterval: -1, DeleteCooldown: -1})
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, svc.Start(ctx))
		mgr := push.New(push.Options{Service: svc, Account: account, Region: "us-east-1", Clock: clk})
		require.NoError(t, mgr.Start(ctx))
		var once sync.Once
		s := &server{svc: svc, mgr: mgr, cancel: cancel}
		s.close = func() {
			once.Do(func() {
				cancel()
				mgr.Close()
				svc.Close()
				require.NoError(t, eng.Close())
			})
		}
		t.Cleanup(s.close)
		return s
	}

	s := start()
	ctx := context.Background()
	out, err := s.svc.CreateQueue(ctx, caller, &queue.CreateQueueInput{QueueName: "jobs"})
	require.NoError(t, err)
	url := out.QueueUrl
	var ids []string
	for i := 0; i < n; i += 10 {
		in := &queue.SendMessageBatchInput{QueueUrl: url}
		for j := range 10 {
			in.Entries = append(in.Entries, queue.SendMessageBatchRequestEntry{Id: fmt.Sprint("e", j), MessageBody: ptr(fmt.Sprint("m", i+j))})
		}
		res, err := s.svc.SendMessageBatch(ctx, caller, in)
		require.NoError(t, err)
		require.Empty(t, res.Failed)
		for _, e := range res.Successful {
			ids = append(ids, e.MessageId)
		}
	}
	// The rate does not limit here (burst above n): the point is the stop in the middle.
	_, err = s.mgr.Put(ctx, push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 1000, Burst: 2 * n,
		Concurrency: concurrency, Timeout: push.Duration(timeout)})
	require.NoError(t, err)
	waitFor(t, "a third delivered", func() bool { return delivered() >= n/3 }, nil)
	s.close()
	before := delivered()
	require.Less(t, before, n, "stopped in the middle")

	// Started again on the same data, once the visibility timeout of the messages in flight at
	// the stop has ended (the clock moves only here, so that no delivery after the restart
	// outlives its visibility timeout): the subscription is read back from the queue's tags,
	// and those messages are delivered again.
	clk.Advance(timeout + 6*time.Second)
	s = start()
	waitFor(t, "the queue to empty", func() bool {
		out, err := s.svc.GetQueueAttributes(ctx, caller, &queue.GetQueueAttributesInput{QueueUrl: url,
			AttributeNames: []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		require.NoError(t, err)
		return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	}, nil)

	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for _, id := range ids {
		if got[id] == 0 {
			lost++
		}
	}
	require.Zero(t, lost, "messages lost")
	require.Len(t, got, n, "only the messages sent are delivered")
	requests := 0
	for _, c := range got {
		requests += c
	}
	dups := requests - n
	t.Logf("restart mid-delivery: %d messages, %d delivered before the stop, %d delivered twice (concurrency %d)", n, before, dups, concurrency)
	require.LessOrEqual(t, dups, concurrency, "only the messages in flight at the stop are delivered again")
}
