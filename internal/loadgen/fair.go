package loadgen

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// fairPhase is one phase of the fair scenario, each run on a fresh standard queue.
type fairPhase struct {
	name     string
	noisy    bool // the noisy tenant sends
	groupIDs bool // messages carry their tenant as MessageGroupId
}

// fairPhases: (a) the quiet tenants alone, (b) with the noisy tenant and no group ids (the
// tenant is in the body only, so the queue cannot tell tenants apart), (c) with group ids.
var fairPhases = []fairPhase{
	{name: "idle", noisy: false, groupIDs: true},
	{name: "off", noisy: true, groupIDs: false},
	{name: "on", noisy: true, groupIDs: true},
}

// Goals of issue #9, checked (not enforced) by the fair scenario.
const (
	fairDwellGoal      = 2.0 // quiet tenants' p99 dwell with fairness on ≤ 2 × idle
	fairThroughputGoal = 0.9 // received msg/s with fairness on ≥ 90 % of fairness off
)

// Fair is the fair scenario's report.
type Fair struct {
	QuietTenants int     `json:"quiet_tenants"`
	NoisyRate    float64 `json:"noisy_msg_per_s"`
	QuietRate    float64 `json:"quiet_msg_per_s_each"`
	DrainRate    float64 `json:"drain_cap_msg_per_s"`
	// Phases are idle (quiet tenants alone), off (noisy tenant, no group ids) and on (noisy
	// tenant, group ids), in that order.
	Phases []FairPhase `json:"phases"`
	Goal   FairGoal    `json:"goal"`
	Chart  string      `json:"chart,omitempty"`
}

// FairPhase is one phase's report. Dwell is send (start of the batch) to receive return, for
// each message's first receive; received counts include the final drain.
type FairPhase struct {
	Name        string  `json:"name"`
	NoisyTenant bool    `json:"noisy_tenant"`
	GroupIDs    bool    `json:"group_ids"`
	WindowSec   float64 `json:"window_s"`
	Sent        int64   `json:"sent"`
	Received    int64   `json:"received"`
	// SendRate and RecvRate are msg/s within the window (RecvRate: received and deleted).
	SendRate   float64          `json:"send_msg_per_s"`
	RecvRate   float64          `json:"recv_delete_msg_per_s"`
	QuietDwell *Percentiles     `json:"quiet_dwell"` // every quiet tenant's messages together
	Tenants    []TenantDwell    `json:"tenants"`
	Lost       int64            `json:"lost"`
	Duplicates int64            `json:"duplicates"`
	Unexpected int64            `json:"unexpected"`
	Errors     map[string]int64 `json:"errors"`
	ServerCPU  *float64         `json:"server_cpu_us_per_msg"`
	ClientCPU  *float64         `json:"client_cpu_us_per_msg"`
	// Dwell over time: p99 by the second (a tenth of the window) the messages were sent in.
	OverTime []DwellPoint `json:"dwell_over_time"`
	// QuietParts splits the quiet tenants' dwell into its parts (see DwellParts).
	QuietParts *DwellParts `json:"quiet_parts"`
	// ReceiveInterval is the consumer pool's receive cadence over the phase (drain included):
	// the floor of the wait part while the consumers are saturated.
	ReceiveInterval *ReceiveCadence `json:"receive_interval"`
}

// DwellParts splits dwell times into three parts that add up to each dwell: Send, the send
// call (start to return: the message is then visible; capped at the dwell); Wait, from the
// send's return to the start of the receive call that returned the message (0 when that call
// was already in flight); Receive, the rest (within that receive call). Percentiles of each
// part are over the same messages, but do not add up to those of the dwell.
type DwellParts struct {
	Send    *Percentiles `json:"send"`
	Wait    *Percentiles `json:"wait"`
	Receive *Percentiles `json:"receive"`
}

// ReceiveCadence is a consumer pool's receive calls in a phase: how many were made, how many
// returned messages, and the interval between consecutive call starts across the pool.
type ReceiveCadence struct {
	Calls        int64        `json:"calls"`
	WithMessages int64        `json:"calls_with_messages"`
	MeanMs       float64      `json:"mean_ms"`
	Interval     *Percentiles `json:"interval"`
}

