// Package metrics exposes Sluice's Prometheus metrics: per queue, the messages visible, in
// flight and delayed and the age of the oldest visible one (read from the engine at scrape
// time, for a bounded number of queues), counters of messages sent, received, deleted,
// dead-lettered and expired and of empty receives (from queue.Service's Observer), per action
// request counts and latencies by outcome (from httpserver's RequestObserver), and the engine's
// storage numbers where it reports them (engine.StorageReporter). Everything is registered on
// the registry given to New: there is no global registry.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/queue"
)

// DefaultMaxQueues is how many queues a scrape reads by default.
const DefaultMaxQueues = 1000

// Options configure Metrics.
type Options struct {
	// Registry receives every metric; Handler serves it.
	Registry *prometheus.Registry
	// Engine is read at scrape time (queue depths, storage).
	Engine engine.Engine
	// LongPolls, when set, reports the receives waiting now.
	LongPolls func() int
	// MaxQueues bounds the queues whose depths one scrape reads (default DefaultMaxQueues), so
	// a scrape costs a bounded amount of work; the first MaxQueues by account and name are
	// read, and sluice_queues still counts them all.
	MaxQueues int
	// ScrapeTimeout bounds the engine reads of one scrape (default 5 s).
	ScrapeTimeout time.Duration
	Clock         clock.Clock
	Logger        *slog.Logger
}

