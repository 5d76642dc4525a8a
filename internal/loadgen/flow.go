package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type flowKind int

const (
	flowPipeline flowKind = iota
	flowBurst
	flowFIFO
	flowFair
)

// flow runs producers and consumers on one queue: pipeline (for a duration), burst (a fixed
// number of messages, consumers capped), fifo (groups, order checked) and one phase of fair
// (producers paced per tenant, consumers capped, dwell time per tenant).
type flow struct {
	kind    flowKind
	cfg     Config
	q       Queue
	track   *tracker // nil when the target cannot carry ids (null server)
	order   *orderCheck
	limiter *rateLimiter // caps the consumer pool (burst, fair)

	// fair: each producer's tenant and pacer (a tenant's producers share one), whether its
	// messages carry the tenant as MessageGroupId, and each receive's dwell time by tenant
	// (with each send's return and each receive call's start, to split the dwell).
	tenant   []int
	pace     []*rateLimiter
	groupIDs bool
	dwell    *dwellLog

	stopSend atomic.Bool
	budget   atomic.Int64 // burst: messages left to send
	sent     atomic.Int64
	received atomic.Int64
	deleted  atomic.Int64

	sendLat samples
	e2eLat  samples
	errs    errorCounts
}

func runFlow(ctx context.Context, t Target, cfg Config, r *Result, kind flowKind) error {
	if kind == flowFIFO && cfg.Producers > cfg.Groups {
		cfg.Producers = cfg.Groups // a group has one producer, so its order is defined
		r.Params.Producers = cfg.Producers
	}
	spec := QueueSpec{FIFO: kind == flowFIFO, Visibility: cfg.Visibility, Batch: cfg.Batch}
	return withQueue(ctx, t, cfg, spec, func(q Queue) error {
		f := &flow{kind: kind, cfg: cfg, q: q}
		if !isNull(t) {
			f.track = newTracker(cfg.Producers)
		} else {
			r.Notes = append(r.Notes, "null server: its canned messages carry no ids or send times, so loss, duplicate and end-to-end latency checks are n/a")
		}
		if kind == flowFIFO {
			f.order = &orderCheck{last: map[int]uint64{}}
		}
		if kind == flowBurst {
			f.budget.Store(int64(cfg.Messages))
			f.limiter = newRateLimiter(cfg.DrainRate)
		}
		return f.run(ctx, r)
	})
}

