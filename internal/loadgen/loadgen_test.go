package loadgen

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/engine/memengine"
	"sluice/internal/httpserver"
	"sluice/internal/protocol/awsjson"
	"sluice/internal/protocol/awsquery"
	"sluice/internal/push"
	"sluice/internal/queue"
)

// startSluice starts an in-process Sluice on the memory engine with the real clock (long
// polls and visibility timeouts must run in real time here), served over real HTTP on
// 127.0.0.1, with push delivery and its admin API under /admin/push/ as `sluice serve` has.
func startSluice(t *testing.T) string {
	t.Helper()
	eng := memengine.New()
	svc := queue.New(queue.Options{Engine: eng, Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler),
		PurgeInterval: -1, DeleteCooldown: -1})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, svc.Start(ctx))
	mgr := push.New(push.Options{Service: svc, Account: "000000000000", Region: "us-east-1", Clock: clock.Real{}})
	require.NoError(t, mgr.Start(ctx))
	mux := http.NewServeMux()
	mux.Handle("/", httpserver.NewHandler(httpserver.Options{
		Service: svc, JSON: awsjson.Codec{}, Query: awsquery.Codec{}, MatchJSON: awsjson.Matches,
		Account: "000000000000", Region: "us-east-1",
	}))
	mux.Handle(push.AdminPrefix, push.Handler(mgr, nil))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		cancel()
		mgr.Close()
		svc.Close()
		_ = eng.Close()
	})
	return hs.URL
}

func smallConfig(t *testing.T, scenario, target string) Config {
	return Config{
		Scenario: scenario, Target: target, Duration: 1500 * time.Millisecond,
		Producers: 2, Consumers: 2, Batch: 10, Size: 256, Messages: 3000, DrainRate: 3000, Groups: 4,
		Wait: time.Second, Visibility: 3 * time.Second, DrainTimeout: 20 * time.Second,
		Chart: filepath.Join(t.TempDir(), "burst.svg"),
	}
}

// requireClean checks what every scenario on a real queue must report.
func requireClean(t *testing.T, r *Result) {
	t.Helper()
	t.Log(r.Summary())
	require.NotNil(t, r.Lost)
	require.Zero(t, *r.Lost, "lost")
	require.NotNil(t, r.Duplicates)
	require.Zero(t, *r.Duplicates, "duplicates")
	require.Empty(t, r.Errors)
	require.Positive(t, r.Sent)
}

// sqsScenarios runs the scenarios every SQS target supports (through the SDK or the lean client)
// against a real Sluice at target, with the checks a user of the tool would make.
func sqsScenarios(t *testing.T, target string) {
	ctx := context.Background()
	t.Run("pipeline", func(t *testing.T) {
		r, err := Run(ctx, smallConfig(t, "pipeline", target))
		require.NoError(t, err)
		requireClean(t, r)
		require.Zero(t, *r.Unexpected)
		require.Positive(t, r.SendRate)
		require.Positive(t, r.DeleteRate)
		require.Equal(t, r.Sent, r.Deleted)
		require.NotNil(t, r.EndToEnd)
		require.NotNil(t, r.ClientCPUPerMsgUs)
	})
	t.Run("burst", func(t *testing.T) {
		cfg := smallConfig(t, "burst", target)
		r, err := Run(ctx, cfg)
		require.NoError(t, err)
		requireClean(t, r)
		require.Equal(t, int64(cfg.Messages), r.Sent)
		require.True(t, r.Burst.Drained)
		require.Positive(t, r.Burst.AcceptRate)
		require.Positive(t, r.Burst.PeakDepth)
		require.NotEmpty(t, r.Burst.Samples)
		svg, err := os.ReadFile(cfg.Chart)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(svg), "<svg"))
		require.Contains(t, string(svg), "<polyline")
	})
	t.Run("single", func(t *testing.T) {
		r, err := Run(ctx, smallConfig(t, "single", target))
		require.NoError(t, err)
		requireClean(t, r)
		for _, op := range []string{"send", "receive", "delete"} {
			require.NotNil(t, r.Ops[op], op)
			require.Positive(t, r.Ops[op].N, op)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		r, err := Run(ctx, smallConfig(t, "fifo", target))
		require.NoError(t, err)
		requireClean(t, r)
		require.NotNil(t, r.FIFO)
		require.Zero(t, r.FIFO.OutOfOrder)
		require.Zero(t, r.FIFO.Gaps)
		require.Positive(t, r.DeleteRate)
	})
	t.Run("wake", func(t *testing.T) {
		r, err := Run(ctx, smallConfig(t, "wake", target))
		require.NoError(t, err)
		t.Log(r.Summary())
		require.Zero(t, *r.Lost)
		require.Empty(t, r.Errors)
		require.NotNil(t, r.Wake)
		require.Positive(t, r.Wake.N)
	})
}

