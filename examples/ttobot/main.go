// Command ttobot is the writing community's Slack bot on Sluice.
//
//	ttobot serve [flags]
//
// Every flag has an environment variable; secrets come only from the environment
// (SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN). README.md explains the Slack app and the roster file.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"ttobot/internal/app"
	"ttobot/internal/cohort"
	"ttobot/internal/sqsqueue"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: ttobot serve [flags]   (ttobot serve -h lists them)")
		os.Exit(2)
	}
	if err := serve(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "ttobot:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", env("TTOBOT_LISTEN", "127.0.0.1:3000"), "address for Slack's Request URLs (env TTOBOT_LISTEN)")
	rosterPath := fs.String("roster", env("TTOBOT_ROSTER", "roster.json"), "members and cohort schedule; reloaded on SIGHUP (env TTOBOT_ROSTER)")
	db := fs.String("db", env("TTOBOT_DB", "sqlite:ttobot.db"), "sqlite:PATH or postgres://... (env TTOBOT_DB)")
	endpoint := fs.String("sqs-endpoint", env("TTOBOT_SQS_ENDPOINT", "http://127.0.0.1:9324"), "Sluice (SQS) endpoint (env TTOBOT_SQS_ENDPOINT)")
	prefix := fs.String("queue-prefix", env("TTOBOT_QUEUE_PREFIX", "ttobot-"), "queue name prefix (env TTOBOT_QUEUE_PREFIX)")
	slackURL := fs.String("slack-api-url", env("SLACK_API_URL", "https://slack.com/api/"), "Slack Web API base URL (env SLACK_API_URL)")
	workers := fs.Int("workers", envInt("TTOBOT_WORKERS", 4), "consumers per queue (env TTOBOT_WORKERS)")
	maxReceives := fs.Int("max-receive-count", envInt("TTOBOT_MAX_RECEIVE_COUNT", sqsqueue.DefaultMaxReceiveCount),
		"receives of a failing message before it moves to its queue's dead-letter queue (env TTOBOT_MAX_RECEIVE_COUNT)")
	interval := fs.Duration("post-interval", envDuration("TTOBOT_POST_INTERVAL", time.Second), "minimum gap between posts to one channel (env TTOBOT_POST_INTERVAL)")
	logLevel := fs.String("log-level", env("TTOBOT_LOG_LEVEL", "info"), "debug, info, warn or error (env TTOBOT_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *maxReceives < 1 || *maxReceives > 1000 {
		return fmt.Errorf("max-receive-count %d: must be 1 to 1000", *maxReceives)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	roster, err := cohort.Load(*rosterPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Start(ctx, app.Config{
		Listen: *listen, SigningSecret: os.Getenv("SLACK_SIGNING_SECRET"), BotToken: os.Getenv("SLACK_BOT_TOKEN"),
		SlackAPIURL: *slackURL, Roster: roster, DB: *db, Workers: *workers, PostInterval: *interval,
		Queue: sqsqueue.Config{Endpoint: *endpoint, QueuePrefix: *prefix, MaxReceiveCount: *maxReceives,
			AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")},
	}, log)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	for {
		select {
		case <-hup:
			r, err := cohort.Load(*rosterPath)
			if err != nil {
				log.Error("roster reload failed; keeping the old one", "err", err)
				continue
			}
			a.Bot.SetRoster(r)
			log.Info("roster reloaded", "members", len(r.Members), "due_dates", len(r.Cohort.DueDates))
		case err := <-a.Done():
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return a.Stop(sctx)
		}
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