// openAll opens n producers or consumers with open. On an error it closes those it opened.
func openAll[T interface{ Close() error }](ctx context.Context, n int, what string, open func(context.Context) (T, error)) ([]T, error) {
	out := make([]T, 0, n)
	for range n {
		x, err := open(ctx)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("opening %s: %w", what, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// closeAll closes the producers or consumers of openAll.
func closeAll[T interface{ Close() error }](xs []T) {
	for _, x := range xs {
		_ = x.Close()
	}
}

func (f *flow) run(ctx context.Context, r *Result) error {
	// Open every producer and consumer before the clock starts.
	prods, err := openAll(ctx, f.cfg.Producers, "producer", f.q.NewProducer)
	if err != nil {
		return err
	}
	defer closeAll(prods)
	conss, err := openAll(ctx, f.cfg.Consumers, "consumer", f.q.NewConsumer)
	if err != nil {
		return err
	}
	defer closeAll(conss)

	recvCtx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	var pwg, cwg sync.WaitGroup
	start := time.Now()
	cpu := startCPU(f.cfg.ServerPIDs)
	for i, p := range prods {
		pwg.Go(func() { f.produce(ctx, i, p) })
	}
	for _, c := range conss {
		cwg.Go(func() { f.consume(recvCtx, c) })
	}
	var sampler *burstSampler
	if f.kind == flowBurst {
		sampler = startSampler(f, start, sampleEvery)
	}

	// The measured window.
	var window time.Duration
	if f.kind == flowBurst {
		pwg.Wait()
		window = time.Since(start)
	} else {
		select {
		case <-time.After(f.cfg.Duration):
		case <-ctx.Done():
		}
		window = time.Since(start)
	}
	sent, recv, del := f.sent.Load(), f.received.Load(), f.deleted.Load()
	if f.kind != flowBurst {
		cpu.stop(float64(sent+recv+del)/3, r)
	}
	f.stopSend.Store(true)
	pwg.Wait()

	// Drain: consumers go on until every accepted message was received and deleted.
	drained := f.waitDrained(ctx, start)
	drainEnd := time.Since(start)
	if f.kind == flowBurst {
		cpu.stop(float64(f.sent.Load()+f.received.Load()+f.deleted.Load())/3, r)
	}
	stopRecv()
	cwg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	r.WindowSec = window.Seconds()
	r.Sent, r.Received, r.Deleted = f.sent.Load(), f.received.Load(), f.deleted.Load()
	if f.kind == flowBurst {
		r.SendRate = float64(r.Sent) / window.Seconds()
		r.DeleteRate = float64(r.Deleted) / drainEnd.Seconds()
	} else {
		r.SendRate = float64(sent) / window.Seconds()
		r.DeleteRate = float64(del) / window.Seconds()
	}
	r.SendBatch = f.sendLat.percentiles()
	r.EndToEnd = f.e2eLat.percentiles()
	r.Errors = f.errs.snapshot()
	if f.track != nil {
		lost, unexpected := f.track.final()
		dups := f.track.dups.Load()
		r.Lost, r.Duplicates, r.Unexpected = &lost, &dups, &unexpected
	}
	if !drained {
		note := fmt.Sprintf("drain timed out after %s", f.cfg.DrainTimeout)
		if d, ok := f.q.(depther); ok {
			if vis, inf, err := d.Depth(ctx); err == nil {
				note += fmt.Sprintf(" with %d messages visible and %d in flight on the server", vis, inf)
			}
		}
		r.Notes = append(r.Notes, note)
	}
	if f.order != nil {
		r.FIFO = &FIFOCheck{Groups: f.cfg.Groups, OutOfOrder: f.order.outOfOrder.Load(), Gaps: f.order.gaps.Load()}
	}
	if f.kind == flowBurst {
		samples := sampler.stop()
		b := &Burst{AcceptRate: r.SendRate, SpikeSec: window.Seconds(), Drained: drained, Samples: samples,
			DrainSec: (drainEnd - window).Seconds()}
		for _, s := range samples {
			b.PeakDepth = max(b.PeakDepth, s.Depth)
		}
		if f.cfg.Chart != "" {
			if err := writeChart(f.cfg.Chart, r, samples); err != nil {
				return err
			}
			b.Chart = f.cfg.Chart
		}
		r.Burst = b
	}
	return nil
}

// depther is a queue that reports its depth.
type depther interface {
	Depth(ctx context.Context) (visible, inFlight int64, err error)
}

// waitDrained waits until every accepted message has been received and deleted, or the drain
// timeout passes. Without a tracker (null server) there is nothing to wait for.
func (f *flow) waitDrained(ctx context.Context, start time.Time) bool {
	if f.track == nil {
		return true
	}
	deadline := time.Now().Add(f.cfg.DrainTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if f.track.unique.Load() >= f.track.sent.Load() && f.deleted.Load() >= f.track.unique.Load() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func (f *flow) produce(ctx context.Context, p int, prod Producer) {
	var seq uint32
	groups := f.ownedGroups(p)
	gseq := make([]uint64, len(groups))
	msgs := make([]OutMsg, f.cfg.Batch)
	buf := make([]byte, 0, f.cfg.Batch*(f.cfg.Size+64))
	ids := make([]uint64, f.cfg.Batch)
	for !f.stopSend.Load() && ctx.Err() == nil {
		n := f.cfg.Batch
		if f.kind == flowBurst {
			left := f.budget.Add(-int64(n))
			if left < 0 {
				n += int(left)
			}
			if n <= 0 {
				return
			}
		}
		buf = buf[:0]
		now := time.Now()
		if f.pace != nil {
			f.pace[p].wait(ctx, n)
			if f.stopSend.Load() || ctx.Err() != nil {
				return
			}
			now = time.Now()
		}
		for i := range n {
			h := header{id: makeID(p, seq), sent: now}
			seq++
			if f.kind == flowFIFO {
				g := i % len(groups)
				gseq[g]++
				h.group, h.gseq = groups[g], gseq[g]
			}
			if f.tenant != nil {
				h.group = f.tenant[p]
			}
			at := len(buf)
			buf = encodeBody(buf, f.cfg.Size, h)
			msgs[i] = OutMsg{Body: buf[at:len(buf):len(buf)]}
			if f.kind == flowFIFO {
				msgs[i].Group = "g" + strconv.Itoa(h.group)
				msgs[i].DedupID = strconv.FormatUint(h.id, 16)
			}
			if f.groupIDs {
				msgs[i].Group = tenantName(h.group)
			}
			ids[i] = h.id
		}
		errs, err := prod.SendBatch(ctx, msgs[:n])
		acked := time.Now()
		f.sendLat.add(acked.Sub(now))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.errs.add("send:"+errorCode(err), int64(n))
			continue
		}
		var ok int64
		for i := range n {
			if errs[i] != nil {
				f.errs.add("send:"+errorCode(errs[i]), 1)
				continue
			}
			ok++
			if f.track != nil {
				f.track.markSent(ids[i])
			}
		}
		if f.dwell != nil {
			f.dwell.acked(ids[:n], errs, acked)
		}
		f.sent.Add(ok)
	}
}

// ownedGroups returns the FIFO groups producer p sends to (every group has one producer).
func (f *flow) ownedGroups(p int) []int {
	if f.kind != flowFIFO {
		return []int{0}
	}
	var gs []int
	for g := p; g < f.cfg.Groups; g += f.cfg.Producers {
		gs = append(gs, g)
	}
	return gs
}

func (f *flow) consume(ctx context.Context, c Consumer) {
	lat := make([]time.Duration, 0, 10)
	for ctx.Err() == nil {
		called := time.Now()
		msgs, err := c.Receive(ctx, f.cfg.ReceiveMax, f.cfg.Wait)
		if f.dwell != nil && (err == nil || ctx.Err() == nil) { // not a call cut short by the end
			f.dwell.call(called, len(msgs))
		}
		if err != nil {
			if ctx.Err() == nil {
				f.errs.add("receive:"+errorCode(err), 1)
				time.Sleep(10 * time.Millisecond) // do not spin on a failing target
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		now := time.Now()
		f.received.Add(int64(len(msgs)))
		lat = lat[:0]
		for _, m := range msgs {
			h, ok := parseBody(m.Body)
			if !ok || f.track == nil {
				continue
			}
			if !f.track.markRecv(h.id) {
				lat = append(lat, now.Sub(h.sent))
				if f.dwell != nil {
					f.dwell.add(h.group, h.id, h.sent, called, now)
				}
			}
			if f.order != nil {
				f.order.check(h)
			}
		}
		f.e2eLat.add(lat...)
		if f.limiter != nil {
			f.limiter.wait(ctx, len(msgs))
		}
		// Acknowledge even when asked to stop: these messages were received.
		n, err := c.Ack(context.WithoutCancel(ctx), msgs)
		f.deleted.Add(int64(n))
		if err != nil {
			f.errs.add("delete:"+errorCode(err), int64(len(msgs)-n))
		}
	}
}

// orderCheck checks that each FIFO group's messages arrive in the order they were sent.
type orderCheck struct {
	mu         sync.Mutex
	last       map[int]uint64 // guarded by mu: the last sequence received per group
	outOfOrder atomic.Int64
	gaps       atomic.Int64
}

func (o *orderCheck) check(h header) {
	o.mu.Lock()
	last := o.last[h.group]
	switch {
	case h.gseq <= last:
		o.outOfOrder.Add(1)
	case h.gseq > last+1:
		o.gaps.Add(1)
		o.last[h.group] = h.gseq
	default:
		o.last[h.group] = h.gseq
	}
	o.mu.Unlock()
}

// rateLimiter is a token bucket shared by a consumer pool.
type rateLimiter struct {
	mu    sync.Mutex
	rate  float64   // tokens per second
	next  time.Time // guarded by mu: when the tokens taken so far are paid for
	burst time.Duration
}

func newRateLimiter(rate float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: 50 * time.Millisecond}
}

// wait blocks until n more tokens are available.
func (l *rateLimiter) wait(ctx context.Context, n int) {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now.Add(-l.burst)) {
		l.next = now.Add(-l.burst)
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	d := l.next.Sub(now)
	l.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// burstSampler samples depth (sent − deleted), accept rate and drain rate (of deletes) at a
// fixed interval.
type burstSampler struct {
	done    chan struct{}
	wg      sync.WaitGroup
	samples []Sample
}

// sampleEvery is burst's sampling interval.
const sampleEvery = 200 * time.Millisecond

func startSampler(f *flow, start time.Time, every time.Duration) *burstSampler {
	s := &burstSampler{done: make(chan struct{})}
	s.samples = append(s.samples, Sample{})
	s.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		prevT, prevS, prevD := 0.0, int64(0), int64(0)
		take := func() {
			t := time.Since(start).Seconds()
			sent, del := f.sent.Load(), f.deleted.Load()
			dt := t - prevT
			if dt <= 0 {
				return
			}
			s.samples = append(s.samples, Sample{T: t, Depth: sent - del,
				AcceptRate: float64(sent-prevS) / dt, DrainRate: float64(del-prevD) / dt})
			prevT, prevS, prevD = t, sent, del
		}
		for {
			select {
			case <-tick.C:
				take()
			case <-s.done:
				take()
				return
			}
		}
	})
	return s
}

func (s *burstSampler) stop() []Sample {
	close(s.done)
	s.wg.Wait()
	return s.samples
}
