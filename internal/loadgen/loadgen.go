// Package loadgen is the load generator behind `sluice bench`. It drives a queue through a
// Target — any SQS endpoint through aws-sdk-go-v2, a null SQS server (the ceiling of client and
// HTTP alone), RabbitMQ or NATS JetStream through their own Go clients — with the scenarios
// pipeline, burst, single, fifo, wake, fair (fair queues: one noisy tenant, dwell time per
// tenant with fairness off and on) and push (a Sluice push subscription delivering a burst to an
// in-process endpoint), and reports throughput, latency percentiles, errors by code, lost and
// duplicated messages, and CPU per message of the server and of itself.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Scenarios lists the scenarios Run knows.
var Scenarios = []string{"pipeline", "burst", "single", "fifo", "wake", "fair", "push"}

// Config is one run's configuration.
type Config struct {
	Scenario string
	// Target is a target spec: "sqs=URL", "lean=URL" (the lean client), "null" (in-process null
	// server), "null=URL", "null-lean=URL", "rabbitmq=URL" or "nats=URL".
	Target    string
	Duration  time.Duration // measured window (pipeline, single, fifo, wake; fair: each phase)
	Producers int
	Consumers int
	Batch     int // messages per send batch (1-10 for SQS)
	// ReceiveMax is the consumers' MaxNumberOfMessages (1-10, default 10).
	ReceiveMax int
	Size       int // body size in bytes
	Messages   int // burst, push: messages in the spike
	// DrainRate caps the consumer pool of burst and fair, in messages per second over all
	// consumers.
	DrainRate float64
	// Tenants is fair's number of quiet tenants, each sending QuietRate msg/s; one noisy
	// tenant sends NoisyRate msg/s.
	Tenants   int
	NoisyRate float64
	QuietRate float64
	// PushRate and PushConcurrency configure push's subscription.
	PushRate        float64
	PushConcurrency int
	Groups          int           // fifo: message groups
	Wait            time.Duration // long-poll wait of consumers (whole seconds for SQS)
	// Visibility is the run queue's visibility timeout. Consumers delete within milliseconds, so
	// it expires only for messages whose receive response was lost: an SDK retry of a
	// ReceiveMessage (aws-sdk-go-v2 #1825, #2737) leaves the first attempt's messages in flight
	// until then, and the final drain waits for them. It must be shorter than DrainTimeout.
	Visibility time.Duration
	// DrainTimeout bounds the final drain (and a burst's whole run beyond the spike).
	DrainTimeout time.Duration
	// ServerPIDs are the server's processes (one per node of a cluster): their summed CPU per
	// message is reported. None: not reported.
	ServerPIDs []int
	// Chart is where burst, fair and push write their SVG chart ("" for none).
	Chart  string
	Logger *slog.Logger
}

