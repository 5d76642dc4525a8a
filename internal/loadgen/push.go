package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sluice/internal/push"
)

// Push is the push scenario's report: a Sluice push subscription delivers a burst to an
// endpoint inside the load generator.
type Push struct {
	Rate        float64 `json:"rate"`
	Concurrency int     `json:"concurrency"`
	Endpoint    string  `json:"endpoint"`
	AcceptRate  float64 `json:"accept_msg_per_s"`
	SpikeSec    float64 `json:"spike_s"`
	PeakDepth   int64   `json:"peak_depth"`
	// DeliveryRate is the mean over the delivery: (deliveries − 1) / (last − first delivery).
	DeliveryRate float64 `json:"delivery_msg_per_s"`
	// Steady is the spread of per-second delivery counts, from one second after the first
	// delivery to one second before the last (nil when that is under one second).
	Steady *RateSpread `json:"steady_delivery"`
	// DrainSec is spike end to last delivery; TotalSec is start to last delivery.
	DrainSec float64 `json:"drain_s"`
	TotalSec float64 `json:"total_s"`
	Drained  bool    `json:"drained"`
	// Deliveries counts requests the endpoint got (retries included); Delivered distinct ids.
	Deliveries int64 `json:"deliveries"`
	Delivered  int64 `json:"delivered"`
	// Server* are the subscription's own counts (admin API) at the end.
	ServerDelivered int64 `json:"server_delivered"`
	ServerFailed    int64 `json:"server_failed"`
	// CPU per message in two windows: the spike (per message sent; deliveries run meanwhile)
	// and the drain after it (per message delivered then). Nil without --server-pid.
	SpikeCPU *CPUPerMsg `json:"spike_cpu_us_per_msg,omitempty"`
	DrainCPU *CPUPerMsg `json:"drain_cpu_us_per_msg,omitempty"`
	Chart    string     `json:"chart,omitempty"`
	Samples  []Sample   `json:"samples"`
}

// CPUPerMsg is µs of CPU per message of one window, of the server and of the load generator.
type CPUPerMsg struct {
	Server *float64 `json:"server"`
	Client *float64 `json:"client"`
}

// cpuWindow measures one window with cpuMeter.
func cpuWindow(m *cpuMeter, msgs float64) *CPUPerMsg {
	var w Result
	m.stop(msgs, &w)
	if w.ServerCPUPerMsgUs == nil {
		return nil
	}
	return &CPUPerMsg{Server: w.ServerCPUPerMsgUs, Client: w.ClientCPUPerMsgUs}
}

