// Package app assembles ttobot: store, roster, Slack client, Sluice queues, workers, the
// outbox dispatcher and the HTTP ingress.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"ttobot/internal/bot"
	"ttobot/internal/clock"
	"ttobot/internal/cohort"
	"ttobot/internal/outbox"
	"ttobot/internal/slack"
	"ttobot/internal/sqsqueue"
	"ttobot/internal/store"
)

// Config is everything ttobot needs to run.
type Config struct {
	Listen        string // HTTP address for Slack's Request URLs
	SigningSecret string
	BotToken      string
	SlackAPIURL   string // Web API base URL; Slack's when empty
	Roster        *cohort.Roster
	DB            string // sqlite:PATH or postgres://...
	Queue         sqsqueue.Config
	Workers       int           // consumers per lane; 4 when zero
	PostInterval  time.Duration // per-channel gap between announcements; 1s when zero

	// Seams for tests; defaults are the real things.
	Clock   clock.Clock
	Fetcher bot.TitleFetcher
	HTTP    *http.Client // for Slack calls
	OnEvent func(*slack.EventEnvelope) error
}

// App is a running ttobot.
type App struct {
	Bot      *bot.Bot
	Store    *store.Store
	Outbox   *outbox.Dispatcher
	Addr     string // the address the ingress listens on
	srv      *http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	serveErr chan error
}

// Start opens the store, creates the queues and starts the ingress, the workers and the
// outbox dispatcher. Stop ends them.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if cfg.SigningSecret == "" {
		return nil, errors.New("app: a signing secret is required")
	}
	if cfg.Roster == nil {
		return nil, errors.New("app: a roster is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Fetcher == nil {
		cfg.Fetcher = &bot.HTTPFetcher{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	st, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	q, err := sqsqueue.New(ctx, cfg.Queue, log.With("component", "queue"))
	if err != nil {
		st.Close()
		return nil, err
	}
	sc := &slack.Client{BaseURL: cfg.SlackAPIURL, Token: cfg.BotToken, HTTP: cfg.HTTP}
	disp := &outbox.Dispatcher{Store: st, Slack: sc, Clock: cfg.Clock, Log: log.With("component", "outbox"), Interval: cfg.PostInterval}
	b := &bot.Bot{Store: st, Slack: sc, Clock: cfg.Clock, Log: log.With("component", "bot"), Fetcher: cfg.Fetcher, Notify: disp.Notify, OnEvent: cfg.OnEvent}
	b.SetRoster(cfg.Roster)
	in := &bot.Ingress{Bot: b, SigningSecret: cfg.SigningSecret, Queue: q}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("app: listen: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &App{Bot: b, Store: st, Outbox: disp, Addr: ln.Addr().String(), cancel: cancel, serveErr: make(chan error, 1),
		srv: &http.Server{Handler: in.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}}
	for _, lane := range []bot.Lane{bot.LaneInteractive, bot.LaneRecords} {
		a.wg.Go(func() { q.Consume(runCtx, lane, cfg.Workers, b.Handle) })
	}
	a.wg.Go(func() { _ = disp.Run(runCtx) })
	go func() { a.serveErr <- a.srv.Serve(ln) }()
	log.Info("ttobot serving", "addr", a.Addr, "queue", cfg.Queue.Endpoint)
	return a, nil
}

// Stop shuts the ingress down, waits for workers and the dispatcher, and closes the store.
func (a *App) Stop(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	a.cancel()
	a.wg.Wait()
	return errors.Join(err, a.Store.Close())
}

// Done reports the HTTP server's end.
func (a *App) Done() <-chan error { return a.serveErr }
