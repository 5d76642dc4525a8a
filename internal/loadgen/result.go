package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Params are the run's sizes, as reported.
type Params struct {
	DurationSec float64 `json:"duration_s"`
	Producers   int     `json:"producers"`
	Consumers   int     `json:"consumers"`
	Batch       int     `json:"batch"`
	ReceiveMax  int     `json:"receive_max"`
	Size        int     `json:"size_bytes"`
	Messages    int     `json:"messages,omitempty"`
	DrainRate   float64 `json:"drain_rate,omitempty"`
	Groups      int     `json:"groups,omitempty"`
	Tenants     int     `json:"quiet_tenants,omitempty"`
	NoisyRate   float64 `json:"noisy_rate,omitempty"`
	QuietRate   float64 `json:"quiet_rate,omitempty"`
	PushRate    float64 `json:"push_rate,omitempty"`
	PushConc    int     `json:"push_concurrency,omitempty"`
	WaitSec     float64 `json:"wait_s"`
	Visibility  float64 `json:"visibility_s"`
}

func paramsOf(c Config) Params {
	p := Params{DurationSec: c.Duration.Seconds(), Producers: c.Producers, Consumers: c.Consumers,
		Batch: c.Batch, ReceiveMax: c.ReceiveMax, Size: c.Size, WaitSec: c.Wait.Seconds(), Visibility: c.Visibility.Seconds()}
	switch c.Scenario {
	case "burst":
		p.Messages, p.DrainRate, p.DurationSec = c.Messages, c.DrainRate, 0
	case "fifo":
		p.Groups = c.Groups
	case "fair":
		p.DrainRate, p.Tenants, p.NoisyRate, p.QuietRate = c.DrainRate, c.Tenants, c.NoisyRate, c.QuietRate
	case "push":
		p.Messages, p.PushRate, p.PushConc, p.DurationSec, p.Consumers = c.Messages, c.PushRate, c.PushConcurrency, 0, 0
	}
	return p
}

// Result is one run's report. Pointer fields are nil when not measured ("n/a").
type Result struct {
	Scenario   string    `json:"scenario"`
	Target     string    `json:"target"`
	Endpoint   string    `json:"endpoint"`
	Durability string    `json:"durability"`
	Started    time.Time `json:"started"`
	Params     Params    `json:"params"`

	// WindowSec is the measured window: the duration, or a burst's spike.
	WindowSec float64 `json:"window_s"`
	// Sent counts messages accepted, Received messages received (duplicates included), Deleted
	// messages deleted, all over the whole run (drain included).
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	Deleted  int64 `json:"deleted"`
	// SendRate and DeleteRate are msg/s within the window.
	SendRate   float64 `json:"send_msg_per_s"`
	DeleteRate float64 `json:"recv_delete_msg_per_s"`

	EndToEnd  *Percentiles            `json:"e2e_latency,omitempty"`
	SendBatch *Percentiles            `json:"send_batch_latency,omitempty"`
	Ops       map[string]*Percentiles `json:"op_latency,omitempty"`
	Wake      *Percentiles            `json:"wake_latency,omitempty"`
	Errors    map[string]int64        `json:"errors"`
	// Retries counts the SDK's retries (SQS targets) by operation and the failed attempt's cause.
	Retries map[string]int64 `json:"sdk_retries,omitempty"`

	Lost       *int64 `json:"lost"`
	Duplicates *int64 `json:"duplicates"`
	// Unexpected counts messages received that no producer saw accepted.
	Unexpected *int64     `json:"unexpected"`
	FIFO       *FIFOCheck `json:"fifo,omitempty"`
	Burst      *Burst     `json:"burst,omitempty"`
	Fair       *Fair      `json:"fair,omitempty"`
	Push       *Push      `json:"push,omitempty"`

	// CPU per message: one message is its send, receive and delete, so the CPU of the window is
	// divided by (sent + received + deleted) / 3 within it.
	ServerCPUPerMsgUs *float64 `json:"server_cpu_us_per_msg"`
	ClientCPUPerMsgUs *float64 `json:"client_cpu_us_per_msg"`

	Notes []string `json:"notes,omitempty"`
}

// FIFOCheck is the fifo scenario's order check.
type FIFOCheck struct {
	Groups int `json:"groups"`
	// OutOfOrder counts messages received after a later one of their group (or again).
	OutOfOrder int64 `json:"out_of_order"`
	// Gaps counts messages received while an earlier one of their group was never received.
	Gaps int64 `json:"gaps"`
}

// Burst is the burst scenario's report.
type Burst struct {
	AcceptRate float64  `json:"accept_msg_per_s"`
	SpikeSec   float64  `json:"spike_s"`
	PeakDepth  int64    `json:"peak_depth"`
	DrainSec   float64  `json:"drain_s"`
	Drained    bool     `json:"drained"`
	Chart      string   `json:"chart,omitempty"`
	Samples    []Sample `json:"samples"`
}