// RateSpread summarises per-second rates.
type RateSpread struct {
	Seconds int     `json:"seconds"`
	Mean    float64 `json:"mean"`
	Min     float64 `json:"min"`
	P5      float64 `json:"p5"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	Max     float64 `json:"max"`
}

func (s *RateSpread) String() string {
	if s == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.0f/%.0f/%.0f over %ds", s.P5, s.P50, s.P95, s.Seconds)
}

// pushSampleEvery is push's sampling interval for the chart.
const pushSampleEvery = 100 * time.Millisecond

// runPush attaches a push subscription (through the server's admin API, /admin/push/) to a
// fresh queue, pointing at an HTTP endpoint inside this process, sends a burst of
// cfg.Messages as fast as the producers can, and waits until the endpoint has seen every id.
func runPush(ctx context.Context, t Target, cfg Config, r *Result) error {
	st, ok := t.(*SQSTarget)
	if !ok || st.null {
		return ErrNotSupported
	}
	// The load generator runs on the server's host: the admin API's loopback rule lets it in
	// without credentials.
	admin := &push.Client{BaseURL: strings.Split(st.endpoint, ",")[0], HTTP: &http.Client{Timeout: 30 * time.Second}}
	ep, err := startPushEndpoint()
	if err != nil {
		return err
	}
	defer ep.close()
	spec := QueueSpec{Visibility: cfg.Visibility, Batch: cfg.Batch}
	return withQueue(ctx, t, cfg, spec, func(q Queue) error {
		sq, ok := q.(*sqsQueue)
		if !ok {
			return ErrNotSupported
		}
		name := sq.url[strings.LastIndexByte(sq.url, '/')+1:]
		f := &flow{kind: flowBurst, cfg: cfg, q: q, track: newTracker(cfg.Producers)}
		f.budget.Store(int64(cfg.Messages))
		ep.f.Store(f)
		sub := push.Subscription{Endpoint: ep.url, Rate: cfg.PushRate, Concurrency: cfg.PushConcurrency}
		if _, err := admin.Do(ctx, http.MethodPut, url.PathEscape(name), sub); err != nil {
			return fmt.Errorf("attaching the push subscription: %w", err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, err := admin.Do(dctx, http.MethodDelete, url.PathEscape(name), nil); err != nil {
				cfg.Logger.Warn("deleting the push subscription", "err", err)
			}
		}()
		return runPushBurst(ctx, cfg, f, ep, admin, name, r)
	})
}

func runPushBurst(ctx context.Context, cfg Config, f *flow, ep *pushEndpoint, admin *push.Client, name string, r *Result) error {
	prods, err := openAll(ctx, cfg.Producers, "producer", f.q.NewProducer)
	if err != nil {
		return err
	}
	defer closeAll(prods)
	start := time.Now()
	ep.start.Store(&start)
	cpu := startCPU(cfg.ServerPIDs)
	sampler := startSampler(f, start, pushSampleEvery)
	var pwg sync.WaitGroup
	for i, p := range prods {
		pwg.Go(func() { f.produce(ctx, i, p) })
	}
	pwg.Wait()
	spike := time.Since(start)
	spikeCPU := cpuWindow(cpu, float64(f.sent.Load()))
	drainCPU, deliveredBefore := startCPU(cfg.ServerPIDs), f.deleted.Load()
	drained := f.waitDrained(ctx, start)
	samples := sampler.stop()
	drainCost := cpuWindow(drainCPU, float64(f.deleted.Load()-deliveredBefore))
	cpu.stop(float64(f.sent.Load()), r)
	if err := ctx.Err(); err != nil {
		return err
	}
	// The server counts a delivery once it has the endpoint's answer: let its counts catch up.
	var status push.Status
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := admin.Do(ctx, http.MethodGet, url.PathEscape(name), nil)
		if err == nil {
			err = json.Unmarshal(b, &status)
		}
		if err != nil {
			return fmt.Errorf("reading the push subscription's status: %w", err)
		}
		if status.Delivered+status.Failed >= f.received.Load() || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	r.WindowSec = spike.Seconds()
	r.Sent, r.Received, r.Deleted = f.sent.Load(), f.received.Load(), f.deleted.Load()
	r.SendRate = float64(r.Sent) / spike.Seconds()
	r.SendBatch = f.sendLat.percentiles()
	r.EndToEnd = f.e2eLat.percentiles()
	r.Errors = f.errs.snapshot()
	lost, unexpected := f.track.final()
	dups := f.track.dups.Load()
	r.Lost, r.Duplicates, r.Unexpected = &lost, &dups, &unexpected

	p := &Push{Rate: cfg.PushRate, Concurrency: cfg.PushConcurrency, Endpoint: ep.url, AcceptRate: r.SendRate,
		SpikeSec: spike.Seconds(), Drained: drained, Deliveries: r.Received, Delivered: r.Deleted,
		ServerDelivered: status.Delivered, ServerFailed: status.Failed, SpikeCPU: spikeCPU, DrainCPU: drainCost,
		Samples: samples}
	for _, s := range samples {
		p.PeakDepth = max(p.PeakDepth, s.Depth)
	}
	times := ep.times()
	if len(times) > 0 {
		first, last := times[0], times[len(times)-1]
		p.TotalSec = last.Seconds()
		p.DrainSec = (last - spike).Seconds()
		if len(times) > 1 && last > first {
			p.DeliveryRate = float64(len(times)-1) / (last - first).Seconds()
		}
		p.Steady = perSecond(times, first+time.Second, last-time.Second)
	}
	if p.TotalSec > 0 {
		r.DeleteRate = float64(r.Deleted) / p.TotalSec // delivered ids per second, start to last
	}
	if !drained {
		r.Notes = append(r.Notes, fmt.Sprintf("delivery timed out after %s with %d of %d ids delivered", cfg.DrainTimeout, p.Delivered, r.Sent))
	}
	if cfg.Chart != "" {
		title := fmt.Sprintf("push: burst of %d messages on %s (%s), subscription rate %.0f/s, concurrency %d: accepted %.0f msg/s, delivered %.0f msg/s",
			cfg.Messages, r.Target, r.Endpoint, cfg.PushRate, cfg.PushConcurrency, p.AcceptRate, p.DeliveryRate)
		c := depthChart(title, "delivery rate (endpoint)", samples)
		// The spike's accept rate is ten times the delivery rate or more: a log scale keeps both
		// readable (a zero rate is drawn at the bottom).
		c.right.log, c.right.label = true, "rate (msg/s, log scale)"
		if n := len(samples); n > 0 {
			c.series = append(c.series, chartSeries{name: "subscription rate", color: "#999", dashed: true, onRight: true,
				points: [][2]float64{{0, cfg.PushRate}, {samples[n-1].T, cfg.PushRate}}})
		}
		if err := c.write(cfg.Chart); err != nil {
			return err
		}
		p.Chart = cfg.Chart
	}
	r.Push = p
	return nil
}

// perSecond returns the spread of delivery counts in whole seconds from lo, up to hi (times
// sorted), or nil when there is not one whole second.
func perSecond(times []time.Duration, lo, hi time.Duration) *RateSpread {
	var counts []float64
	for s := lo; s+time.Second <= hi; s += time.Second {
		a, _ := slices.BinarySearch(times, s)
		b, _ := slices.BinarySearch(times, s+time.Second)
		counts = append(counts, float64(b-a))
	}
	if len(counts) == 0 {
		return nil
	}
	var sum float64
	for _, c := range counts {
		sum += c
	}
	sorted := slices.Sorted(slices.Values(counts))
	at := func(q float64) float64 {
		i := int(q*float64(len(sorted))+0.5) - 1
		return sorted[max(0, min(i, len(sorted)-1))]
	}
	return &RateSpread{Seconds: len(counts), Mean: sum / float64(len(counts)), Min: sorted[0],
		P5: at(0.05), P50: at(0.5), P95: at(0.95), Max: sorted[len(sorted)-1]}
}

// pushEndpoint is the HTTP endpoint the subscription delivers to: it answers 204 to every
// request and records each body's id (in the flow's tracker) and when it first arrived.
type pushEndpoint struct {
	url   string
	srv   *http.Server
	f     atomic.Pointer[flow]
	start atomic.Pointer[time.Time]

	mu    sync.Mutex
	first []time.Duration // guarded by mu: since start, each id's first delivery
}

func startPushEndpoint() (*pushEndpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("push endpoint: %w", err)
	}
	e := &pushEndpoint{url: "http://" + ln.Addr().String() + "/push"}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

func (e *pushEndpoint) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	now := time.Now()
	f, start := e.f.Load(), e.start.Load()
	if err != nil || f == nil || start == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	f.received.Add(1)
	h, ok := parseBody(body)
	if !ok {
		f.track.alien.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !f.track.markRecv(h.id) {
		f.deleted.Add(1)
		f.e2eLat.add(now.Sub(h.sent))
		e.mu.Lock()
		e.first = append(e.first, now.Sub(*start))
		e.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// times returns the first-delivery times, sorted.
func (e *pushEndpoint) times() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(slices.Values(e.first))
}

func (e *pushEndpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
}