// Metrics holds Sluice's metrics. It implements queue.Observer and httpserver.RequestObserver.
type Metrics struct {
	o Options

	// counters count the events of each kind per queue (all but EventQueueDeleted, which
	// deletes the queue's series).
	counters map[queue.EventKind]*prometheus.CounterVec

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// queueLabels are the labels of per-queue metrics.
var queueLabels = []string{"account", "queue"}

// New creates the metrics and registers them on o.Registry.
func New(o Options) (*Metrics, error) {
	if o.Registry == nil || o.Engine == nil {
		return nil, errors.New("metrics: Registry and Engine are required")
	}
	if o.MaxQueues <= 0 {
		o.MaxQueues = DefaultMaxQueues
	}
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = 5 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, queueLabels)
	}
	m := &Metrics{
		o: o,
		counters: map[queue.EventKind]*prometheus.CounterVec{
			queue.EventSent:         counter("sluice_messages_sent_total", "Messages stored by SendMessage and SendMessageBatch (deduplicated sends not counted)."),
			queue.EventReceived:     counter("sluice_messages_received_total", "Messages handed out by ReceiveMessage."),
			queue.EventDeleted:      counter("sluice_messages_deleted_total", "Successful DeleteMessage and DeleteMessageBatch entries."),
			queue.EventDeadLettered: counter("sluice_messages_dead_lettered_total", "Messages moved to the queue's dead-letter queue after maxReceiveCount receives."),
			queue.EventExpired:      counter("sluice_messages_expired_total", "Messages past the retention period removed by the retention sweeper."),
			queue.EventEmptyReceive: counter("sluice_receives_empty_total", "ReceiveMessage calls that returned no message (after their long poll)."),
			queue.EventPurged:       counter("sluice_queue_purges_total", "PurgeQueue calls that purged the queue."),
		},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_requests_total",
			Help: "SQS API requests by action and outcome (ok, the query protocol error code of a client error, or server_error)."},
			[]string{"action", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_request_duration_seconds",
			Help:    "Time to answer an SQS API request (long polls included), by action and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20}},
			[]string{"action", "outcome"}),
	}
	cs := []prometheus.Collector{m.requests, m.latency, &scrapeCollector{m: m}}
	for _, c := range m.counters {
		cs = append(cs, c)
	}
	for _, c := range cs {
		if err := o.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.o.Registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.o.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Observe implements queue.Observer.
func (m *Metrics) Observe(ev queue.Event) {
	if ev.Kind == queue.EventQueueDeleted {
		// The queue's series go with it (a queue created again starts from zero).
		l := prometheus.Labels{"account": ev.Queue.Account, "queue": ev.Queue.Name}
		for _, c := range m.counters {
			c.DeletePartialMatch(l)
		}
		return
	}
	if c := m.counters[ev.Kind]; c != nil {
		c.WithLabelValues(ev.Queue.Account, ev.Queue.Name).Add(float64(ev.Count))
	}
}

// ObserveRequest implements httpserver.RequestObserver.
func (m *Metrics) ObserveRequest(action, outcome string, d time.Duration) {
	m.requests.WithLabelValues(action, outcome).Inc()
	m.latency.WithLabelValues(action, outcome).Observe(d.Seconds())
}

// scrapeCollector reads queue depths and storage numbers from the engine at scrape time.
type scrapeCollector struct{ m *Metrics }

var (
	descMessages = prometheus.NewDesc("sluice_queue_messages",
		"Messages in the queue by state: visible (receivable now), in_flight (received, not yet deleted or visible again), delayed.",
		[]string{"account", "queue", "state"}, nil)
	descOldest = prometheus.NewDesc("sluice_queue_oldest_message_age_seconds",
		"Age of the oldest message a receive would take now (0 when none is visible).", queueLabels, nil)
	descTenants = prometheus.NewDesc("sluice_queue_tenants",
		"Fair queues (standard queues with group ids): tenants with visible messages.", queueLabels, nil)
	descLargestTenant = prometheus.NewDesc("sluice_queue_largest_tenant_messages",
		"Fair queues: visible messages of the tenant with the largest backlog.", queueLabels, nil)
	descQueues    = prometheus.NewDesc("sluice_queues", "Queues, of every account.", nil, nil)
	descQueuesCut = prometheus.NewDesc("sluice_queues_not_scraped",
		"Queues whose depths this scrape did not read (beyond the per-scrape limit).", nil, nil)
	descLongPolls = prometheus.NewDesc("sluice_long_polls_waiting", "ReceiveMessage calls waiting for messages now.", nil, nil)
	descSize      = prometheus.NewDesc("sluice_storage_size_bytes", "Space the store takes on disk.", nil, nil)
	descSync      = prometheus.NewDesc("sluice_storage_sync_duration_seconds",
		"Duration of the write-ahead log's fsyncs (disk engine).", nil, nil)
	descUp = prometheus.NewDesc("sluice_engine_up", "1 when the last scrape could read the engine, 0 otherwise.", nil, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descOldest, descTenants, descLargestTenant, descQueues, descQueuesCut, descLongPolls, descSize, descSync, descUp} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	ctx, cancel := context.WithTimeout(context.Background(), m.o.ScrapeTimeout)
	defer cancel()
	if m.o.LongPolls != nil {
		ch <- prometheus.MustNewConstMetric(descLongPolls, prometheus.GaugeValue, float64(m.o.LongPolls()))
	}
	qs, err := m.o.Engine.QueueList(ctx, &engine.QueueListParams{})
	if err != nil {
		m.o.Logger.Warn("metrics: listing queues", "err", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descQueues, prometheus.GaugeValue, float64(len(qs)))
	cut := max(len(qs)-m.o.MaxQueues, 0)
	ch <- prometheus.MustNewConstMetric(descQueuesCut, prometheus.GaugeValue, float64(cut))
	now := m.o.Clock.Now()
	for _, q := range qs[:len(qs)-cut] {
		if ctx.Err() != nil {
			break
		}
		st, err := m.o.Engine.QueueStats(ctx, &engine.QueueStatsParams{Key: q.Key, Now: now})
		if err != nil {
			continue // deleted since the list, or the engine failed: leave the queue out
		}
		a, n := q.Key.Account, q.Key.Name
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(st.Visible), a, n, "visible")
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(st.InFlight), a, n, "in_flight")
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(st.Delayed), a, n, "delayed")
		if !q.FIFO {
			ch <- prometheus.MustNewConstMetric(descTenants, prometheus.GaugeValue, float64(st.Tenants), a, n)
			ch <- prometheus.MustNewConstMetric(descLargestTenant, prometheus.GaugeValue, float64(st.LargestTenant), a, n)
		}
		age := 0.0
		if st.Visible > 0 {
			if ms, err := m.o.Engine.MessagePeek(ctx, &engine.MessagePeekParams{QueueID: q.ID, Now: now, Max: 1}); err == nil && len(ms) == 1 {
				age = max(now.Sub(ms[0].Message.SentAt).Seconds(), 0)
			}
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, a, n)
	}
	c.collectStorage(ctx, ch)
}

func (c *scrapeCollector) collectStorage(ctx context.Context, ch chan<- prometheus.Metric) {
	r, ok := c.m.o.Engine.(engine.StorageReporter)
	if !ok {
		return
	}
	st, err := r.StorageStats(ctx)
	if err != nil || st == nil {
		return
	}
	if st.SizeBytes >= 0 {
		ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(st.SizeBytes))
	}
	if h := st.SyncLatency; h != nil {
		buckets := make(map[float64]uint64, len(h.Buckets))
		for _, b := range h.Buckets {
			buckets[b.UpperBound.Seconds()] = b.Count
		}
		ch <- prometheus.MustNewConstHistogram(descSync, h.Count, h.Sum.Seconds(), buckets)
	}
}