// TenantDwell is one tenant's count and dwell time in a phase.
type TenantDwell struct {
	Tenant   string       `json:"tenant"`
	Noisy    bool         `json:"noisy"`
	Sent     int64        `json:"sent"`
	Received int64        `json:"received"`
	Dwell    *Percentiles `json:"dwell"`
	Parts    *DwellParts  `json:"parts,omitempty"`
}

// DwellPoint is the p99 dwell (ms) of the messages sent in one slice of a phase's window,
// starting T seconds into it; 0 when no message of that kind was sent then.
type DwellPoint struct {
	T        float64 `json:"t_s"`
	QuietP99 float64 `json:"quiet_p99_ms"`
	NoisyP99 float64 `json:"noisy_p99_ms,omitempty"`
}

// FairGoal checks issue #9's goals.
type FairGoal struct {
	// DwellRatio is the worst quiet tenant's p99 dwell with fairness on over its p99 idle.
	DwellRatio float64 `json:"quiet_p99_on_over_idle"`
	DwellMet   bool    `json:"dwell_goal_met"`
	// ThroughputRatio is received msg/s with fairness on over fairness off.
	ThroughputRatio float64 `json:"throughput_on_over_off"`
	ThroughputMet   bool    `json:"throughput_goal_met"`
}

// tenantName is the MessageGroupId of tenant i: 0 is the noisy tenant.
func tenantName(i int) string {
	if i == 0 {
		return "noisy"
	}
	return "quiet-" + strconv.Itoa(i)
}

// runFair runs the three phases of fair (see fairPhases). The noisy tenant is sent by
// cfg.Producers producers sharing one pacer; each quiet tenant by one producer.
func runFair(ctx context.Context, t Target, cfg Config, r *Result) error {
	fr := &Fair{QuietTenants: cfg.Tenants, NoisyRate: cfg.NoisyRate, QuietRate: cfg.QuietRate, DrainRate: cfg.DrainRate}
	r.Errors = map[string]int64{}
	var lost, dups, unexpected int64
	for _, ph := range fairPhases {
		p, notes, err := runFairPhase(ctx, t, cfg, ph)
		if err != nil {
			return fmt.Errorf("phase %s: %w", ph.name, err)
		}
		fr.Phases = append(fr.Phases, *p)
		for _, n := range notes {
			r.Notes = append(r.Notes, "phase "+ph.name+": "+n)
		}
		r.WindowSec += p.WindowSec
		r.Sent += p.Sent
		r.Received += p.Received
		r.Deleted += p.Received // every first receive is deleted before the drain ends
		lost, dups, unexpected = lost+p.Lost, dups+p.Duplicates, unexpected+p.Unexpected
		for k, n := range p.Errors {
			r.Errors[ph.name+":"+k] += n
		}
	}
	r.Lost, r.Duplicates, r.Unexpected = &lost, &dups, &unexpected
	idle, off, on := &fr.Phases[0], &fr.Phases[1], &fr.Phases[2]
	// The top-level rates and CPU are those of the phase with fairness on.
	r.SendRate, r.DeleteRate, r.ServerCPUPerMsgUs, r.ClientCPUPerMsgUs = on.SendRate, on.RecvRate, on.ServerCPU, on.ClientCPU
	for i, td := range on.Tenants {
		if td.Noisy || td.Dwell == nil {
			continue
		}
		if base := tenantDwell(idle, td.Tenant); base != nil && base.P99 > 0 {
			fr.Goal.DwellRatio = max(fr.Goal.DwellRatio, on.Tenants[i].Dwell.P99/base.P99)
		}
	}
	fr.Goal.DwellMet = fr.Goal.DwellRatio > 0 && fr.Goal.DwellRatio <= fairDwellGoal
	if off.RecvRate > 0 {
		fr.Goal.ThroughputRatio = on.RecvRate / off.RecvRate
	}
	fr.Goal.ThroughputMet = fr.Goal.ThroughputRatio >= fairThroughputGoal
	if cfg.Chart != "" {
		if err := fairChart(r, fr).write(cfg.Chart); err != nil {
			return err
		}
		fr.Chart = cfg.Chart
	}
	r.Fair = fr
	return nil
}