// Defaults fills zero fields with the defaults.
func (c *Config) Defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Producers, 4)
	def(&c.Consumers, 4)
	def(&c.Batch, 10)
	def(&c.ReceiveMax, 10)
	def(&c.Size, 1024)
	def(&c.Messages, 100000)
	def(&c.Groups, 8)
	def(&c.Tenants, 4)
	def(&c.PushConcurrency, 10)
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.DrainRate <= 0 {
		c.DrainRate = 5000
		if c.Scenario == "fair" {
			c.DrainRate = 1500 // below noisy + quiet senders, so the noisy tenant's backlog builds
		}
	}
	if c.NoisyRate <= 0 {
		c.NoisyRate = 2000
	}
	if c.QuietRate <= 0 {
		c.QuietRate = 100
	}
	if c.PushRate <= 0 {
		c.PushRate = 1000
	}
	if c.Wait <= 0 {
		c.Wait = 2 * time.Second
	}
	if c.Visibility <= 0 {
		c.Visibility = 30 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 2*c.Visibility + 10*time.Second
		if c.Scenario == "push" {
			// Delivery runs at the subscription's rate: allow the spike's delivery time twice.
			c.DrainTimeout += 2 * time.Duration(float64(c.Messages)/c.PushRate*float64(time.Second))
		}
	}
	if c.Target == "" {
		c.Target = "sqs=" + DefaultSQSEndpoint
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks a configuration after Defaults.
func (c *Config) Validate() error {
	known := false
	for _, s := range Scenarios {
		known = known || s == c.Scenario
	}
	switch {
	case !known:
		return fmt.Errorf("unknown scenario %q (want one of %v)", c.Scenario, Scenarios)
	case c.Batch > 10:
		return errors.New("batch must be 1-10 (SQS's batch limit)")
	case c.ReceiveMax > 10:
		return errors.New("receive-max must be 1-10 (SQS's MaxNumberOfMessages)")
	case c.Size < 64 || c.Size > 256*1024:
		return errors.New("size must be 64 B - 256 KiB")
	case c.Visibility < time.Second || c.Visibility >= c.DrainTimeout:
		return errors.New("visibility must be at least 1s and shorter than the drain timeout")
	case c.Producers > 4096 || c.Consumers > 4096:
		return errors.New("at most 4096 producers and consumers")
	case c.Tenants > 1000:
		return errors.New("at most 1000 tenants")
	case c.PushConcurrency > 10000:
		return errors.New("push concurrency must be 1-10000")
	}
	kind, _, err := ParseTarget(c.Target)
	if err == nil && (c.Scenario == "fair" || c.Scenario == "push") && kind != "sqs" {
		return fmt.Errorf("%s needs an sqs=URL target (push: a Sluice server)", c.Scenario)
	}
	return err
}

// Run opens the target, runs the scenario once and closes the target.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t, err := OpenTarget(ctx, cfg.Target, cfg.Size)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := t.Close(); err != nil {
			cfg.Logger.Warn("closing target", "err", err)
		}
	}()
	return RunOn(ctx, t, cfg)
}

// RunOn runs the scenario once on an open target.
func RunOn(ctx context.Context, t Target, cfg Config) (*Result, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Result{
		Scenario: cfg.Scenario, Target: t.Kind(), Endpoint: t.Endpoint(), Durability: t.Durability(),
		Started: time.Now().UTC(), Params: paramsOf(cfg),
	}
	var err error
	switch cfg.Scenario {
	case "pipeline":
		err = runFlow(ctx, t, cfg, r, flowPipeline)
	case "burst":
		err = runFlow(ctx, t, cfg, r, flowBurst)
	case "fifo":
		err = runFlow(ctx, t, cfg, r, flowFIFO)
	case "single":
		err = runSingle(ctx, t, cfg, r)
	case "wake":
		err = runWake(ctx, t, cfg, r)
	case "fair":
		err = runFair(ctx, t, cfg, r)
	case "push":
		err = runPush(ctx, t, cfg, r)
	}
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", cfg.Scenario, t.Kind(), err)
	}
	if rr, ok := t.(interface{ Retries() map[string]int64 }); ok {
		r.Retries = rr.Retries()
		for k, n := range r.Retries {
			if strings.HasPrefix(k, "receive:") {
				r.Notes = append(r.Notes, fmt.Sprintf("%d ReceiveMessage calls were retried by the SDK (%s): messages the first attempt received stayed in flight until the %s visibility timeout, then were delivered again", n, k, cfg.Visibility))
			}
		}
	}
	return r, nil
}

// queueName returns a fresh queue name for a run.
func queueName(scenario string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("sluice-bench-%s-%d-%s", scenario, time.Now().Unix(), hex.EncodeToString(b[:]))
}

// withQueue creates a queue for a run, and deletes it when the run ends (on a fresh context,
// so an interrupted run still cleans up).
func withQueue(ctx context.Context, t Target, cfg Config, spec QueueSpec, run func(Queue) error) error {
	spec.Name = queueName(cfg.Scenario)
	q, err := t.CreateQueue(ctx, spec)
	if err != nil {
		return err
	}
	runErr := run(q)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := q.Delete(dctx); err != nil {
		cfg.Logger.Warn("deleting the run's queue", "err", err)
		if runErr == nil {
			runErr = err
		}
	}
	return runErr
}