func TestScenariosOnSluice(t *testing.T) {
	url := startSluice(t)
	target := "sqs=" + url
	ctx := context.Background()

	sqsScenarios(t, target)
	t.Run("fair", func(t *testing.T) {
		cfg := smallConfig(t, "fair", target)
		cfg.Duration, cfg.Producers, cfg.Tenants = time.Second, 2, 3
		cfg.NoisyRate, cfg.QuietRate, cfg.DrainRate = 400, 20, 300
		cfg.Chart = filepath.Join(t.TempDir(), "fair.svg")
		r, err := Run(ctx, cfg)
		require.NoError(t, err)
		requireClean(t, r)
		require.Zero(t, *r.Unexpected)
		f := r.Fair
		require.NotNil(t, f)
		require.Len(t, f.Phases, 3)
		var sent int64
		for i, want := range []struct {
			name            string
			noisy, groupIDs bool
		}{{"idle", false, true}, {"off", true, false}, {"on", true, true}} {
			p := f.Phases[i]
			require.Equal(t, want.name, p.Name)
			require.Equal(t, want.noisy, p.NoisyTenant, p.Name)
			require.Equal(t, want.groupIDs, p.GroupIDs, p.Name)
			require.Zero(t, p.Lost, p.Name)
			require.Equal(t, p.Sent, p.Received, p.Name)
			require.NotNil(t, p.QuietDwell, p.Name)
			require.NotEmpty(t, p.OverTime, p.Name)
			// Every tenant that sends is reported, with every message it sent received once.
			tenants := cfg.Tenants
			if want.noisy {
				tenants++
			}
			require.Len(t, p.Tenants, tenants, p.Name)
			var sum, quiet int64
			for _, td := range p.Tenants {
				require.Positive(t, td.Sent, td.Tenant)
				require.Equal(t, td.Sent, td.Received, "%s %s", p.Name, td.Tenant)
				require.NotNil(t, td.Dwell, td.Tenant)
				require.Equal(t, td.Noisy, td.Tenant == "noisy")
				sum += td.Sent
				if !td.Noisy {
					quiet += td.Sent
				}
			}
			require.Equal(t, p.Sent, sum, p.Name)
			require.Equal(t, int64(p.QuietDwell.N), quiet, p.Name)
			requireDwellParts(t, p.Name, p.QuietDwell, p.QuietParts)
			for _, td := range p.Tenants {
				requireDwellParts(t, p.Name+" "+td.Tenant, td.Dwell, td.Parts)
			}
			// The receive cadence: calls that returned messages, and intervals between starts.
			c := p.ReceiveInterval
			require.NotNil(t, c, p.Name)
			require.Positive(t, c.WithMessages, p.Name)
			require.GreaterOrEqual(t, c.Calls, c.WithMessages, p.Name)
			require.NotNil(t, c.Interval, p.Name)
			require.Equal(t, int(c.Calls)-1, c.Interval.N, p.Name)
			require.GreaterOrEqual(t, c.Interval.P50, 0.0, p.Name)
			require.GreaterOrEqual(t, c.MeanMs, 0.0, p.Name)
			require.LessOrEqual(t, c.MeanMs, c.Interval.Max, p.Name)
			sent += p.Sent
		}
		require.Equal(t, sent, r.Sent)
		require.Positive(t, f.Goal.ThroughputRatio)
		require.Positive(t, f.Goal.DwellRatio)
		require.Contains(t, r.Summary(), "quiet p99 dwell idle")
		table := r.FairTable()
		t.Log("\n" + table)
		require.Contains(t, table, "wait")
		for _, name := range []string{"idle", "off", "on"} {
			require.Contains(t, table, "\n"+name+" ")
		}
		require.NotContains(t, table, "n/a")
		js, err := json.Marshal(f)
		require.NoError(t, err)
		require.Contains(t, string(js), `"quiet_parts":{"send":`)
		require.Contains(t, string(js), `"receive_interval":{"calls":`)
		svg, err := os.ReadFile(cfg.Chart)
		require.NoError(t, err)
		require.Equal(t, 5, strings.Count(string(svg), "<polyline"), "quiet in 3 phases, noisy in 2")
	})
	t.Run("push", func(t *testing.T) {
		cfg := smallConfig(t, "push", target)
		cfg.Messages, cfg.PushRate, cfg.PushConcurrency = 2000, 1000, 10
		cfg.ServerPIDs = []int{os.Getpid()} // the server is in this process
		cfg.Chart = filepath.Join(t.TempDir(), "push.svg")
		r, err := Run(ctx, cfg)
		require.NoError(t, err)
		requireClean(t, r)
		require.Zero(t, *r.Unexpected)
		p := r.Push
		require.NotNil(t, p)
		require.True(t, p.Drained)
		require.Equal(t, int64(cfg.Messages), r.Sent)
		require.Equal(t, r.Sent, p.Delivered)
		require.Equal(t, r.Sent, p.Deliveries)
		require.Equal(t, r.Sent, p.ServerDelivered)
		require.Zero(t, p.ServerFailed)
		require.Positive(t, p.AcceptRate)
		require.Positive(t, p.DeliveryRate)
		require.Positive(t, p.PeakDepth)
		require.NotEmpty(t, p.Samples)
		require.NotNil(t, p.SpikeCPU)
		require.NotNil(t, p.DrainCPU, "the burst of 1,000 tokens leaves 1,000 messages for the drain")
		svg, err := os.ReadFile(cfg.Chart)
		require.NoError(t, err)
		require.Contains(t, string(svg), "delivery rate")
		// The run removed its subscription and its queue.
		resp, err := http.Get(url + push.AdminPrefix)
		require.NoError(t, err)
		defer resp.Body.Close()
		var list struct{ Subscriptions []push.Status }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
		require.Empty(t, list.Subscriptions)
	})
	t.Run("ab", func(t *testing.T) {
		cfg := smallConfig(t, "pipeline", target)
		cfg.Duration = 500 * time.Millisecond
		var labels []string
		rep, err := RunAB(ctx, cfg, "null", nil, 2, func(l string, _ *Result) { labels = append(labels, l) })
		require.NoError(t, err)
		require.Equal(t, []string{"A1", "B1", "A2", "B2"}, labels)
		require.Positive(t, rep.MedianA["recv_delete_msg_per_s"])
		require.Positive(t, rep.Ratio["recv_delete_msg_per_s"])
		require.Contains(t, rep.Table(), "recv_delete_msg_per_s")
	})
}

