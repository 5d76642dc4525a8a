// Package backlog measures the disk engine with a large backlog: memory per message, disk
// used, receive+delete throughput at full backlog against a near-empty queue, the time to
// restart and serve again, and the latency of sends while millions of messages expire.
//
// It runs through queue.Service (the code path of every request, without HTTP) on a real disk
// engine in a temporary directory. The size comes from SLUICE_BACKLOG_MESSAGES (default 100,000
// so that CI can smoke-run it); the published numbers used 10,000,000:
//
//	SLUICE_BACKLOG_MESSAGES=10000000 SLUICE_BACKLOG_REPORT=/tmp/backlog.md \
//	  go test -run '^$' -bench Backlog -benchtime 1x -timeout 2h ./tests/backlog/
package backlog

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sluice/internal/clock"
	"sluice/internal/engine/diskengine"
	"sluice/internal/queue"
)

const (
	bodySize  = 1024
	producers = 4
	consumers = 2
)

var caller = &queue.Caller{Account: "000000000000", Region: "us-east-1", BaseURL: "http://127.0.0.1:9324", SenderID: "bench"}

type node struct {
	svc   *queue.Service
	close func()
}

func open(b *testing.B, dir string, fc *clock.Fake) (*node, time.Duration) {
	b.Helper()
	start := time.Now()
	eng, err := diskengine.Open(context.Background(), diskengine.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	svc := queue.New(queue.Options{Engine: eng, Clock: fc, SweepEvery: -1, PurgeInterval: -1, DeleteCooldown: -1})
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return &node{svc: svc, close: func() { svc.Close(); _ = eng.Close() }}, time.Since(start)
}

func BenchmarkBacklog(b *testing.B) {
	n := 100_000
	if v := os.Getenv("SLUICE_BACKLOG_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("SLUICE_BACKLOG_MESSAGES=%q: want a number >= 1000", v)
		}
	}
	for b.Loop() {
		run(b, n)
	}
}

