package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"sluice/internal/clock"
	"sluice/internal/queue"
)

// Options configure a Manager.
type Options struct {
	Service *queue.Service
	// Account is the account whose queues the manager serves; Region goes into ARNs.
	Account string
	Region  string
	Clock   clock.Clock
	// Client sends the delivery requests (default: a client without its own timeout; each
	// attempt is bounded by the subscription's Timeout).
	Client *http.Client
	Logger *slog.Logger
}

// Manager owns the push subscriptions of one account and runs their dispatchers.
type Manager struct {
	o      Options
	caller *queue.Caller

	mu     sync.Mutex
	subs   map[string]*running // guarded by mu; by queue name
	ctx    context.Context     // guarded by mu: set by Start
	closed bool                // guarded by mu
	// write serialises Put/Delete/SetPaused so that two writers of one subscription's tags do
	// not interleave.
	write sync.Mutex
}

type running struct {
	d      *dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Manager; Start loads the stored subscriptions and starts delivering.
func New(o Options) *Manager {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{o: o, subs: map[string]*running{},
		caller: &queue.Caller{Account: o.Account, Region: o.Region, SenderID: o.Account}}
}

func (m *Manager) queueURL(name string) string { return "/" + m.o.Account + "/" + name }

// Start loads the subscriptions stored on the account's queues and starts their dispatchers,
// which run until ctx ends or Close is called.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	var token string
	for {
		out, err := m.o.Service.ListQueues(ctx, m.caller, &queue.ListQueuesInput{NextToken: token, MaxResults: ptr(int32(1000))})
		if err != nil {
			return fmt.Errorf("listing queues for push subscriptions: %w", err)
		}
		for _, u := range out.QueueUrls {
			name := u[strings.LastIndex(u, "/")+1:]
			sub, err := m.load(ctx, name)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrQueueNotFound) {
				continue
			}
			if err != nil {
				m.o.Logger.Error("push subscription not loaded", "queue", name, "err", err)
				continue
			}
			m.run(sub)
		}
		if out.NextToken == "" {
			return nil
		}
		token = out.NextToken
	}
}

func ptr[T any](v T) *T { return &v }

// load reads a queue's stored subscription.
func (m *Manager) load(ctx context.Context, name string) (*Subscription, error) {
	out, err := m.o.Service.ListQueueTags(ctx, m.caller, &queue.QueueUrlInput{QueueUrl: m.queueURL(name)})
	if err != nil {
		if errors.Is(err, queue.ErrQueueDoesNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrQueueNotFound, name)
		}
		return nil, fmt.Errorf("reading tags of %s: %w", name, err)
	}
	sub, err := decodeTags(out.Tags)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	sub.Queue = name
	if err := sub.Normalize(); err != nil {
		return nil, fmt.Errorf("stored subscription of %s: %w", name, err)
	}
	return sub, nil
}

