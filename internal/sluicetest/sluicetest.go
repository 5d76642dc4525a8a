// Package sluicetest starts in-process Sluice servers on 127.0.0.1 for tests, on each engine,
// with a fake clock, and gives them an aws-sdk-go-v2 SQS client configured as a user would
// configure one: only the endpoint URL changes.
package sluicetest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"sluice/internal/auth"
	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/engine/diskengine"
	"sluice/internal/engine/memengine"
	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
	"sluice/internal/httpserver"
	"sluice/internal/protocol/awsjson"
	"sluice/internal/protocol/awsquery"
	"sluice/internal/queue"
)

// Account is the account id of test servers.
const Account = "000000000000"

// Start is the fake clock's starting time in every test server.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// EngineFactory opens a fresh engine for a test.
type EngineFactory struct {
	Name string
	Open func(t testing.TB) engine.Engine
}

// Engines returns a factory per engine that runs in-process.
func Engines() []EngineFactory {
	return []EngineFactory{
		{Name: "memory", Open: func(testing.TB) engine.Engine { return memengine.New() }},
		{Name: "disk", Open: func(t testing.TB) engine.Engine { return OpenDisk(t, t.TempDir()) }},
		{Name: "postgres", Open: func(t testing.TB) engine.Engine { return OpenPostgres(t, "") }},
	}
}

// OpenPostgres opens a PostgreSQL engine on schema, or on a fresh schema dropped when the test
// ends when schema is empty; it fails the test if PostgreSQL cannot be reached (see pgtest).
// Two engines opened on one schema are two nodes of one cluster.
func OpenPostgres(t testing.TB, schema string) *pgengine.Engine {
	t.Helper()
	return pgtest.Open(t, schema, pgengine.Options{})
}

// OpenDisk opens a disk engine in dir, failing the test on error.
func OpenDisk(t testing.TB, dir string) engine.Engine {
	t.Helper()
	e, err := diskengine.Open(context.Background(), diskengine.Options{Dir: dir})
	if err != nil {
		t.Fatalf("opening disk engine: %v", err)
	}
	return e
}

// Server is a running test server.
type Server struct {
	URL     string
	Clock   *clock.Fake
	Service *queue.Service
	Engine  engine.Engine
	Client  *sqs.Client
	http    *httptest.Server
}

// Options configure NewServer.
type Options struct {
	// Engine defaults to a memory engine.
	Engine engine.Engine
	// KeepEngine leaves the engine open when the server is closed (for restart tests).
	KeepEngine bool
	// Service options other than Engine, Clock and Logger.
	Service queue.Options
	// Credentials turn SigV4 authentication on; the server's Client then signs with the
	// first one. AuthClock is the verifier's clock (default: the real clock, by which the SDK
	// signs; the fake clock drives everything else).
	Credentials []auth.Credential
	AuthClock   clock.Clock
	// HTTP adjusts the handler options (rate limit, ...) before the server starts.
	HTTP func(*httpserver.Options)
}

// NewServer starts a server that is closed when the test ends.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Engine == nil {
		o.Engine = memengine.New()
	}
	fc := clock.NewFake(Start)
	so := o.Service
	so.Engine, so.Clock, so.Logger = o.Engine, fc, slog.New(slog.DiscardHandler)
	if so.SweepEvery == 0 {
		// No background sweeper: its timer would sit on the fake clock beside long polls.
		// Receives still expire messages inline; tests of the sweeper call Sweep.
		so.SweepEvery = -1
	}
	svc := queue.New(so)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatalf("starting the service: %v", err)
	}
	ho := httpserver.Options{
		Service: svc, JSON: awsjson.Codec{}, Query: awsquery.Codec{}, MatchJSON: awsjson.Matches,
		Account: Account, Region: "us-east-1", Clock: fc,
	}
	if len(o.Credentials) > 0 {
		if o.AuthClock == nil {
			o.AuthClock = clock.Real{}
		}
		v, err := auth.New(auth.Options{Credentials: o.Credentials, Region: "us-east-1", Clock: o.AuthClock})
		if err != nil {
			t.Fatalf("credentials: %v", err)
		}
		ho.Verifier = v
	}
	if o.HTTP != nil {
		o.HTTP(&ho)
	}
	hs := httptest.NewServer(httpserver.NewHandler(ho))
	s := &Server{URL: hs.URL, Clock: fc, Service: svc, Engine: o.Engine, http: hs}
	s.Client = NewClient(hs.URL)
	if len(o.Credentials) > 0 {
		s.Client = NewClientFor(hs.URL, o.Credentials[0].AccessKeyID, o.Credentials[0].SecretAccessKey)
	}
	t.Cleanup(func() {
		svc.Close()
		hs.Close()
		if !o.KeepEngine {
			_ = o.Engine.Close()
		}
	})
	return s
}

// Close stops the server early (its engine stays open if KeepEngine was set).
func (s *Server) Close() {
	s.Service.Close()
	s.http.Close()
}

// NewClient returns an SQS client for endpoint, configured as any user would: static
// credentials, a region, and the endpoint URL.
func NewClient(endpoint string) *sqs.Client {
	return NewClientFor(endpoint, "AKIDTEST", "secret")
}

// NewClientFor returns an SQS client for endpoint that signs with the given key.
func NewClientFor(endpoint, accessKeyID, secret string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
	})
}

// QueueURL returns the URL of a queue on s.
func (s *Server) QueueURL(name string) string { return s.URL + "/" + Account + "/" + name }
