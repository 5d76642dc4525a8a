// Package crash is Sluice's crash harness. TestCrash runs `sluice serve` as a child process on
// 127.0.0.1, drives producers and consumers on a standard and a FIFO queue through
// aws-sdk-go-v2, kill -9s the server at seeded random moments and restarts it on the same data
// dir, cycle after cycle; then it drains both queues and checks that nothing acknowledged was
// lost, no acknowledged delete came back, and FIFO order and deduplication held.
//
// The short form (20 cycles) runs in `go test ./...`. The long form:
//
//	SLUICE_CRASH_CYCLES=200 go test -run TestCrash -count=1 -timeout 60m ./tests/crash/
//
// Environment: SLUICE_CRASH_CYCLES (default 20; 5 with -short), SLUICE_CRASH_SEED (default:
// the time; every report prints the seed), SLUICE_CRASH_UPTIME (the longest time the server
// runs in a cycle, default 1.5s; each cycle's uptime is drawn from [UPTIME/6, UPTIME]),
// SLUICE_CRASH_REPORT (a file to write the markdown report to), SLUICE_CRASH_SYNC (the server's
// --sync: always, the default, or interval, which may lose acknowledged writes: see
// docs/durability.md), SLUICE_CRASH_DUMP (a file to write every FIFO message's history to).
package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"sluice/internal/engine/pgengine/pgtest"
)

// config is the harness's environment.
type config struct {
	seed         int64
	cycles       int
	minUp, maxUp time.Duration
	reportPath   string
	sync         string // the server's --sync
}

func loadConfig(t *testing.T) config {
	t.Helper()
	c := config{seed: time.Now().UnixNano(), cycles: 20, maxUp: 1500 * time.Millisecond}
	if testing.Short() {
		c.cycles = 5
	}
	if v := os.Getenv("SLUICE_CRASH_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_CRASH_SEED=%q: %v", v, err)
		}
		c.seed = n
	}
	if v := os.Getenv("SLUICE_CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			t.Fatalf("SLUICE_CRASH_CYCLES=%q: want 1..100000", v)
		}
		c.cycles = n
	}
	if v := os.Getenv("SLUICE_CRASH_UPTIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > 10*time.Minute {
			t.Fatalf("SLUICE_CRASH_UPTIME=%q: want a duration in 100ms..10m", v)
		}
		c.maxUp = d
	}
	c.minUp = c.maxUp / 6
	c.reportPath = os.Getenv("SLUICE_CRASH_REPORT")
	c.sync = "always"
	if v := os.Getenv("SLUICE_CRASH_SYNC"); v != "" {
		if v != "always" && v != "interval" {
			t.Fatalf("SLUICE_CRASH_SYNC=%q: want always or interval", v)
		}
		c.sync = v
	}
	return c
}