// TestNullServer runs the real SDK against the null server: every call must pass the SDK's
// checks (MD5s included), and loss checks must say n/a.
func TestNullServer(t *testing.T) {
	ctx := context.Background()
	for _, sc := range []string{"pipeline", "single", "burst"} {
		t.Run(sc, func(t *testing.T) {
			cfg := smallConfig(t, sc, "null")
			cfg.Duration = 500 * time.Millisecond
			r, err := Run(ctx, cfg)
			require.NoError(t, err)
			t.Log(r.Summary())
			require.Empty(t, r.Errors)
			require.Nil(t, r.Lost)
			require.Nil(t, r.Duplicates)
			require.Positive(t, r.Sent)
			require.Positive(t, r.Received)
			require.Contains(t, r.Summary(), "lost n/a")
		})
	}
}

func TestBodyRoundTrip(t *testing.T) {
	h := header{id: makeID(3, 42), sent: time.Unix(0, 1234567890), group: 7, gseq: 9}
	b := encodeBody(nil, 100, h)
	require.Len(t, b, 100)
	got, ok := parseBody(b)
	require.True(t, ok)
	require.Equal(t, h.id, got.id)
	require.True(t, h.sent.Equal(got.sent))
	require.Equal(t, h.group, got.group)
	require.Equal(t, h.gseq, got.gseq)
	_, ok = parseBody([]byte("nnnn"))
	require.False(t, ok)
}