func tenantDwell(p *FairPhase, tenant string) *Percentiles {
	for _, td := range p.Tenants {
		if td.Tenant == tenant {
			return td.Dwell
		}
	}
	return nil
}

// runFairPhase runs one phase on a fresh queue and summarises it.
func runFairPhase(ctx context.Context, t Target, cfg Config, ph fairPhase) (*FairPhase, []string, error) {
	var tenants []int
	var pace []*rateLimiter
	if ph.noisy {
		noisy := newRateLimiter(cfg.NoisyRate)
		for range cfg.Producers {
			tenants, pace = append(tenants, 0), append(pace, noisy)
		}
	}
	// Quiet tenants are independent: their batches are spread evenly over a batch interval,
	// not sent all at the same instant.
	every := float64(cfg.Batch) / cfg.QuietRate * float64(time.Second)
	for k := 1; k <= cfg.Tenants; k++ {
		l := newRateLimiter(cfg.QuietRate)
		l.next = time.Now().Add(time.Duration(every * float64(k-1) / float64(cfg.Tenants)))
		tenants, pace = append(tenants, k), append(pace, l)
	}
	pcfg := cfg
	pcfg.Producers = len(tenants)
	pr := &Result{Scenario: cfg.Scenario, Params: paramsOf(pcfg)}
	dwell := &dwellLog{}
	var track *tracker
	spec := QueueSpec{Visibility: cfg.Visibility, Batch: cfg.Batch}
	err := withQueue(ctx, t, pcfg, spec, func(q Queue) error {
		track = newTracker(pcfg.Producers)
		f := &flow{kind: flowFair, cfg: pcfg, q: q, track: track, limiter: newRateLimiter(cfg.DrainRate),
			tenant: tenants, pace: pace, groupIDs: ph.groupIDs, dwell: dwell}
		dwell.start = time.Now()
		return f.run(ctx, pr)
	})
	if err != nil {
		return nil, nil, err
	}
	p := &FairPhase{Name: ph.name, NoisyTenant: ph.noisy, GroupIDs: ph.groupIDs, WindowSec: pr.WindowSec,
		Sent: pr.Sent, Received: pr.Received, SendRate: pr.SendRate, RecvRate: pr.DeleteRate,
		Lost: *pr.Lost, Duplicates: *pr.Duplicates, Unexpected: *pr.Unexpected, Errors: pr.Errors,
		ServerCPU: pr.ServerCPUPerMsgUs, ClientCPU: pr.ClientCPUPerMsgUs}
	sent := map[int]int64{}
	for i, k := range tenants {
		sent[k] += track.sentBy(i)
	}
	byTenant, quiet := dwell.byTenant()
	p.QuietDwell = quiet.percentiles()
	partsBy, quietParts := dwell.partsByTenant()
	p.QuietParts = quietParts
	for _, k := range slices.Sorted(maps.Keys(sent)) {
		td := TenantDwell{Tenant: tenantName(k), Noisy: k == 0, Sent: sent[k]}
		if s := byTenant[k]; s != nil {
			td.Dwell = s.percentiles()
			td.Received = int64(td.Dwell.N)
		}
		td.Parts = partsBy[k]
		p.Tenants = append(p.Tenants, td)
	}
	p.OverTime = dwell.overTime(cfg.Duration / 10)
	p.ReceiveInterval = dwell.cadence()
	return p, pr.Notes, nil
}

// dwellLog records each message's tenant, send time and dwell (first receives only), when
// each send call returned and when each receive call started, to split the dwells into parts
// (see splitDwell) and report the consumers' receive cadence. Times are since start.
type dwellLog struct {
	start time.Time // set before the phase starts
	mu    sync.Mutex
	recs  []dwellRec               // guarded by mu
	acks  map[uint64]time.Duration // guarded by mu: when the send call of each accepted id returned
	calls []recvCall               // guarded by mu: every receive call, in the order they returned
}

type dwellRec struct {
	tenant    int
	id        uint64
	sentAt    time.Duration // the send call's start
	recvStart time.Duration // the start of the receive call that returned it
	dwell     time.Duration
}

