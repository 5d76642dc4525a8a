// Package httpserver serves the SQS API over HTTP: it picks the wire protocol of each request
// (JSON 1.0 or query/XML), authenticates it (SigV4, when credentials are configured) before it
// reads the size-limited body, applies the per-account request rate, works out who is calling,
// dispatches through protocol's action table to queue.Service, and shuts down gracefully,
// answering waiting long polls first. Serve adds the connection-level limits: header, read,
// write and idle timeouts, a cap on open connections, and TLS.
package httpserver

import (
	"bytes"
	"context"
	"crypto/tls"
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

	"sluice/internal/auth"
	"sluice/internal/clock"
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
	// Account is the account id of every caller when Verifier is nil.
	Account string
	// Region is the region in ARNs.
	Region string
	// Verifier, when set, authenticates every request (SigV4); each caller then acts in the
	// account of its access key, isolated from the other accounts. Nil: requests are not
	// checked and every caller is in Account.
	Verifier *auth.Verifier
	// RateLimit is the sustained number of requests per second one account may make (0: no
	// limit); RateBurst how many it may make at once (default: RateLimit, at least 1). Requests
	// over it get RequestThrottled, which SDKs retry with backoff.
	RateLimit float64
	RateBurst int
	// Clock paces the rate limit (default: the real clock).
	Clock  clock.Clock
	Logger *slog.Logger
	// Observer, when set, is told of every request once it is answered (for metrics).
	Observer RequestObserver
}

// RequestObserver hears of each answered SQS request: its action ("unknown" when the request
// named none the server knows), its outcome ("ok", the query protocol's error code of a client
// error, or "server_error") and how long it took. It must not block.
type RequestObserver interface {
	ObserveRequest(action, outcome string, d time.Duration)
}

// Handler is the SQS API http.Handler.
type Handler struct {
	o       Options
	log     *slog.Logger
	limiter *rateLimiter // nil without a rate limit
}

// NewHandler returns the SQS API handler.
func NewHandler(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	h := &Handler{o: o, log: o.Logger}
	if o.RateLimit > 0 {
		h.limiter = newRateLimiter(o.RateLimit, o.RateBurst, o.Clock)
	}
	return h
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
	if h.o.Observer != nil {
		defer func() { h.o.Observer.ObserveRequest(actionLabel(action), outcome(err), time.Since(start)) }()
	}
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

// readBody reads a request's body, at most MaxRequestBody bytes (*http.MaxBytesError beyond).
// A declared Content-Length sizes the buffer once, instead of growing it as io.ReadAll does.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	return buf.Bytes(), err
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, codec protocol.Codec, reqID string, action *string) error {
	// Refuse what the headers alone decide before reading any of the body.
	var pending *auth.Pending
	if h.o.Verifier != nil {
		p, err := h.o.Verifier.Authenticate(r)
		if err != nil {
			return err
		}
		pending = p
	}
	if r.ContentLength > MaxRequestBody {
		// Refused without reading it; a prefix tells a query batch from a single message.
		prefix, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		return tooLarge(r, prefix)
	}
	body, err := readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(r, body)
		}
		return &protocol.Error{Kind: protocol.ErrMalformedQueryString, Message: "The request body could not be read."}
	}
	c := h.caller(r)
	if pending != nil {
		cred, err := pending.Verify(body)
		if err != nil {
			return err
		}
		c.Account, c.SenderID, c.Isolated = cred.AccountID, cred.AccessKeyID, true
	}
	if h.limiter != nil && !h.limiter.allow(c.Account) {
		return &queue.Error{Kind: queue.ErrRequestThrottled, Message: "Rate exceeded"}
	}
	base := baseURL(r)
	c.BaseURL = base
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
	c.Action = a.Name
	out, err := a.Call(r.Context(), h.o.Service, c, in)
	if err != nil {
		return err
	}
	codec.Encode(w, reqID, a, out)
	return nil
}

// actionLabel is the metric label of an action: its name, or "unknown" before one was decoded.
func actionLabel(action string) string {
	if action == "?" || action == "" {
		return "unknown"
	}
	return action
}

// outcome is the metric label of a request's result: a bounded set of values (the error
// registry's codes).
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	spec, _ := protocol.Lookup(err)
	if spec.Status >= 500 {
		return "server_error"
	}
	return spec.QueryCode
}

// tooLarge is the answer to a request body over MaxRequestBody: what SQS says of a batch or a
// message that is too long.
func tooLarge(r *http.Request, prefix []byte) error {
	if strings.Contains(r.Header.Get("X-Amz-Target"), "Batch") || strings.Contains(r.URL.RawQuery, "Batch") ||
		bytes.Contains(prefix, []byte("Action=SendMessageBatch")) || bytes.Contains(prefix, []byte("SendMessageBatchRequestEntry.")) {
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

// caller describes the request's sender as the request says: the access key comes from a SigV4
// Authorization header or a presigned X-Amz-Credential parameter. Without a Verifier that is
// all; with one, serve replaces it with the verified credential.
func (h *Handler) caller(r *http.Request) *queue.Caller {
	c := &queue.Caller{Account: h.o.Account, Region: h.o.Region, SenderID: h.o.Account,
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

// Run serves on ln until ctx is cancelled, with the default ServeOptions and the given grace.
func Run(ctx context.Context, ln net.Listener, handler http.Handler, svc *queue.Service, grace time.Duration, log *slog.Logger) error {
	return Serve(ctx, ln, handler, svc, ServeOptions{Grace: grace, Logger: log})
}

// ServeOptions are the connection-level limits of Serve. Zero values take the defaults below.
type ServeOptions struct {
	// Grace bounds how long shutdown waits for requests in progress (default 25 s).
	Grace time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (default 10 s): a client that
	// trickles its headers (slowloris) is cut off then.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default 60 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of its response
	// (default 60 s; it must exceed the 20-second maximum long poll).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long (default 120 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (default 64 KiB).
	MaxHeaderBytes int
	// MaxConns caps the open connections (default 4096; negative: no cap). When it is
	// reached, new connections wait in the kernel's accept queue until one closes.
	MaxConns int
	// TLS, when set, serves HTTPS.
	TLS    *tls.Config
	Logger *slog.Logger
}

// Defaults of ServeOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 4096
	DefaultGrace             = 25 * time.Second
)

func (o *ServeOptions) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Grace, DefaultGrace)
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Serve serves on ln until ctx is cancelled, then stops accepting, answers waiting long polls,
// waits for requests in progress (up to o.Grace) and returns.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, svc *queue.Service, o ServeOptions) error {
	o.setDefaults()
	log := o.Logger
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if o.MaxConns > 0 {
		ln = LimitListener(ln, o.MaxConns)
	}
	if o.TLS != nil {
		srv.TLSConfig = o.TLS
		ln = tls.NewListener(ln, o.TLS)
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
	sctx, cancel := context.WithTimeout(context.Background(), o.Grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