// Sample is one point of a burst's time series. Depth is accepted minus deleted messages, as
// the load generator counts them.
type Sample struct {
	T          float64 `json:"t_s"`
	Depth      int64   `json:"depth"`
	AcceptRate float64 `json:"accept_msg_per_s"`
	DrainRate  float64 `json:"drain_msg_per_s"`
}

// Metrics returns the result's numeric metrics by name (for A/B medians).
func (r *Result) Metrics() map[string]float64 {
	m := map[string]float64{}
	put := func(name string, v float64) { m[name] = v }
	if r.Scenario != "single" && r.Scenario != "wake" {
		put("send_msg_per_s", r.SendRate)
		put("recv_delete_msg_per_s", r.DeleteRate)
	}
	pct := func(prefix string, p *Percentiles) {
		if p != nil {
			put(prefix+"_p50_ms", p.P50)
			put(prefix+"_p99_ms", p.P99)
		}
	}
	pct("e2e", r.EndToEnd)
	pct("send_batch", r.SendBatch)
	pct("wake", r.Wake)
	for _, op := range slices.Sorted(maps.Keys(r.Ops)) {
		pct(op, r.Ops[op])
	}
	if r.ServerCPUPerMsgUs != nil {
		put("server_cpu_us_per_msg", *r.ServerCPUPerMsgUs)
	}
	if r.ClientCPUPerMsgUs != nil {
		put("client_cpu_us_per_msg", *r.ClientCPUPerMsgUs)
	}
	if r.Burst != nil {
		put("accept_msg_per_s", r.Burst.AcceptRate)
		put("peak_depth", float64(r.Burst.PeakDepth))
		put("drain_s", r.Burst.DrainSec)
	}
	if f := r.Fair; f != nil {
		for _, p := range f.Phases {
			if p.QuietDwell != nil {
				put("quiet_dwell_"+p.Name+"_p99_ms", p.QuietDwell.P99)
			}
			put("recv_delete_"+p.Name+"_msg_per_s", p.RecvRate)
		}
	}
	if p := r.Push; p != nil {
		put("accept_msg_per_s", p.AcceptRate)
		put("delivery_msg_per_s", p.DeliveryRate)
		if p.Steady != nil {
			put("delivery_p5_msg_per_s", p.Steady.P5)
			put("delivery_p95_msg_per_s", p.Steady.P95)
		}
		put("drain_s", p.DrainSec)
	}
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	put("errors", float64(errs))
	if r.Lost != nil {
		put("lost", float64(*r.Lost))
	}
	if r.Duplicates != nil {
		put("duplicates", float64(*r.Duplicates))
	}
	return m
}