// recvCall is one receive call: its start and how many messages it returned.
type recvCall struct {
	start time.Duration
	n     int
}

// add records the first receive of message id of tenant, sent (send call start) at sent and
// returned by a receive call that started at called and returned at now.
func (d *dwellLog) add(tenant int, id uint64, sent, called, now time.Time) {
	d.mu.Lock()
	d.recs = append(d.recs, dwellRec{tenant: tenant, id: id, sentAt: sent.Sub(d.start),
		recvStart: called.Sub(d.start), dwell: now.Sub(sent)})
	d.mu.Unlock()
}

// acked records that the send call of ids returned at at; ids whose entry in errs is not nil
// were refused.
func (d *dwellLog) acked(ids []uint64, errs []error, at time.Time) {
	t := at.Sub(d.start)
	d.mu.Lock()
	if d.acks == nil {
		d.acks = map[uint64]time.Duration{}
	}
	for i, id := range ids {
		if i < len(errs) && errs[i] != nil {
			continue
		}
		d.acks[id] = t
	}
	d.mu.Unlock()
}

// call records a receive call that started at start and returned n messages.
func (d *dwellLog) call(start time.Time, n int) {
	d.mu.Lock()
	d.calls = append(d.calls, recvCall{start: start.Sub(d.start), n: n})
	d.mu.Unlock()
}

// splitDwell splits a dwell into parts that add up to it exactly, from the send call's start
// (sentAt), its return (ack) and the start of the receive call that returned the message
// (recvStart):
//   - send: send call start to its return (the message is then visible), capped at the dwell
//     (a receive can return the message before its producer sees the send's response);
//   - wait: send return to the receive call's start, 0 when that call was already in flight;
//   - recv: the rest, within the receive call.
func splitDwell(sentAt, ack, recvStart, dwell time.Duration) (send, wait, recv time.Duration) {
	send = min(max(ack-sentAt, 0), dwell)
	wait = min(max(recvStart-ack, 0), dwell-send)
	return send, wait, dwell - send - wait
}

// dwellSplit is one first receive's dwell and its parts (send + wait + recv = dwell).
type dwellSplit struct {
	tenant                  int
	dwell, send, wait, recv time.Duration
}

// splits returns the dwell of every first receive split into parts, for the messages whose
// send call's return was recorded (not those a failed send call still delivered).
func (d *dwellLog) splits() []dwellSplit {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]dwellSplit, 0, len(d.recs))
	for _, r := range d.recs {
		ack, ok := d.acks[r.id]
		if !ok {
			continue
		}
		send, wait, recv := splitDwell(r.sentAt, ack, r.recvStart, r.dwell)
		out = append(out, dwellSplit{tenant: r.tenant, dwell: r.dwell, send: send, wait: wait, recv: recv})
	}
	return out
}

// partSamples collects the parts of many dwells.
type partSamples struct {
	send, wait, recv samples
}

func (p *partSamples) add(s dwellSplit) {
	p.send.d = append(p.send.d, s.send)
	p.wait.d = append(p.wait.d, s.wait)
	p.recv.d = append(p.recv.d, s.recv)
}

func (p *partSamples) parts() *DwellParts {
	if p == nil || len(p.send.d) == 0 {
		return nil
	}
	return &DwellParts{Send: p.send.percentiles(), Wait: p.wait.percentiles(), Receive: p.recv.percentiles()}
}

// partsByTenant returns the dwell parts by tenant, and those of every quiet tenant together.
func (d *dwellLog) partsByTenant() (map[int]*DwellParts, *DwellParts) {
	by := map[int]*partSamples{}
	quiet := &partSamples{}
	for _, s := range d.splits() {
		p := by[s.tenant]
		if p == nil {
			p = &partSamples{}
			by[s.tenant] = p
		}
		p.add(s)
		if s.tenant != 0 {
			quiet.add(s)
		}
	}
	out := make(map[int]*DwellParts, len(by))
	for k, p := range by {
		out[k] = p.parts()
	}
	return out, quiet.parts()
}