func run(b *testing.B, n int) {
	ctx := context.Background()
	dir := b.TempDir()
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nd, _ := open(b, dir, fc)
	big := mustCreate(b, nd.svc, "backlog")
	small := mustCreate(b, nd.svc, "small")
	rep := map[string]string{}
	rss0 := rssBytes()

	// Fill.
	start := time.Now()
	fill(b, nd.svc, big, n)
	fillTime := time.Since(start)
	rep["fill"] = fmt.Sprintf("%d messages of %d B in %.1f s (%.0f msg/s, %d producers, batches of 10, fsync'd)", n, bodySize, fillTime.Seconds(), float64(n)/fillTime.Seconds(), producers)
	runtime.GC()
	rss := rssBytes()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep["rss"] = fmt.Sprintf("%.0f MiB resident after filling, peak %.0f MiB (%.0f MiB before filling; %.0f B per message; Go heap in use %.0f MiB; GOMEMLIMIT=%s)",
		mib(rss), mib(peakRSSBytes()), mib(rss0), float64(rss-rss0)/float64(n), mib(ms.HeapInuse), cmp.Or(os.Getenv("GOMEMLIMIT"), "unset"))
	rep["disk"] = fmt.Sprintf("%.0f MiB (%.2f× the bodies)", mib(dirSize(dir)), float64(dirSize(dir))/float64(n*bodySize))

	// Receive+delete throughput at full backlog against a small queue in the same store, in
	// alternating rounds so that both see the same machine and store state; medians.
	const rounds = 5
	round := min(20_000, n/(2*rounds))
	fill(b, nd.svc, small, rounds*round)
	var fulls, empties []float64
	if path := os.Getenv("SLUICE_BACKLOG_CPUPROFILE"); path != "" {
		// The rounds' profile; samples carry a queue label (go tool pprof -tagfocus queue=full).
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	for range rounds {
		pprof.Do(ctx, pprof.Labels("queue", "full"), func(context.Context) {
			fulls = append(fulls, drain(b, nd.svc, big, time.Minute, int64(round)))
		})
		pprof.Do(ctx, pprof.Labels("queue", "small"), func(context.Context) {
			empties = append(empties, drain(b, nd.svc, small, time.Minute, int64(round)))
		})
	}
	full, empty := median(fulls), median(empties)
	rep["throughput"] = fmt.Sprintf("receive+delete, median of %d alternating rounds of %d messages: %.0f msg/s at full backlog, %.0f msg/s on a small queue (%+.1f%%), %d consumers, batches of 10",
		rounds, round, full, empty, (full-empty)/empty*100, consumers)

	// Restart.
	nd.close()
	start = time.Now()
	nd, openTime := open(b, dir, fc)
	out, err := nd.svc.ReceiveMessage(ctx, caller, &queue.ReceiveMessageInput{QueueUrl: big})
	if err != nil || len(out.Messages) != 1 {
		b.Fatalf("first receive after restart: %v %v", out, err)
	}
	rep["restart"] = fmt.Sprintf("%.1f s from open to the first message served (store open and index rebuild %.1f s)", time.Since(start).Seconds(), openTime.Seconds())
	runtime.GC()
	rep["rss-after-restart"] = fmt.Sprintf("%.0f MiB resident after restart", mib(rssBytes()))

	// Retention expiry of the whole backlog while sends go on.
	set := func(v string) {
		_, err := nd.svc.SetQueueAttributes(ctx, caller, &queue.SetQueueAttributesInput{QueueUrl: big, Attributes: map[string]string{"MessageRetentionPeriod": v}})
		if err != nil {
			b.Fatal(err)
		}
	}
	set("60")
	fc.Advance(61 * time.Second)
	var expired atomic.Int64
	done := make(chan struct{})
	start = time.Now()
	go func() {
		defer close(done)
		for {
			n := nd.svc.Sweep(ctx)
			expired.Add(int64(n))
			if n == 0 {
				return
			}
		}
	}()
	var lat []time.Duration
	body := randomBody(rand.New(rand.NewPCG(7, 7)))
	for sending := true; sending; {
		select {
		case <-done:
			sending = false
		default:
		}
		t0 := time.Now()
		if _, err := nd.svc.SendMessage(ctx, caller, &queue.SendMessageInput{QueueUrl: big, MessageBody: &body}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	expiry := time.Since(start)
	slices.Sort(lat)
	rep["expiry"] = fmt.Sprintf("%d messages expired in %.1f s while %d sends to the same queue went on: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		expired.Load(), expiry.Seconds(), len(lat), ms2(lat[len(lat)/2]), ms2(lat[len(lat)*99/100]), ms2(lat[len(lat)-1]))
	nd.close()

	b.ReportMetric(mib(rss), "MiB-rss")
	b.ReportMetric(full, "msg/s-full")
	b.ReportMetric(empty, "msg/s-empty")
	report(b, n, rep)
}

// bodies are random bodies to pick from, so that the store's block compression cannot flatter
// the disk figures (a block holds about 30 messages; the chance of a repeat within one is small).
var bodies = func() []string {
	rng := rand.New(rand.NewPCG(1, 1))
	out := make([]string, 4096)
	for i := range out {
		out[i] = randomBody(rng)
	}
	return out
}()

// randomBody returns bodySize random printable bytes.
func randomBody(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, bodySize)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func ms2(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mib(v uint64) float64        { return float64(v) / (1 << 20) }

func mustCreate(b *testing.B, svc *queue.Service, name string) string {
	out, err := svc.CreateQueue(context.Background(), caller, &queue.CreateQueueInput{QueueName: name,
		Attributes: map[string]string{"MessageRetentionPeriod": "1209600", "VisibilityTimeout": "3600"}})
	if err != nil {
		b.Fatal(err)
	}
	return out.QueueUrl
}

// fill sends n messages with producers goroutines, in batches of 10.
func fill(b *testing.B, svc *queue.Service, url string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), uint64(n)))
			entries := make([]queue.SendMessageBatchRequestEntry, 10)
			for next.Add(10) <= int64(n) {
				for i := range entries {
					entries[i] = queue.SendMessageBatchRequestEntry{Id: fmt.Sprint("e", i), MessageBody: &bodies[rng.IntN(len(bodies))]}
				}
				out, err := svc.SendMessageBatch(context.Background(), caller, &queue.SendMessageBatchInput{QueueUrl: url, Entries: entries})
				if err != nil || len(out.Failed) > 0 {
					b.Errorf("send: %v %v", err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// drain receives and deletes in batches of 10 with consumers goroutines for d, or until about
// limit messages are gone, and returns the rate.
func drain(b *testing.B, svc *queue.Service, url string, d time.Duration, limit int64) float64 {
	var count atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	ten := int32(10)
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && count.Load() < limit {
				out, err := svc.ReceiveMessage(context.Background(), caller, &queue.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: &ten})
				if err != nil {
					b.Errorf("receive: %v", err)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				var del []queue.DeleteMessageBatchRequestEntry
				for i, m := range out.Messages {
					del = append(del, queue.DeleteMessageBatchRequestEntry{Id: strconv.Itoa(i), ReceiptHandle: m.ReceiptHandle})
				}
				res, err := svc.DeleteMessageBatch(context.Background(), caller, &queue.DeleteMessageBatchInput{QueueUrl: url, Entries: del})
				if err != nil || len(res.Failed) > 0 {
					b.Errorf("delete: %v %v", err, res)
					return
				}
				count.Add(int64(len(del)))
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds()
}

// rssBytes reads the process's resident set size.
func rssBytes() uint64 { return procStatus("VmRSS:") }

// peakRSSBytes reads the process's peak resident set size so far.
func peakRSSBytes() uint64 { return procStatus("VmHWM:") }

// procStatus reads a size in kB from /proc/self/status.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dirSize(dir string) uint64 {
	var total uint64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += uint64(info.Size())
		}
		return nil
	})
	return total
}

func report(b *testing.B, n int, rep map[string]string) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "| backlog of %d messages | result |\n|---|---|\n", n)
	for _, k := range []string{"fill", "rss", "disk", "throughput", "restart", "rss-after-restart", "expiry"} {
		fmt.Fprintf(&sb, "| %s | %s |\n", k, rep[k])
	}
	b.Log("\n" + sb.String())
	if path := os.Getenv("SLUICE_BACKLOG_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}