// TestCrash is the crash harness on the disk engine (see the package comment).
func TestCrash(t *testing.T) {
	cfg := loadConfig(t)
	bin := buildSluice(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	// The port is not part of the seeded schedule: runs in parallel must not collide.
	addrs := freeAddrs(t, 1)
	srv := newServer(t, bin, addrs[0], "--data-dir", dataDir, "--sync", cfg.sync)
	runCrash(t, cfg, []*server{srv}, nil, fmt.Sprintf("`sluice serve --sync=%s` (disk engine)", cfg.sync))
}

// TestCrashPostgres is the crash harness on the PostgreSQL engine: three `sluice serve
// --storage=postgres` nodes on one fresh schema of the test database, the load spread over the
// nodes that are up (as a load balancer would), and each cycle kill -9s one node at random.
func TestCrashPostgres(t *testing.T) {
	cfg := loadConfig(t)
	bin := buildSluice(t)
	schema := pgtest.Schema(t)
	var nodes []*server
	for _, addr := range freeAddrs(t, 3) {
		nodes = append(nodes, newServer(t, bin, addr, "--storage", "postgres", "--postgres-url", pgtest.URL(), "--postgres-schema", schema))
	}
	runCrash(t, cfg, nodes, nil, "3 nodes of `sluice serve --storage=postgres` on one schema (PostgreSQL 15, synchronous_commit on)")
}

// TestCrashPostgresRestart restarts PostgreSQL itself under the load instead of killing nodes:
// two `sluice serve --storage=postgres` nodes on a private cluster (see privatePG; the shared
// test cluster is never touched), stopped each cycle with pg_ctl stop -m fast or -m immediate
// (a crash of every PostgreSQL process) and started again after a pause. The nodes are never
// restarted: they must recover by themselves. While PostgreSQL is down clients may only get
// retryable errors (ServiceUnavailable, InternalFailure), never a wrong success: the ledger's
// checks hold as in the kill -9 runs.
func TestCrashPostgresRestart(t *testing.T) {
	cfg := loadConfig(t)
	if os.Getenv("SLUICE_CRASH_CYCLES") == "" {
		cfg.cycles = 6 // each cycle stops and starts PostgreSQL: a few seconds
		if testing.Short() {
			cfg.cycles = 3
		}
	}
	bin := buildSluice(t)
	addrs := freeAddrs(t, 3)
	_, portStr, _ := strings.Cut(addrs[2], ":")
	port, _ := strconv.Atoi(portStr)
	pg := startPrivatePG(t, port)
	var nodes []*server
	for _, addr := range addrs[:2] {
		nodes = append(nodes, newServer(t, bin, addr, "--storage", "postgres", "--postgres-url", pg.URL(), "--postgres-schema", "sluice"))
	}
	runCrash(t, cfg, nodes, pg, "2 nodes of `sluice serve --storage=postgres` on a private PostgreSQL cluster, which is restarted (pg_ctl stop -m fast / -m immediate, then start) each cycle; the nodes are not restarted")
}

// retryableCodes are the errors a client may get while PostgreSQL is down (besides those of a
// kill -9 run, which are none: the balancer sends retries to running nodes).
var retryableCodes = map[string]bool{"ServiceUnavailable": true, "InternalFailure": true, "InternalError": true}

// freeAddrs returns n distinct free addresses (see freeAddr).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	var out []string
	for len(out) < n {
		a := freeAddr(t, rng)
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// runCrash runs the harness against nodes, servers of one cluster (one node for the disk
// engine): load through every node that is up, kill -9 of one node per cycle, then a drain
// and the checks.
//
// With pg, the cycles restart that PostgreSQL cluster instead of killing nodes.
func runCrash(t *testing.T, cfg config, nodes []*server, pg *privatePG, serverDesc string) {
	t.Logf("crash harness: seed %d, %d cycles, uptime %s–%s, %d node(s), sync=%s (reproduce with SLUICE_CRASH_SEED=%d)",
		cfg.seed, cfg.cycles, cfg.minUp, cfg.maxUp, len(nodes), cfg.sync, cfg.seed)
	fail := func(format string, a ...any) {
		t.Helper()
		var logs strings.Builder
		for i, n := range nodes {
			fmt.Fprintf(&logs, "node %d: server log %s, last lines:\n%s\n", i, n.logPath, n.logTail(40))
		}
		if pg != nil {
			fmt.Fprintf(&logs, "PostgreSQL log, last lines:\n%s\n", pg.logTail(20))
		}
		t.Fatalf("%s\nseed %d\n%s", fmt.Sprintf(format, a...), cfg.seed, logs.String())
	}
	h := &harness{c: newClient(nodes), led: newLedger()}
	for _, n := range nodes {
		if err := n.start(); err != nil {
			fail("%v", err)
		}
		h.led.started()
	}
	ctx := t.Context()
	for k, attrs := range map[kind]map[string]string{
		std:  {"VisibilityTimeout": "3"},
		fifo: {"VisibilityTimeout": "3", "FifoQueue": "true"},
	} {
		name := "crash-std"
		if k == fifo {
			name = "crash-fifo.fifo"
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := h.c.CreateQueue(cctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		cancel()
		if err != nil {
			fail("creating %s: %v", name, err)
		}
		h.urls[k] = *out.QueueUrl
	}

	// The load: producers and consumers run through every crash, each with its own seeded rng.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	worker := 0
	spawn := func(fn func(ctx context.Context, rng *rand.Rand)) {
		worker++
		rng := rand.New(rand.NewPCG(uint64(cfg.seed), uint64(worker)))
		wg.Go(func() { fn(loadCtx, rng) })
	}
	for p := range 2 {
		spawn(func(ctx context.Context, rng *rand.Rand) { h.stdProducer(ctx, p, rng) })
	}
	for g := range fifoGroups {
		spawn(func(ctx context.Context, rng *rand.Rand) { h.fifoProducer(ctx, g, rng) })
	}
	for w := range 2 {
		spawn(func(ctx context.Context, rng *rand.Rand) { h.consumer(ctx, std, w, rng) })
		spawn(func(ctx context.Context, rng *rand.Rand) { h.consumer(ctx, fifo, w, rng) })
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopLoad()
			wg.Wait()
		}
	}
	t.Cleanup(stop)

	// The crashes: one node per cycle, restarted at the start of the next.
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 0))
	loadStart := time.Now()
	var victim *server
	for cycle := 1; cycle <= cfg.cycles; cycle++ {
		if pg != nil {
			up := cfg.minUp + time.Duration(rng.Int64N(int64(cfg.maxUp-cfg.minUp)+1))
			down := 500*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second)))
			mode := [2]string{"immediate", "fast"}[cycle%2]
			sleepCtx(ctx, up)
			stopAt := time.Now()
			if err := pg.stop(mode); err != nil {
				fail("cycle %d: %v", cycle, err)
			}
			stopped := time.Since(stopAt)
			sleepCtx(ctx, down)
			startAt := time.Now()
			if err := pg.start(); err != nil {
				fail("cycle %d: %v", cycle, err)
			}
			t.Logf("cycle %d/%d: PostgreSQL stopped (-m %s, took %s) after %s up; down %s; started in %s; %d std / %d FIFO sends acknowledged so far",
				cycle, cfg.cycles, mode, stopped.Round(time.Millisecond), up.Round(time.Millisecond), down.Round(time.Millisecond),
				time.Since(startAt).Round(time.Millisecond), h.led.ackedSends(std), h.led.ackedSends(fifo))
			continue
		}
		if victim != nil {
			if err := victim.start(); err != nil {
				fail("cycle %d: restart: %v", cycle, err)
			}
			h.led.started()
		}
		up := cfg.minUp + time.Duration(rng.Int64N(int64(cfg.maxUp-cfg.minUp)+1))
		down := time.Duration(rng.Int64N(int64(200 * time.Millisecond)))
		victim = nodes[0]
		if len(nodes) > 1 {
			// Drawn after up and down, so that a one-node run's schedule is as before.
			victim = nodes[rng.IntN(len(nodes))]
		}
		sleepCtx(ctx, up)
		pid, err := victim.crash()
		if err != nil {
			fail("cycle %d: %v", cycle, err)
		}
		t.Logf("cycle %d/%d: kill -9 pid %d (%s) after %s up (ready in %s); down %s; %d std / %d FIFO sends acknowledged so far",
			cycle, cfg.cycles, pid, victim.addr, up.Round(time.Millisecond), victim.ready[len(victim.ready)-1].Round(time.Millisecond),
			down.Round(time.Millisecond), h.led.ackedSends(std), h.led.ackedSends(fifo))
		sleepCtx(ctx, down)
	}
	stop()
	loadTime := time.Since(loadStart)

	// Restart once more and drain both queues: every message left must come out (the ones in
	// flight at the last kill once their visibility timeout, at most extendTo, has passed).
	if victim != nil {
		if err := victim.start(); err != nil {
			fail("restart for the drain: %v", err)
		}
		h.led.started()
	}
	drainStart := time.Now()
	var lastKill time.Time
	if pg != nil {
		lastKill = pg.restart
	}
	for _, n := range nodes {
		if k := n.lastKilled(); k.After(lastKill) {
			lastKill = k
		}
	}
	notBefore := lastKill.Add(extendTo + time.Second)
	deadline := drainStart.Add(2 * time.Minute)
	var drainErrs [2]error
	var dwg sync.WaitGroup
	for _, k := range []kind{std, fifo} {
		dwg.Go(func() { drainErrs[k] = h.drain(ctx, k, notBefore, deadline) })
	}
	dwg.Wait()
	drainTime := time.Since(drainStart)

	// One more crash of every node and restart: the drain's deletes must hold.
	for _, n := range nodes {
		if _, err := n.crash(); err != nil {
			fail("after the drain: %v", err)
		}
	}
	for _, n := range nodes {
		if err := n.start(); err != nil {
			fail("restart after the drain: %v", err)
		}
		h.led.started()
	}
	var afterErrs [2]error
	for _, k := range []kind{std, fifo} {
		afterErrs[k] = h.checkEmpty(ctx, k)
	}

	if path := os.Getenv("SLUICE_CRASH_DUMP"); path != "" {
		if f, err := os.Create(path); err == nil {
			h.led.dump(f)
			_ = f.Close()
		}
	}
	r := h.led.verdict()
	var readySum, readyMax time.Duration
	starts := 0
	var problems []string
	for _, n := range nodes {
		for _, d := range n.ready {
			readySum += d
			readyMax = max(readyMax, d)
			starts++
		}
		problems = append(problems, n.logProblems()...)
	}
	report := r.markdown(runInfo{seed: cfg.seed, cycles: cfg.cycles, starts: starts, minUp: cfg.minUp, maxUp: cfg.maxUp,
		loadTime: loadTime, drainTime: drainTime, readyMean: readySum / time.Duration(starts), readyMax: readyMax,
		goVersion: runtime.Version(), sync: cfg.sync, test: t.Name(), server: serverDesc})
	if len(problems) > 0 {
		report += "\n## Server log: panics and data races\n\n- " + strings.Join(problems, "\n- ") + "\n"
	}
	t.Log("\n" + report)
	if cfg.reportPath != "" {
		if err := os.WriteFile(cfg.reportPath, []byte(report), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}

	check := func(what string, list []string) {
		t.Helper()
		if len(list) > 0 {
			t.Errorf("%s: %d (seed %d), first: %s", what, len(list), cfg.seed, list[0])
		}
	}
	check("acknowledged sends never received", r.lost)
	check("acknowledged deletes received again", r.resurrected)
	check("FIFO order violations", r.fifoOrder)
	check("FIFO deliveries while the group had a message in flight", r.fifoBlock)
	check("standard messages delivered again while in flight", r.stdInFlight)
	check("receipt handles refused while certainly current", r.refused)
	check("FIFO duplicates", r.fifoDups)
	check("bodies matching no send", r.badBodies)
	check("server panics or data races", problems)
	if pg != nil {
		// Only retryable errors while PostgreSQL was down; and the outages were seen.
		var wrong []string
		retryable := 0
		for k, n := range r.counts {
			rest, ok := strings.CutPrefix(k, "error: ")
			if !ok {
				continue
			}
			code := rest[strings.LastIndexByte(rest, ' ')+1:]
			if retryableCodes[code] {
				retryable += n
			} else {
				wrong = append(wrong, fmt.Sprintf("%s: %d (e.g. %s)", rest, n, r.errSample[rest]))
			}
		}
		sort.Strings(wrong)
		check("errors other than ServiceUnavailable/InternalFailure while PostgreSQL restarted", wrong)
		if retryable == 0 {
			t.Errorf("no call failed with a retryable error: the PostgreSQL restarts were not seen by the clients")
		}
	}
	for _, k := range []kind{std, fifo} {
		if drainErrs[k] != nil {
			t.Errorf("drain: %v (seed %d)", drainErrs[k], cfg.seed)
		}
		if afterErrs[k] != nil {
			t.Errorf("after the drain and a crash: %v (seed %d)", afterErrs[k], cfg.seed)
		}
	}
	if r.perQueue[std].acked == 0 || r.perQueue[fifo].acked == 0 {
		t.Errorf("the load made no progress: %d standard and %d FIFO sends acknowledged", r.perQueue[std].acked, r.perQueue[fifo].acked)
	}
}