func TestProcCPU(t *testing.T) {
	d, err := procCPU(0)
	require.NoError(t, err)
	require.Positive(t, d)
	_, err = procCPU(1 << 30)
	require.Error(t, err)
	// Several pids (the nodes of a cluster) are summed.
	sum, err := procsCPU([]int{os.Getpid(), os.Getpid()})
	require.NoError(t, err)
	require.GreaterOrEqual(t, sum, 2*d)
	_, err = procsCPU([]int{os.Getpid(), 1 << 30})
	require.Error(t, err)
}

func TestParsePIDs(t *testing.T) {
	pids, err := ParsePIDs("12, 34,56")
	require.NoError(t, err)
	require.Equal(t, []int{12, 34, 56}, pids)
	pids, err = ParsePIDs("")
	require.NoError(t, err)
	require.Empty(t, pids)
	for _, bad := range []string{"x", "1,,2", "0", "-3"} {
		_, err = ParsePIDs(bad)
		require.Error(t, err, bad)
	}
}

// TestSeveralEndpoints runs a pipeline against two endpoints of one Sluice (as two nodes of a
// cluster): every message is accounted for and both endpoints carry traffic.
func TestSeveralEndpoints(t *testing.T) {
	eng := memengine.New()
	svc := queue.New(queue.Options{Engine: eng, Clock: clock.Real{}, Logger: slog.New(slog.DiscardHandler),
		PurgeInterval: -1, DeleteCooldown: -1})
	require.NoError(t, svc.Start(context.Background()))
	h := httpserver.NewHandler(httpserver.Options{
		Service: svc, JSON: awsjson.Codec{}, Query: awsquery.Codec{}, MatchJSON: awsjson.Matches,
		Account: "000000000000", Region: "us-east-1",
	})
	var hits [2]atomic.Int64
	var urls []string
	for i := range hits {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(hs.Close)
		urls = append(urls, hs.URL)
	}
	t.Cleanup(func() { svc.Close(); _ = eng.Close() })
	r, err := Run(context.Background(), smallConfig(t, "pipeline", "sqs="+strings.Join(urls, ",")))
	require.NoError(t, err)
	requireClean(t, r)
	require.Equal(t, r.Sent, r.Deleted)
	for i := range hits {
		require.Greater(t, hits[i].Load(), int64(10), "endpoint %d carried traffic", i)
	}
}

// requireDwellParts checks a dwell's split: every part measured for each message received,
// none negative, and each part's p50 within the dwell's p99 (a part is never more than its
// dwell). The exact sum per message is checked in TestDwellSplit.
func requireDwellParts(t *testing.T, what string, dwell *Percentiles, parts *DwellParts) {
	t.Helper()
	require.NotNil(t, dwell, what)
	require.NotNil(t, parts, what)
	for name, p := range map[string]*Percentiles{"send": parts.Send, "wait": parts.Wait, "receive": parts.Receive} {
		require.NotNil(t, p, "%s %s", what, name)
		require.Equal(t, dwell.N, p.N, "%s %s", what, name)
		require.GreaterOrEqual(t, p.P50, 0.0, "%s %s", what, name)
		require.LessOrEqual(t, p.P50, dwell.P99, "%s %s", what, name)
		require.LessOrEqual(t, p.Max, dwell.Max, "%s %s", what, name)
	}
	require.LessOrEqual(t, parts.Send.P50+parts.Wait.P50+parts.Receive.P50, 3*dwell.P99, what)
}
