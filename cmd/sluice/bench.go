package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"sluice/internal/loadgen"
)

const benchUsage = `Usage:
  sluice bench [flags] SCENARIO      run a scenario: %s
  sluice bench null [--listen ADDR]  serve a null SQS endpoint (canned responses, nothing stored)

Targets: sqs=URL (default sqs=%s), lean=URL (default lean=%[2]s),
null (an in-process null server), null=URL, null-lean=URL (a null server through the lean
client), rabbitmq=URL (amqp://guest:guest@127.0.0.1:5672/),
nats=URL (nats://127.0.0.1:4222). lean sends the same SQS requests from a lean JSON client in
place of the AWS SDK, for capacity runs: no SigV4 signing (the server must run with auth off),
no retries; every table with a lean run also shows the SDK run.

Scenarios: pipeline (producers and consumers for --duration), burst (--messages as fast as
possible, consumers capped at --drain-rate), single (unbatched calls), fifo (order per group
checked), wake (long-poll wake-up), fair (sqs only: fair queues; one noisy tenant at
--noisy-rate and --tenants quiet tenants at --quiet-rate, consumers capped at --drain-rate;
three phases of --duration each on a fresh queue: quiet tenants alone, fairness off (no group
ids), fairness on; dwell time per tenant, the quiet tenants' split into send, wait and
receive, and the consumers' receive cadence), push (a Sluice server only: a push subscription at
--push-rate delivers a burst of --messages to an endpoint inside the tool; accept rate, depth,
delivery rate, loss). See BENCHMARKS.md.

Flags:
`

// bench runs `sluice bench`: the flags become a loadgen.Config; the work is in internal/loadgen.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, benchUsage, strings.Join(loadgen.Scenarios, ", "), loadgen.DefaultSQSEndpoint)
		fs.PrintDefaults()
	}
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target, "target", "sqs="+loadgen.DefaultSQSEndpoint, "target A: kind=URL")
	targetB := fs.String("target-b", "", "target B for --ab")
	ab := fs.Bool("ab", false, "interleaved A/B mode: run A,B,A,B,... for --rounds and print medians and B/A ratios")
	rounds := fs.Int("rounds", 3, "rounds of --ab")
	fs.DurationVar(&cfg.Duration, "duration", 0, "measured window (pipeline, single, fifo, wake; fair: each phase) (default 10s)")
	fs.IntVar(&cfg.Producers, "producers", 0, "producers (single: workers) (default 4)")
	fs.IntVar(&cfg.Consumers, "consumers", 0, "consumers (default 4)")
	fs.IntVar(&cfg.Batch, "batch", 0, "messages per send batch, 1-10 (default 10)")
	fs.IntVar(&cfg.ReceiveMax, "receive-max", 0, "consumers' MaxNumberOfMessages per receive, 1-10 (default 10)")
	fs.IntVar(&cfg.Size, "size", 0, "message body size in bytes (default 1024)")
	fs.IntVar(&cfg.Messages, "messages", 0, "burst, push: messages in the spike (default 100000)")
	fs.Float64Var(&cfg.DrainRate, "drain-rate", 0, "burst, fair: consumer pool's cap in msg/s (default 5000; fair: 1500)")
	fs.IntVar(&cfg.Tenants, "tenants", 0, "fair: quiet tenants (default 4)")
	fs.Float64Var(&cfg.NoisyRate, "noisy-rate", 0, "fair: the noisy tenant's send rate in msg/s (default 2000)")
	fs.Float64Var(&cfg.QuietRate, "quiet-rate", 0, "fair: each quiet tenant's send rate in msg/s (default 100)")
	fs.Float64Var(&cfg.PushRate, "push-rate", 0, "push: the subscription's rate in msg/s (default 1000)")
	fs.IntVar(&cfg.PushConcurrency, "push-concurrency", 0, "push: the subscription's concurrency (default 10)")
	fs.IntVar(&cfg.Groups, "groups", 0, "fifo: message groups (default 8)")
	fs.DurationVar(&cfg.Wait, "wait", 0, "consumers' long-poll wait (default 2s)")
	fs.DurationVar(&cfg.Visibility, "visibility", 0, "visibility timeout of the run's queue: redelivers what a retried receive stranded (default 30s)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 0, "bound on the final drain (default 2 x visibility + 10s; push: plus 2 x messages / push-rate)")
	pidA := fs.String("server-pid", "", "pid of target A's server, or `PID,PID,...` of its nodes: report their CPU per message")
	pidB := fs.String("server-pid-b", "", "pid(s) of target B's server")
	fs.StringVar(&cfg.Chart, "chart", "", "burst, fair, push: SVG chart `FILE`, empty for none (default SCENARIO.svg)")
	jsonOut := fs.String("json", "", "write the results as JSON to FILE (- for stdout)")
	listen := fs.String("listen", "127.0.0.1:9399", "null: address to serve on")
	verbose := fs.Bool("v", false, "log progress to stderr")
	// Flags may come before or after the scenario.
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	cfg.Scenario = rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	chartSet := false
	fs.Visit(func(f *flag.Flag) { chartSet = chartSet || f.Name == "chart" })
	if !chartSet {
		cfg.Chart = cfg.Scenario + ".svg"
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var err error
	if cfg.ServerPIDs, err = loadgen.ParsePIDs(*pidA); err != nil {
		return fmt.Errorf("bench: --server-pid: %w", err)
	}
	pidsB, err := loadgen.ParsePIDs(*pidB)
	if err != nil {
		return fmt.Errorf("bench: --server-pid-b: %w", err)
	}

	if cfg.Scenario == "null" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("bench null: %w", err)
		}
		size := cfg.Size
		if size <= 0 {
			size = 1024
		}
		fmt.Fprintf(stderr, "null SQS server on http://%s (Ctrl-C stops it)\n", ln.Addr())
		return loadgen.ServeNull(ctx, ln, size, cfg.Logger)
	}

	var result any
	if *ab {
		if *targetB == "" {
			return fmt.Errorf("bench: --ab needs --target-b")
		}
		rep, err := loadgen.RunAB(ctx, cfg, *targetB, pidsB, *rounds, func(label string, r *loadgen.Result) {
			fmt.Fprintf(stdout, "%s: %s\n", label, r.Summary())
		})
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, rep.Table())
		result = rep
	} else {
		r, err := loadgen.Run(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, r.Summary())
		fmt.Fprint(stdout, r.FairTable())
		for _, n := range r.Notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		result = r
	}
	return writeJSON(*jsonOut, stdout, result)
}

func writeJSON(path string, stdout io.Writer, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}
