package push_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
	"sluice/internal/push"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

// countingTransport counts the requests one Manager sends.
type countingTransport struct{ n *atomic.Int64 }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// peakCounter tracks the requests an endpoint is serving at once, and the most it served.
type peakCounter struct{ cur, peak atomic.Int64 }

func (p *peakCounter) enter() {
	n := p.cur.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

func (p *peakCounter) leave() { p.cur.Add(-1) }

// node is one process of a cluster: a Service and a Manager on an engine the nodes share.
type node struct {
	eng    *pgengine.Engine
	svc    *queue.Service
	mgr    *push.Manager
	sent   atomic.Int64 // requests its Manager sent
	cancel context.CancelFunc
	once   sync.Once
}

func startNode(t *testing.T, eng *pgengine.Engine, clk clock.Clock) *node {
	t.Helper()
	n := &node{eng: eng}
	n.svc = queue.New(queue.Options{Engine: eng, Clock: clk, SweepEvery: -1, PurgeInterval: -1, DeleteCooldown: -1,
		MoveTaskPoll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	require.NoError(t, n.svc.Start(ctx))
	n.mgr = push.New(push.Options{Service: n.svc, Account: account, Region: "us-east-1", Clock: clk,
		Client: &http.Client{Transport: countingTransport{&n.sent}}, Leader: eng, ReloadEvery: time.Second})
	require.NoError(t, n.mgr.Start(ctx))
	t.Cleanup(n.close)
	return n
}

// close stops the node as a process that exits would: its Manager, Service and engine.
func (n *node) close() {
	n.once.Do(func() {
		n.cancel()
		n.mgr.Close()
		n.svc.Close()
		_ = n.eng.Close()
	})
}

// waitFor polls cond in real time, calling step (if any) between polls.
func waitFor(t *testing.T, what string, cond func() bool, step func()) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		if step != nil {
			step()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestClusterLeaderDispatches runs two nodes on one PostgreSQL schema: a subscription set
// through the node that does not lead is delivered by the leader only, the concurrency holds
// for the two together, and when the leader goes away the other node takes over and delivers
// the rest.
func TestClusterLeaderDispatches(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	opts := pgengine.Options{LeaderRetry: 50 * time.Millisecond}
	e1, e2 := pgtest.Open(t, schema, opts), pgtest.Open(t, schema, opts)
	waitFor(t, "a leader", func() bool { return e1.Leading() || e2.Leading() }, nil)
	if e2.Leading() {
		e1, e2 = e2, e1
	}

	const n, concurrency = 150, 3
	var (
		peak      peakCounter
		mu        sync.Mutex
		delivered = map[string]int{} // body → requests answered 200
		stop      = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peak.enter()
		defer peak.leave()
		b, _ := io.ReadAll(r.Body)
		select { // some work, so that requests overlap
		case <-time.After(5 * time.Millisecond):
		case <-r.Context().Done():
			return
		case <-stop:
			return
		}
		mu.Lock()
		delivered[string(b)]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered)
	}

	// One cluster time for both nodes.
	clk := clock.NewFake(sluicetest.Start)
	tick := func() { clk.Advance(100 * time.Millisecond) }
	lead, other := startNode(t, e1, clk), startNode(t, e2, clk)
	ctx := context.Background()

	url := "/" + account + "/jobs"
	_, err := other.svc.CreateQueue(ctx, caller, &queue.CreateQueueInput{QueueName: "jobs"})
	require.NoError(t, err)
	for i := range n {
		_, err := other.svc.SendMessage(ctx, caller, &queue.SendMessageInput{QueueUrl: url, MessageBody: ptr(fmt.Sprint("m", i))})
		require.NoError(t, err)
	}
	_, err = other.mgr.Put(ctx, push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 1000, Burst: 1000,
		Concurrency: concurrency, Timeout: push.Duration(2 * time.Second)})
	require.NoError(t, err)
	st, err := other.mgr.Get(ctx, "jobs")
	require.NoError(t, err)
	require.True(t, st.Standby, "the node that does not lead only stores the subscription")

	// The leader picks the subscription up at its next reload and delivers; the other node
	// sends nothing.
	waitFor(t, "the leader to deliver", func() bool { return count() >= 20 }, tick)
	require.Zero(t, other.sent.Load(), "only the leader dispatches")
	require.LessOrEqual(t, peak.peak.Load(), int64(concurrency), "concurrency across the cluster")
	st, err = lead.mgr.Get(ctx, "jobs")
	require.NoError(t, err)
	require.False(t, st.Standby)
	require.Positive(t, st.Delivered)
	st, err = other.mgr.Get(ctx, "jobs")
	require.NoError(t, err)
	require.True(t, st.Standby)
	require.Zero(t, st.Delivered)

	// The leader goes away in the middle of the delivery: the other node takes the lead and
	// delivers the rest (the messages the leader had in flight once their visibility ends).
	lead.close()
	sentByLead := lead.sent.Load()
	require.Less(t, count(), n, "the leader was stopped mid-delivery")
	waitFor(t, "the other node to deliver the rest", func() bool { return count() == n }, tick)
	waitFor(t, "the queue to empty", func() bool {
		out, err := other.svc.GetQueueAttributes(ctx, caller, &queue.GetQueueAttributesInput{QueueUrl: url,
			AttributeNames: []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		require.NoError(t, err)
		return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	}, tick)
	require.Positive(t, other.sent.Load(), "the new leader delivers")
	require.Equal(t, sentByLead, lead.sent.Load())
	require.LessOrEqual(t, peak.peak.Load(), int64(concurrency), "concurrency across the cluster")
	st, err = other.mgr.Get(ctx, "jobs")
	require.NoError(t, err)
	require.False(t, st.Standby)
	require.Positive(t, st.Delivered)
}

// fakeLeader is an engine.Leader whose lead the test moves.
type fakeLeader struct{ atomic.Bool }

func (l *fakeLeader) Leading() bool { return l.Load() }

// TestReloadFollowsStoreAndLead runs two Managers on one Service, as two nodes sharing an
// engine, with a lead the test moves and a fake clock: changes made through the node that does
// not lead reach the leader at its next reload, and when the lead moves the other node takes
// the dispatching over.
func TestReloadFollowsStoreAndLead(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var leadA, leadB fakeLeader
	leadA.Store(true)
	var sentA, sentB atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	newMgr := func(l *fakeLeader, sent *atomic.Int64) *push.Manager {
		m := push.New(push.Options{Service: b.svc, Account: account, Region: "us-east-1", Clock: b.clk,
			Client: &http.Client{Transport: countingTransport{sent}}, Leader: l, ReloadEvery: time.Second})
		require.NoError(t, m.Start(ctx))
		return m
	}
	a, o := newMgr(&leadA, &sentA), newMgr(&leadB, &sentB)
	t.Cleanup(func() {
		cancel()
		a.Close()
		o.Close()
	})
	tick := func() { b.clk.Advance(time.Second) }
	url := b.createQueue(t, "jobs", nil)
	srv1, got1 := worker(t, ok)
	srv2, got2 := worker(t, ok)
	list := func(m *push.Manager) []push.Status { return m.List() }

	// Set through the node that does not lead: stored there, delivered by the leader from its
	// next reload on, not before.
	b.send(t, url, "m1", "")
	_, err := o.Put(ctx, push.Subscription{Queue: "jobs", Endpoint: srv1.URL, Rate: 100})
	require.NoError(t, err)
	require.Len(t, list(o), 1)
	require.True(t, list(o)[0].Standby)
	require.Empty(t, list(a), "not read before the reload")
	waitFor(t, "the leader to deliver m1", func() bool { return len(got1()) == 1 }, tick)
	require.False(t, list(a)[0].Standby)

	// Changed through the other node: the leader follows.
	_, err = o.Put(ctx, push.Subscription{Queue: "jobs", Endpoint: srv2.URL, Rate: 100})
	require.NoError(t, err)
	waitFor(t, "the leader to read the new endpoint", func() bool { return list(a)[0].Endpoint == srv2.URL }, tick)
	b.send(t, url, "m2", "")
	waitFor(t, "m2 at the new endpoint", func() bool { return len(got2()) == 1 }, tick)

	// Paused through the other node: the leader stops.
	_, err = o.SetPaused(ctx, "jobs", true)
	require.NoError(t, err)
	waitFor(t, "the leader to pause", func() bool { return list(a)[0].Paused }, tick)
	b.send(t, url, "m3", "")
	tick()
	require.Equal(t, "1", b.attr(t, url, "ApproximateNumberOfMessages"), "nobody delivers a paused subscription")
	require.Zero(t, sentB.Load(), "the node that does not lead sends nothing")

	// The lead moves (after both reloads of that tick: nothing else waits on the clock now),
	// and the subscription is resumed through the former leader, which has not yet reloaded:
	// the new leader delivers, the former one stands by.
	waitFor(t, "both reloads", func() bool { return b.clk.Waiters() == 2 }, nil)
	leadA.Store(false)
	leadB.Store(true)
	_, err = a.SetPaused(ctx, "jobs", false)
	require.NoError(t, err)
	// Its dispatcher asks the engine before it receives: it sends nothing, even before it
	// learns of the move at its next reload. (Nothing here needs the clock: real time.)
	require.Never(t, func() bool { return sentA.Load() > 2 }, 100*time.Millisecond, time.Millisecond, "the former leader sends nothing")
	waitFor(t, "the new leader to deliver m3", func() bool { return len(got2()) == 2 }, tick)
	require.Equal(t, "m3", got2()[1].body)
	require.Positive(t, sentB.Load())
	require.Equal(t, int64(2), sentA.Load(), "the former leader sent m1 and m2 only")
	waitFor(t, "the former leader to stand by", func() bool { return list(a)[0].Standby }, tick)

	// Deleted through the node that stands by: the leader stops and forgets it.
	require.NoError(t, a.Delete(ctx, "jobs"))
	waitFor(t, "the leader to forget the subscription", func() bool { return len(list(o)) == 0 }, tick)
	b.send(t, url, "m4", "")
	tick()
	require.Equal(t, "1", b.attr(t, url, "ApproximateNumberOfMessages"))
}
