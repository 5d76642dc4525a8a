// Package httpserver serves the SQS API over HTTP: it limits and reads request bodies, picks the
// wire protocol of each request (JSON 1.0 or query/XML), works out who is calling from the
// request, dispatches through protocol's action table to queue.Service, and shuts down
// gracefully, answering waiting long polls first.
package httpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

// MaxRequestBody is the largest request body read. SQS messages and batches are at most 1 MiB,
// but JSON escaping and form encoding can make a legal request up to about three times larger.
const MaxRequestBody = 5 << 20

// Options configure a Handler.
type Options struct {
	Service *queue.Service
	// JSON and Query are the two protocol codecs.
	JSON, Query protocol.Codec
	// MatchJSON tells whether a request speaks JSON (otherwise it is query).
	MatchJSON func(*http.Request) bool
	// Account is the account id of every caller (until credentials map to accounts).
	Account string
	// Region is the region in ARNs.
	Region string
	Logger *slog.Logger
}

// Handler is the SQS API http.Handler.
type Handler struct {
	o   Options
	log *slog.Logger
}

// NewHandler returns the SQS API handler.
func NewHandler(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o, log: o.Logger}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := uuid.NewString()
	codec := h.o.Query
	if h.o.MatchJSON(r) {
		codec = h.o.JSON
	}
	action := "?"
	defer func() {
		if v := recover(); v != nil {
			h.log.ErrorContext(r.Context(), "panic serving request", "request_id", reqID, "action", action, "panic", v, "stack", string(debug.Stack()))
			codec.EncodeError(w, reqID, fmt.Errorf("panic: %v", v))
		}
	}()
	err := h.serve(w, r, codec, reqID, &action)
	if err != nil {
		codec.EncodeError(w, reqID, err)
		spec, _ := protocol.Lookup(err)
		lvl := slog.LevelDebug
		if spec.Status >= 500 {
			lvl = slog.LevelError
		}
		h.log.Log(r.Context(), lvl, "request failed", "request_id", reqID, "action", action, "status", spec.Status, "code", spec.QueryCode, "err", err, "duration", time.Since(start))
		return
	}
	h.log.Debug("request", "request_id", reqID, "action", action, "duration", time.Since(start))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, codec protocol.Codec, reqID string, action *string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(r, body)
		}
		return &protocol.Error{Kind: protocol.ErrMalformedQueryString, Message: "The request body could not be read."}
	}
	base := baseURL(r)
	pathURL := ""
	if p := strings.Trim(r.URL.Path, "/"); strings.Count(p, "/") == 1 {
		pathURL = base + "/" + p
	}
	a, in, err := codec.Decode(r, body, pathURL)
	if a != nil {
		*action = a.Name
	}
	if err != nil {
		return err
	}
	c := h.caller(r, base)
	out, err := a.Call(r.Context(), h.o.Service, c, in)
	if err != nil {
		return err
	}
	codec.Encode(w, reqID, a, out)
	return nil
}

// tooLarge is the answer to a request body over MaxRequestBody: what SQS says of a batch or a
// message that is too long.
func tooLarge(r *http.Request, prefix []byte) error {
	if strings.Contains(r.Header.Get("X-Amz-Target"), "Batch") || strings.Contains(r.URL.RawQuery, "Batch") ||
		bytes.Contains(prefix, []byte("Action=SendMessageBatch")) {
		return &queue.Error{Kind: queue.ErrBatchRequestTooLong, Message: fmt.Sprintf(
			"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", queue.MaxMessageSize, max(r.ContentLength, MaxRequestBody+1))}
	}
	return &queue.Error{Kind: queue.ErrInvalidParameterValue, Message: fmt.Sprintf(
		"One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", queue.MaxMessageSize)}
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// caller describes the request's sender. The access key comes from a SigV4 Authorization header
// or a presigned X-Amz-Credential parameter; signatures are not checked.
func (h *Handler) caller(r *http.Request, base string) *queue.Caller {
	c := &queue.Caller{Account: h.o.Account, Region: h.o.Region, BaseURL: base, SenderID: h.o.Account,
		TraceHeader: r.Header.Get("X-Amzn-Trace-Id")}
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, rest, ok := strings.Cut(auth, "Credential="); ok {
			cred, _, _ = strings.Cut(rest, ",")
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	if key, _, ok := strings.Cut(strings.TrimSpace(cred), "/"); ok && key != "" {
		c.SenderID = key
	}
	return c
}

// Run serves on ln until ctx is cancelled, then stops accepting, answers waiting long polls,
// waits for requests in progress (up to grace) and returns.
func Run(ctx context.Context, ln net.Listener, handler http.Handler, svc *queue.Service, grace time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	svc.Close()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
