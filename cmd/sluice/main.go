// Command sluice is the Sluice message queue: an SQS-compatible server (`sluice serve`) and the
// tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `sluice: a self-hosted message queue that speaks the Amazon SQS API

Usage:
  sluice serve [flags]   run the server (sluice serve -h lists the flags)
  sluice bench [flags] SCENARIO
                         load and measure an SQS endpoint or a peer: pipeline, burst, single,
                         fifo, wake; sluice bench null serves a null SQS endpoint (sluice bench -h)
  sluice queues          list queues with their depths (and more operator commands:
                         stats, peek, send, redrive, queue create|delete|purge|attrs;
                         sluice help ops)
  sluice version         print the version

`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run executes a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr, getenv)
	case "bench":
		err = bench(ctx, args[1:], stdout, stderr)
	case "queues", "stats", "peek", "send", "redrive", "queue":
		err = operate(ctx, args[0], args[1:], stdout, stderr, getenv)
	case "push":
		err = pushCommand(ctx, args[1:], stdout, stderr, getenv)
	case "version":
		fmt.Fprintln(stdout, "sluice", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		if len(args) > 1 && args[1] == "ops" {
			fmt.Fprint(stdout, ctlUsage)
		}
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice:", err)
		return 1
	}
	return 0
}