// Summary is the run's one-line human summary.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Scenario, r.Target, r.Endpoint)
	switch r.Scenario {
	case "pipeline", "fifo":
		fmt.Fprintf(&b, " %gs P%d C%d B%d S%d: sent %.0f msg/s, recv+del %.0f msg/s",
			round1(r.WindowSec), r.Params.Producers, r.Params.Consumers, r.Params.Batch, r.Params.Size, r.SendRate, r.DeleteRate)
		b.WriteString(", e2e " + pctString(r.EndToEnd))
	case "burst":
		bu := r.Burst
		fmt.Fprintf(&b, " M%d drain-cap %.0f/s: accepted %.0f msg/s over %.2fs, send-batch p99 %s, peak depth %d, drain %.2fs",
			r.Params.Messages, r.Params.DrainRate, bu.AcceptRate, bu.SpikeSec, pctField(r.SendBatch, func(p *Percentiles) float64 { return p.P99 }),
			bu.PeakDepth, bu.DrainSec)
		if !bu.Drained {
			b.WriteString(" (not drained: timed out)")
		}
	case "single":
		fmt.Fprintf(&b, " %gs workers %d S%d:", round1(r.WindowSec), r.Params.Producers, r.Params.Size)
		for _, op := range []string{"send", "receive", "delete"} {
			fmt.Fprintf(&b, " %s %s;", op, pctString(r.Ops[op]))
		}
	case "wake":
		fmt.Fprintf(&b, " %gs: wake (send start to receive return) %s", round1(r.WindowSec), pctString(r.Wake))
	case "fair":
		if f := r.Fair; f != nil && len(f.Phases) == 3 {
			fmt.Fprintf(&b, " %gs/phase, noisy %.0f/s + %d quiet x %.0f/s, drain cap %.0f/s: quiet p99 dwell idle %s, off %s, on %s (on/idle worst tenant %.2fx, goal <=%gx: %s); recv+del off %.0f msg/s, on %.0f msg/s (on/off %.0f%%, goal >=%.0f%%: %s)",
				r.Params.DurationSec, f.NoisyRate, f.QuietTenants, f.QuietRate, f.DrainRate,
				pctField(f.Phases[0].QuietDwell, p99), pctField(f.Phases[1].QuietDwell, p99), pctField(f.Phases[2].QuietDwell, p99),
				f.Goal.DwellRatio, fairDwellGoal, met(f.Goal.DwellMet),
				f.Phases[1].RecvRate, f.Phases[2].RecvRate, 100*f.Goal.ThroughputRatio, 100*fairThroughputGoal, met(f.Goal.ThroughputMet))
		}
	case "push":
		if p := r.Push; p != nil {
			fmt.Fprintf(&b, " M%d rate %.0f/s conc %d: accepted %.0f msg/s over %.2fs, peak depth %d, delivered %.0f msg/s (steady per-second p5/p50/p95 %s), drain %.2fs",
				r.Params.Messages, p.Rate, p.Concurrency, p.AcceptRate, p.SpikeSec, p.PeakDepth, p.DeliveryRate, p.Steady.String(), p.DrainSec)
			if !p.Drained {
				b.WriteString(" (not drained: timed out)")
			}
			if p.SpikeCPU != nil && p.DrainCPU != nil {
				fmt.Fprintf(&b, ", server CPU spike %s µs/msg sent, drain %s µs/msg delivered", optFloat(p.SpikeCPU.Server), optFloat(p.DrainCPU.Server))
			}
		}
	}
	if r.FIFO != nil {
		fmt.Fprintf(&b, ", %d groups: out-of-order %d, gaps %d", r.FIFO.Groups, r.FIFO.OutOfOrder, r.FIFO.Gaps)
	}
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		errs = append(errs, fmt.Sprintf("%s=%d", k, r.Errors[k]))
	}
	if len(errs) == 0 {
		b.WriteString(", errors 0")
	} else {
		b.WriteString(", errors " + strings.Join(errs, " "))
	}
	if len(r.Retries) > 0 {
		var rs []string
		for _, k := range slices.Sorted(maps.Keys(r.Retries)) {
			rs = append(rs, fmt.Sprintf("%s=%d", k, r.Retries[k]))
		}
		b.WriteString(", SDK retries " + strings.Join(rs, " "))
	}
	fmt.Fprintf(&b, ", lost %s, dup %s", optInt(r.Lost), optInt(r.Duplicates))
	if r.Unexpected != nil && *r.Unexpected > 0 {
		fmt.Fprintf(&b, ", unexpected %d", *r.Unexpected)
	}
	fmt.Fprintf(&b, ", server CPU %s µs/msg, client CPU %s µs/msg", optFloat(r.ServerCPUPerMsgUs), optFloat(r.ClientCPUPerMsgUs))
	fmt.Fprintf(&b, " [durability: %s]", r.Durability)
	return b.String()
}

// FairTable is the fair scenario's dwell split, a line per phase: the quiet tenants' dwell and
// its parts (send, wait, receive; see DwellParts) at p50/p99, and the consumer pool's receive
// calls (those that returned messages) and the mean/p99 interval between their starts. It is
// empty for other scenarios.
func (r *Result) FairTable() string {
	f := r.Fair
	if f == nil || len(f.Phases) == 0 {
		return ""
	}
	var b strings.Builder
	const row = "%-6s %15s %15s %15s %15s %16s %17s\n"
	fmt.Fprintf(&b, row, "phase", "quiet dwell", "send", "wait", "receive", "receive calls", "call interval")
	fmt.Fprintf(&b, row, "", "p50/p99 ms", "p50/p99 ms", "p50/p99 ms", "p50/p99 ms", "(with msgs)", "mean/p99 ms")
	for _, p := range f.Phases {
		send, wait, recv := "n/a", "n/a", "n/a"
		if q := p.QuietParts; q != nil {
			send, wait, recv = p50p99(q.Send), p50p99(q.Wait), p50p99(q.Receive)
		}
		calls, interval := "n/a", "n/a"
		if c := p.ReceiveInterval; c != nil {
			calls = fmt.Sprintf("%d (%d)", c.Calls, c.WithMessages)
			if c.Interval != nil {
				interval = fmt.Sprintf("%.2f/%.2f", c.MeanMs, c.Interval.P99)
			}
		}
		fmt.Fprintf(&b, row, p.Name, p50p99(p.QuietDwell), send, wait, recv, calls, interval)
	}
	return b.String()
}

// p50p99 formats a distribution's p50 and p99 in ms, or n/a.
func p50p99(p *Percentiles) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f/%.2f", p.P50, p.P99)
}

func pctString(p *Percentiles) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms", p.P50, p.P90, p.P99, p.Max)
}

func p99(p *Percentiles) float64 { return p.P99 }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func pctField(p *Percentiles, f func(*Percentiles) float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2fms", f(p))
}

func optInt(v *int64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprint(*v)
}

func optFloat(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", *v)
}

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }
