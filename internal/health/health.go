// Package health serves Sluice's health endpoints: GET /healthz (the process is up and serving
// HTTP) and GET /readyz (the storage engine answers; 503 otherwise), for load balancers and
// orchestrators.
package health

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"sluice/internal/engine"
)

// Live answers 200 "ok" to every request: the process is up and serving HTTP.
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// probeKey names no queue (queue names cannot contain '/'); looking it up makes the engine do
// a real read (a round trip for PostgreSQL) that must end in ErrQueueNotFound.
var probeKey = engine.QueueKey{Account: "sluice-readiness-probe", Name: "/"}

// Ready answers 200 "ready" when eng answers a lookup within timeout, and 503 otherwise (the
// engine is closed, failed, or its database unreachable); the cause is logged, not shown.
func Ready(eng engine.Engine, timeout time.Duration, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		_, err := eng.QueueGet(ctx, &engine.QueueGetParams{Key: probeKey})
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err == nil || errors.Is(err, engine.ErrQueueNotFound) {
			_, _ = w.Write([]byte("ready\n"))
			return
		}
		log.Warn("readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: storage engine unavailable\n"))
	})
}