// cadence returns the consumer pool's receive cadence: its calls, those that returned
// messages, and the intervals between consecutive call starts across the pool.
func (d *dwellLog) cadence() *ReceiveCadence {
	d.mu.Lock()
	starts := make([]time.Duration, 0, len(d.calls))
	c := &ReceiveCadence{Calls: int64(len(d.calls))}
	for _, rc := range d.calls {
		starts = append(starts, rc.start)
		if rc.n > 0 {
			c.WithMessages++
		}
	}
	d.mu.Unlock()
	slices.Sort(starts)
	var iv samples
	for i := 1; i < len(starts); i++ {
		iv.d = append(iv.d, starts[i]-starts[i-1])
	}
	if len(iv.d) > 0 {
		c.MeanMs = ms(starts[len(starts)-1]-starts[0]) / float64(len(iv.d))
		c.Interval = iv.percentiles()
	}
	return c
}

// byTenant returns the dwell samples by tenant, and those of every quiet tenant together.
func (d *dwellLog) byTenant() (map[int]*samples, *samples) {
	d.mu.Lock()
	defer d.mu.Unlock()
	by := map[int]*samples{}
	quiet := &samples{}
	for _, r := range d.recs {
		s := by[r.tenant]
		if s == nil {
			s = &samples{}
			by[r.tenant] = s
		}
		s.d = append(s.d, r.dwell)
		if r.tenant != 0 {
			quiet.d = append(quiet.d, r.dwell)
		}
	}
	return by, quiet
}

// overTime returns the p99 dwell of quiet and noisy messages by slice of send time.
func (d *dwellLog) overTime(slice time.Duration) []DwellPoint {
	slice = max(slice, 100*time.Millisecond)
	d.mu.Lock()
	var quiet, noisy []samples
	for _, r := range d.recs {
		i := max(0, int(r.sentAt/slice))
		for len(quiet) <= i {
			quiet, noisy = append(quiet, samples{}), append(noisy, samples{})
		}
		if r.tenant == 0 {
			noisy[i].d = append(noisy[i].d, r.dwell)
		} else {
			quiet[i].d = append(quiet[i].d, r.dwell)
		}
	}
	d.mu.Unlock()
	pts := make([]DwellPoint, len(quiet))
	for i := range quiet {
		pts[i].T = (time.Duration(i) * slice).Seconds()
		if p := quiet[i].percentiles(); p != nil {
			pts[i].QuietP99 = p.P99
		}
		if p := noisy[i].percentiles(); p != nil {
			pts[i].NoisyP99 = p.P99
		}
	}
	return pts
}

// fairChart draws the p99 dwell over send time of each phase, on a log scale: quiet tenants
// solid, the noisy tenant dashed.
func fairChart(r *Result, fr *Fair) *lineChart {
	title := fmt.Sprintf("fair queues on %s: p99 dwell by send time; noisy tenant %.0f msg/s, %d quiet × %.0f msg/s, consumers capped at %.0f msg/s",
		r.Target, fr.NoisyRate, fr.QuietTenants, fr.QuietRate, fr.DrainRate)
	c := &lineChart{title: title, xLabel: "send time into the phase (s)",
		left: chartAxis{label: "p99 dwell, send to receive (ms, log scale)", color: "#333", log: true}}
	colors := map[string]string{"idle": "#7f7f7f", "off": "#d62728", "on": "#2ca02c"}
	names := map[string]string{"idle": "quiet, idle (no noisy tenant)", "off": "quiet, fairness off", "on": "quiet, fairness on"}
	for _, p := range fr.Phases {
		s := chartSeries{name: names[p.Name], color: colors[p.Name]}
		n := chartSeries{name: "noisy, fairness " + p.Name, color: colors[p.Name], dashed: true}
		for _, pt := range p.OverTime {
			if pt.QuietP99 > 0 {
				s.points = append(s.points, [2]float64{pt.T, pt.QuietP99})
			}
			if pt.NoisyP99 > 0 {
				n.points = append(n.points, [2]float64{pt.T, pt.NoisyP99})
			}
		}
		c.series = append(c.series, s)
		if p.NoisyTenant {
			c.series = append(c.series, n)
		}
	}
	return c
}
