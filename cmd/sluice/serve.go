package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"sluice/internal/clock"
	"sluice/internal/config"
	"sluice/internal/declare"
	"sluice/internal/engine"
	"sluice/internal/engine/diskengine"
	"sluice/internal/engine/memengine"
	"sluice/internal/engine/pgengine"
	"sluice/internal/httpserver"
	"sluice/internal/memtune"
	"sluice/internal/protocol/awsjson"
	"sluice/internal/protocol/awsquery"
	"sluice/internal/queue"
)

// serve runs the server until ctx is cancelled.
func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sluice serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("config-check", false, "check the configuration, the declared queues included, and exit")
	cfg, err := config.Load(fs, args, getenv)
	if err != nil {
		return err
	}
	if *check {
		if err := declare.Check(ctx, cfg.Queues, cfg.Region, cfg.AccountID); err != nil {
			return fmt.Errorf("%w: %w", config.ErrInvalid, err)
		}
		if _, err := declaredPush(cfg.Queues); err != nil {
			return fmt.Errorf("%w: %w", config.ErrInvalid, err)
		}
		fmt.Fprintf(stderr, "configuration ok (%d declared queues)\n", len(cfg.Queues))
		return nil
	}
	log := newLogger(cfg, stderr)
	go memtune.Run(ctx, memtune.Options{Max: cfg.GCPercent, Logger: log.With("component", "memtune")})

	var eng engine.Engine
	switch cfg.Storage {
	case "memory":
		log.Warn("storage=memory: messages are kept in memory only and are lost when sluice stops")
		eng = memengine.New()
	case "postgres":
		eng, err = pgengine.Open(ctx, pgengine.Options{URL: cfg.PostgresURL, Schema: cfg.PostgresSchema,
			MaxConns: postgresConns(cfg.PostgresURL), Logger: log.With("component", "pgengine")})
		if err != nil {
			return fmt.Errorf("opening storage: %w", err)
		}
	default:
		mode := diskengine.SyncAlways
		if cfg.Sync == "interval" {
			mode = diskengine.SyncInterval
			log.Warn("sync=interval: writes are acknowledged before they reach the disk; a crash (of the process or the machine) can lose the last ~10ms of acknowledged writes")
		}
		eng, err = diskengine.Open(ctx, diskengine.Options{Dir: cfg.DataDir, Sync: mode, MinSyncGap: cfg.SyncGap.Duration, Logger: log.With("component", "diskengine")})
		if err != nil {
			return fmt.Errorf("opening storage: %w", err)
		}
	}
	defer func() {
		if err := eng.Close(); err != nil {
			log.Error("closing storage", "err", err)
		}
	}()

	op, err := newOps(eng, log)
	if err != nil {
		return err
	}
	svc := queue.New(queue.Options{
		Engine: eng, Clock: clock.Real{}, Logger: log.With("component", "queue"), Observer: op.observer(),
		PurgeInterval: orDisabled(cfg.PurgeInterval), DeleteCooldown: orDisabled(cfg.DeleteCooldown),
		MaxLongPolls: cfg.MaxLongPolls, MaxQueuesPerAccount: cfg.MaxQueuesPerAccount,
	})
	verifier, authMsg, err := newVerifier(cfg)
	if err != nil {
		return err
	}
	tlsConf, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	h := httpserver.NewHandler(httpserver.Options{
		Service: svc, JSON: awsjson.Codec{}, Query: awsquery.Codec{}, MatchJSON: awsjson.Matches,
		Account: cfg.AccountID, Region: cfg.Region, Logger: log.With("component", "http"),
		Verifier: verifier, RateLimit: float64(cfg.RateLimit), RateBurst: cfg.RateBurst, Observer: op.metrics,
	})
	handler, consoleHandler, err := op.routes(cfg, svc, h, eng, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	if consoleHandler != nil && cfg.ConsoleListen != "" {
		cln, err := net.Listen("tcp", cfg.ConsoleListen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listening for the console: %w", err)
		}
		log.Info("console serving", "addr", cln.Addr().String())
		go func() {
			if err := serveConsole(ctx, cln, consoleHandler, log); err != nil {
				log.Error("console", "err", err)
			}
		}()
	}
	if cfg.PprofListen != "" {
		pln, err := net.Listen("tcp", cfg.PprofListen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listening for pprof: %w", err)
		}
		log.Info("runtime profiles serving", "addr", pln.Addr().String(), "path", "/debug/pprof/")
		go func() {
			if err := serveSide(ctx, pln, pprofHandler(), log, "runtime profiles"); err != nil {
				log.Error("pprof", "err", err)
			}
		}()
	}
	go op.hist.Run(ctx)
	// Resume the message move tasks a restart interrupted. Closing the service stops them; it
	// is deferred after the engine's close, so it runs first (httpserver.Run closes it too).
	if err := svc.Start(ctx); err != nil {
		_ = ln.Close()
		return fmt.Errorf("starting: %w", err)
	}
	defer svc.Close()
	if err := op.push.Start(ctx); err != nil {
		_ = ln.Close()
		return fmt.Errorf("starting push delivery: %w", err)
	}
	defer op.push.Close()
	if len(cfg.Queues) > 0 {
		caller := &queue.Caller{Account: cfg.AccountID, Region: cfg.Region, BaseURL: scheme(tlsConf) + "://" + ln.Addr().String(), SenderID: cfg.AccountID}
		changes, err := declare.Apply(ctx, svc, caller, cfg.Queues, log.With("component", "declare"))
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("declared queues: %w", err)
		}
		log.Info("declared queues in place", "declared", len(cfg.Queues), "changes", len(changes))
		subs, err := declaredPush(cfg.Queues)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("declared push subscriptions: %w", err)
		}
		for _, s := range subs {
			if err := op.push.Declare(ctx, s); err != nil {
				_ = ln.Close()
				return fmt.Errorf("declared push subscription of %s: %w", s.Queue, err)
			}
		}
	}
	log.Info("sluice serving the SQS API", "addr", ln.Addr().String(), "storage", cfg.Storage,
		"data_dir", cfg.DataDir, "sync", cfg.Sync, "region", cfg.Region, "account_id", cfg.AccountID,
		"auth", authMsg, "scheme", scheme(tlsConf))
	if verifier == nil {
		log.Warn("auth is off: no credentials configured, so requests are not signature-checked and every caller acts in account " + cfg.AccountID)
	}
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = -1
	}
	return httpserver.Serve(ctx, ln, handler, svc, httpserver.ServeOptions{
		Grace: cfg.ShutdownGrace.Duration, Logger: log, TLS: tlsConf, MaxConns: maxConns,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout.Duration, ReadTimeout: cfg.ReadTimeout.Duration,
		WriteTimeout: cfg.WriteTimeout.Duration, IdleTimeout: cfg.IdleTimeout.Duration,
	})
}

// orDisabled maps a configured 0 ("disabled") to the negative value queue.Options uses for it.
func orDisabled(d config.Duration) time.Duration {
	if d.Duration == 0 {
		return -1
	}
	return d.Duration
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultPostgresConns is the connection pool of a node unless the URL sets pool_max_conns.
// pgxpool's own default, max(4, CPUs), let 8 concurrent clients queue for 4 connections on a
// 2-core machine (BENCHMARKS.md, "PostgreSQL engine").
const defaultPostgresConns = 16

func postgresConns(url string) int32 {
	if strings.Contains(url, "pool_max_conns") {
		return 0 // the URL's
	}
	return defaultPostgresConns
}