// run (re)starts the dispatcher of sub.
// Callers of one queue's subscription are serialised by m.write (or, in Start, run alone).
func (m *Manager) run(sub *Subscription) {
	m.mu.Lock()
	old := m.subs[sub.Queue]
	delete(m.subs, sub.Queue)
	m.mu.Unlock()
	if old != nil {
		old.cancel()
		<-old.done // not under m.mu: a dispatcher that ends takes it
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.ctx == nil {
		return
	}
	d := &dispatcher{sub: *sub, svc: m.o.Service, caller: m.caller, url: m.queueURL(sub.Queue), clk: m.o.Clock,
		client: m.o.Client, log: m.o.Logger, lim: newLimiter(m.o.Clock, sub.Rate, sub.Burst),
		slots: make(chan struct{}, sub.Concurrency)}
	if old != nil { // a changed or paused subscription keeps its counts
		d.delivered.Store(old.d.delivered.Load())
		d.failed.Store(old.d.failed.Load())
		old.d.mu.Lock()
		d.lastErr, d.lastErrTime = old.d.lastErr, old.d.lastErrTime
		old.d.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &running{d: d, cancel: cancel, done: make(chan struct{})}
	m.subs[sub.Queue] = r
	go func() {
		defer close(r.done)
		if sub.Paused {
			return
		}
		d.run(ctx)
		if d.gone.Load() {
			// The queue was deleted, and its tags with it: forget the subscription.
			m.o.Logger.Info("push subscription ends: its queue was deleted", "queue", sub.Queue)
			m.mu.Lock()
			if m.subs[sub.Queue] == r {
				delete(m.subs, sub.Queue)
			}
			m.mu.Unlock()
		}
	}()
}

// Put validates sub, stores it on its queue and (re)starts its delivery.
func (m *Manager) Put(ctx context.Context, sub Subscription) (*Subscription, error) {
	if err := sub.Normalize(); err != nil {
		return nil, err
	}
	m.write.Lock()
	defer m.write.Unlock()
	if err := m.store(ctx, &sub); err != nil {
		return nil, err
	}
	m.run(&sub)
	return &sub, nil
}

// Declare makes sub the queue's subscription, as the config file declares it: a subscription
// already stored keeps its paused state, and an identical one is left alone.
func (m *Manager) Declare(ctx context.Context, sub Subscription) error {
	if err := sub.Normalize(); err != nil {
		return err
	}
	cur, err := m.load(ctx, sub.Queue)
	if errors.Is(err, ErrQueueNotFound) {
		return err
	}
	if err == nil {
		sub.Paused = cur.Paused
		if *cur == sub {
			return nil
		}
	}
	// None stored, or one that cannot be read: the declaration replaces it.
	_, err = m.Put(ctx, sub)
	return err
}

// store writes sub's tags and removes chunks left from a longer previous value.
func (m *Manager) store(ctx context.Context, sub *Subscription) error {
	tags, err := encodeTags(sub)
	if err != nil {
		return err
	}
	cur, err := m.o.Service.ListQueueTags(ctx, m.caller, &queue.QueueUrlInput{QueueUrl: m.queueURL(sub.Queue)})
	if err != nil {
		if errors.Is(err, queue.ErrQueueDoesNotExist) {
			return fmt.Errorf("%w: %s", ErrQueueNotFound, sub.Queue)
		}
		return fmt.Errorf("reading tags of %s: %w", sub.Queue, err)
	}
	var stale []string
	for k := range cur.Tags {
		if _, keep := tags[k]; !keep && isChunkKey(k) {
			stale = append(stale, k)
		}
	}
	if len(stale) > 0 {
		if _, err := m.o.Service.UntagQueue(ctx, m.caller, &queue.UntagQueueInput{QueueUrl: m.queueURL(sub.Queue), TagKeys: stale}); err != nil {
			return fmt.Errorf("removing old push tags of %s: %w", sub.Queue, err)
		}
	}
	if _, err := m.o.Service.TagQueue(ctx, m.caller, &queue.TagQueueInput{QueueUrl: m.queueURL(sub.Queue), Tags: tags}); err != nil {
		if errors.Is(err, queue.ErrQueueDoesNotExist) {
			return fmt.Errorf("%w: %s", ErrQueueNotFound, sub.Queue)
		}
		return fmt.Errorf("storing push subscription of %s: %w", sub.Queue, err)
	}
	return nil
}

// Get returns a subscription and its state.
func (m *Manager) Get(ctx context.Context, name string) (*Status, error) {
	m.mu.Lock()
	r := m.subs[name]
	m.mu.Unlock()
	if r == nil {
		// Stored by another process since Start? Report what is stored.
		sub, err := m.load(ctx, name)
		if err != nil {
			return nil, err
		}
		return &Status{Subscription: *sub, CurrentRate: sub.Rate}, nil
	}
	st := r.d.status()
	if st.Paused {
		st.CurrentRate = 0
	}
	return &st, nil
}

// List returns the running subscriptions, by queue name.
func (m *Manager) List() []Status {
	m.mu.Lock()
	var out []Status
	for _, r := range m.subs {
		st := r.d.status()
		if st.Paused {
			st.CurrentRate = 0
		}
		out = append(out, st)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out
}

// Delete removes a queue's subscription and stops its delivery (deliveries in progress are
// abandoned; their messages become visible again after their visibility timeout).
func (m *Manager) Delete(ctx context.Context, name string) error {
	m.write.Lock()
	defer m.write.Unlock()
	cur, err := m.o.Service.ListQueueTags(ctx, m.caller, &queue.QueueUrlInput{QueueUrl: m.queueURL(name)})
	if err != nil && !errors.Is(err, queue.ErrQueueDoesNotExist) {
		return fmt.Errorf("reading tags of %s: %w", name, err)
	}
	m.mu.Lock()
	r := m.subs[name]
	delete(m.subs, name)
	m.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
	var keys []string
	if cur != nil {
		for k := range cur.Tags {
			if isChunkKey(k) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		if r == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return nil
	}
	if _, err := m.o.Service.UntagQueue(ctx, m.caller, &queue.UntagQueueInput{QueueUrl: m.queueURL(name), TagKeys: keys}); err != nil {
		return fmt.Errorf("removing push subscription of %s: %w", name, err)
	}
	return nil
}

// SetPaused pauses or resumes a subscription, durably.
func (m *Manager) SetPaused(ctx context.Context, name string, paused bool) (*Subscription, error) {
	m.write.Lock()
	defer m.write.Unlock()
	sub, err := m.load(ctx, name)
	if err != nil {
		return nil, err
	}
	sub.Paused = paused
	if err := m.store(ctx, sub); err != nil {
		return nil, err
	}
	m.run(sub)
	return sub, nil
}

// Close stops every dispatcher and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	subs := m.subs
	m.subs = map[string]*running{}
	m.mu.Unlock()
	for _, r := range subs {
		r.cancel()
	}
	for _, r := range subs {
		<-r.done
	}
}