// drain receives and deletes every message of a queue until, after notBefore, several long
// polls in a row come back empty and the queue's counters are all 0; it gives up at deadline.
func (h *harness) drain(ctx context.Context, k kind, notBefore, deadline time.Time) error {
	url := h.urls[k]
	const vis = 30 * time.Second
	empties := 0
	for {
		if time.Now().After(deadline) {
			n, err := h.depth(ctx, k)
			return fmt.Errorf("%s queue not drained in time: %d messages left (%v)", k, n, err)
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout+time.Second)
		start := time.Now()
		out, err := h.c.ReceiveMessage(cctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, VisibilityTimeout: int32(vis / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSequenceNumber}})
		end := time.Now()
		cancel()
		if err != nil {
			h.led.opError(ctx, "drain ReceiveMessage", err)
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		got := h.led.received(k, start, h.led.currentLife(), end, vis, out.Messages, true)
		if len(got) > 0 {
			empties = 0
			h.drainDelete(ctx, k, got, deadline)
			continue
		}
		if empties++; empties >= 3 && time.Now().After(notBefore) {
			if n, err := h.depth(ctx, k); err == nil && n == 0 {
				return nil
			}
		}
	}
}

// drainDelete deletes hs, repeating failed deletes until deadline.
func (h *harness) drainDelete(ctx context.Context, k kind, hs []held, deadline time.Time) {
	url := h.urls[k]
	for len(hs) > 0 && time.Now().Before(deadline) {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(hs))
		for i, m := range hs {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.handle)}
		}
		h.led.using(hs)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := h.c.DeleteMessageBatch(cctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: entries})
		cancel()
		if err != nil {
			h.led.opError(ctx, "drain DeleteMessageBatch", err)
			h.led.refused(ctx, "drain DeleteMessageBatch", hs, err)
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		at := time.Now()
		var retry []held
		for _, e := range out.Successful {
			if i, err := strconv.Atoi(deref(e.Id)); err == nil && i >= 0 && i < len(hs) {
				h.led.deleted(hs[i], at)
			}
		}
		for _, e := range out.Failed {
			h.led.entryError("drain DeleteMessageBatch", e)
			h.led.entryRefused("drain DeleteMessageBatch", hs, e, at)
			if i, err := strconv.Atoi(deref(e.Id)); err == nil && i >= 0 && i < len(hs) {
				retry = append(retry, hs[i])
			}
		}
		hs = retry
	}
}

