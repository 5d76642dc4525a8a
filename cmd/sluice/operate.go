package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"sluice/internal/clock"
	"sluice/internal/config"
	"sluice/internal/console"
	"sluice/internal/engine"
	"sluice/internal/health"
	"sluice/internal/history"
	"sluice/internal/metrics"
	"sluice/internal/push"
	"sluice/internal/queue"
)

// ops gathers what operators look at: metrics, the history behind the console's charts, health
// endpoints and the console.
type ops struct {
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	hist    *history.History
	svc     *queue.Service // set by attach
	push    *push.Manager  // set by routes; serve starts it once the service has started
}

func newOps(eng engine.Engine, log *slog.Logger) (*ops, error) {
	o := &ops{reg: prometheus.NewRegistry()}
	if err := o.reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	if err := o.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	m, err := metrics.New(metrics.Options{Registry: o.reg, Engine: eng, Clock: clock.Real{},
		Logger: log.With("component", "metrics"), LongPolls: func() int {
			if o.svc == nil {
				return 0
			}
			return o.svc.LongPolls()
		}})
	if err != nil {
		return nil, err
	}
	o.metrics = m
	o.hist = history.New(history.Options{Engine: eng, Clock: clock.Real{}, Logger: log.With("component", "history")})
	return o, nil
}

// observer is what the queue.Service tells of its messages.
func (o *ops) observer() queue.Observer { return queue.Observers(o.metrics, o.hist) }

// routes returns the handler of the main listener (SQS, /metrics, /healthz, /readyz and, unless
// it has its own listener, /console) and the console's handler (nil when it is off).
func (o *ops) routes(cfg config.Config, svc *queue.Service, sqs http.Handler, eng engine.Engine, log *slog.Logger) (main, cons http.Handler, err error) {
	o.svc = svc
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", o.metrics.Handler())
	mux.Handle("GET /healthz", health.Live())
	mux.Handle("GET /readyz", health.Ready(eng, 2*time.Second, log.With("component", "health")))
	mux.Handle("/", sqs)
	creds := map[string]string{}
	for _, c := range cfg.Credentials {
		creds[c.AccessKeyID] = c.SecretAccessKey
	}
	pushToken := cfg.ConsoleToken
	if cfg.Console == "on" {
		token := cfg.ConsoleToken
		if token == "" {
			token = console.NewToken()
			log.Info("console token generated: off the loopback interface, sign in with any user name and this password (set --console-token to choose it)", "console_token", token)
		}
		creds := map[string]string{}
		for _, c := range cfg.Credentials {
			creds[c.AccessKeyID] = c.SecretAccessKey
		}
		c, err := console.New(console.Options{Service: svc, History: o.hist, Account: cfg.AccountID, Region: cfg.Region,
			Token: token, Credentials: creds, Clock: clock.Real{}, Logger: log.With("component", "console")})
		if err != nil {
			return nil, nil, err
		}
		cons = c
		pushToken = token
		if cfg.ConsoleListen == "" {
			mux.Handle(console.Prefix+"/", c)
			mux.Handle("GET "+console.Prefix, http.RedirectHandler(console.Prefix+"/", http.StatusFound))
		}
	}
	// The push admin API is protected like the console (loopback, the console token or a
	// credential); see docs/push.md.
	// On an engine several nodes share, only the lead node delivers (see docs/push.md).
	leader, _ := eng.(engine.Leader)
	o.push = push.New(push.Options{Service: svc, Account: cfg.AccountID, Region: cfg.Region, Clock: clock.Real{},
		Logger: log.With("component", "push"), Leader: leader})
	if err := o.reg.Register(o.push.Collector()); err != nil {
		return nil, nil, fmt.Errorf("registering push metrics: %w", err)
	}
	mux.Handle(push.AdminPrefix, pushAdmin(push.Handler(o.push, log.With("component", "push-admin")), pushToken, creds))
	return mux, cons, nil
}

// serveConsole serves the console on its own listener until ctx is cancelled.
func serveConsole(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix+"/", h)
	mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix+"/", http.StatusFound))
	return serveSide(ctx, ln, mux, log, "the console")
}

// pprofHandler serves the runtime profiles of net/http/pprof under /debug/pprof/ (on its own
// mux: the package's init registers on http.DefaultServeMux, which nothing here serves).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveSide serves h on ln, an address of its own beside the SQS endpoint, until ctx ends.
func serveSide(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, what string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", what, err)
	}
	return nil
}