// checkEmpty long-polls a queue twice (recording whatever comes back) and checks its counters.
func (h *harness) checkEmpty(ctx context.Context, k kind) error {
	url := h.urls[k]
	for range 2 {
		cctx, cancel := context.WithTimeout(ctx, callTimeout+time.Second)
		start := time.Now()
		out, err := h.c.ReceiveMessage(cctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		end := time.Now()
		cancel()
		if err != nil {
			return fmt.Errorf("%s queue: receive: %w", k, err)
		}
		if len(out.Messages) > 0 {
			h.led.received(k, start, h.led.currentLife(), end, 0, out.Messages, true)
			return fmt.Errorf("%s queue: %d messages received after it was drained", k, len(out.Messages))
		}
	}
	n, err := h.depth(ctx, k)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%s queue: %d messages counted after it was drained", k, n)
	}
	return nil
}

// depth returns the queue's visible, in-flight and delayed message counts added up.
func (h *harness) depth(ctx context.Context, k kind) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := h.c.GetQueueAttributes(cctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(h.urls[k]),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return -1, fmt.Errorf("%s queue: GetQueueAttributes: %w", k, err)
	}
	total := 0
	for _, v := range out.Attributes {
		n, err := strconv.Atoi(v)
		if err != nil {
			return -1, fmt.Errorf("%s queue: counter %q: %w", k, v, err)
		}
		total += n
	}
	return total, nil
}
