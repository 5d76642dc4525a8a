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
	"time"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/queue"
)

// DefaultReloadEvery is how often, on an engine several processes share, a Manager re-reads the
// stored subscriptions and checks whether this process leads.
const DefaultReloadEvery = 2 * time.Second

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
	// Leader is set when the engine is shared by several processes (engine.Leader, the
	// PostgreSQL engine): the manager then dispatches only while this process leads, so that the
	// configured rate and concurrency hold for the whole cluster, and another process takes
	// over when the leader goes away. Every ReloadEvery it re-reads the subscriptions stored on
	// the queues' tags (set through any process) and follows the lead. Nil: this process alone
	// uses the engine and dispatches every subscription.
	Leader engine.Leader
	// ReloadEvery is how often, with a Leader, the subscriptions are re-read and the lead
	// checked, on Clock (default DefaultReloadEvery).
	ReloadEvery time.Duration
}

// Manager owns the push subscriptions of one account and runs their dispatchers.
type Manager struct {
	o      Options
	caller *queue.Caller

	mu     sync.Mutex
	subs   map[string]*running // guarded by mu; by queue name
	ctx    context.Context     // guarded by mu: set by Start
	closed bool                // guarded by mu
	// leading says whether this process dispatches: always without a Leader, else whether it
	// held the lead at the last check (guarded by mu).
	leading bool
	quit    chan struct{} // closed by Close: ends the reload loop
	loop    sync.WaitGroup
	// write serialises Put/Delete/SetPaused so that two writers of one subscription's tags do
	// not interleave.
	write sync.Mutex
}

// Lock order: write, then mu.

type running struct {
	d      *dispatcher
	cancel context.CancelFunc
	done   chan struct{}
	// active is set when the dispatcher was started (not paused, this process leading); it
	// stays set after the dispatcher ends (see finished).
	active bool
}

// finished reports whether r's goroutine has ended.
func (r *running) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// dispatching reports whether r delivers now.
func (r *running) dispatching() bool { return r.active && !r.finished() }

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
	if o.ReloadEvery <= 0 {
		o.ReloadEvery = DefaultReloadEvery
	}
	return &Manager{o: o, subs: map[string]*running{}, quit: make(chan struct{}),
		caller: &queue.Caller{Account: o.Account, Region: o.Region, SenderID: o.Account}}
}

func (m *Manager) queueURL(name string) string { return "/" + m.o.Account + "/" + name }

// Start loads the subscriptions stored on the account's queues and starts their dispatchers,
// which run until ctx ends or Close is called. With a Leader, it dispatches only if this process
// leads, and starts the loop that re-reads the subscriptions and follows the lead every
// ReloadEvery.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.leading = m.o.Leader == nil || m.o.Leader.Leading()
	m.mu.Unlock()
	m.write.Lock()
	err := m.reloadLocked(ctx)
	m.write.Unlock()
	if err != nil {
		return err
	}
	if m.o.Leader != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.closed {
			m.loop.Add(1)
			go m.follow(ctx)
		}
	}
	return nil
}

// follow, with a Leader, checks the lead and re-reads the stored subscriptions every
// ReloadEvery until ctx ends or Close is called.
func (m *Manager) follow(ctx context.Context) {
	defer m.loop.Done()
	for {
		t := m.o.Clock.NewTimer(m.o.ReloadEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.quit:
			t.Stop()
			return
		case <-t.C():
		}
		lead := m.o.Leader.Leading()
		m.write.Lock()
		m.mu.Lock()
		was := m.leading
		m.leading = lead
		m.mu.Unlock()
		if was != lead {
			if lead {
				m.o.Logger.Info("push: this process leads; it delivers the subscriptions")
			} else {
				m.o.Logger.Info("push: another process leads; it delivers the subscriptions")
			}
		}
		if !lead {
			// Stop at once, whatever the store says: another process dispatches now.
			m.standbyLocked()
		}
		if err := m.reloadLocked(ctx); err != nil && ctx.Err() == nil {
			m.o.Logger.Warn("push: re-reading the subscriptions", "err", err)
		}
		m.write.Unlock()
	}
}

// standbyLocked stops every dispatcher that runs, keeping its subscription and counts. The
// caller holds m.write.
func (m *Manager) standbyLocked() {
	m.mu.Lock()
	var subs []Subscription
	for _, r := range m.subs {
		if r.dispatching() {
			subs = append(subs, r.d.sub)
		}
	}
	m.mu.Unlock()
	for i := range subs {
		m.run(&subs[i])
	}
}

// loadAll reads the subscriptions stored on the account's queues, by queue name. unreadable
// names the queues whose stored value cannot be read (logged).
func (m *Manager) loadAll(ctx context.Context) (subs map[string]*Subscription, unreadable map[string]bool, err error) {
	subs, unreadable = map[string]*Subscription{}, map[string]bool{}
	var token string
	for {
		out, err := m.o.Service.ListQueues(ctx, m.caller, &queue.ListQueuesInput{NextToken: token, MaxResults: ptr(int32(1000))})
		if err != nil {
			return nil, nil, fmt.Errorf("listing queues for push subscriptions: %w", err)
		}
		for _, u := range out.QueueUrls {
			name := u[strings.LastIndex(u, "/")+1:]
			sub, err := m.load(ctx, name)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrQueueNotFound) {
				continue
			}
			if err != nil {
				m.o.Logger.Error("push subscription not loaded", "queue", name, "err", err)
				unreadable[name] = true
				continue
			}
			subs[name] = sub
		}
		if out.NextToken == "" {
			return subs, unreadable, nil
		}
		token = out.NextToken
	}
}

// reloadLocked makes the dispatchers match the stored subscriptions: it starts the new ones,
// restarts the changed ones, stops those no longer stored and, when this process leads,
// restarts those that stopped. A subscription whose stored value cannot be read keeps running
// as it is. The caller holds m.write.
func (m *Manager) reloadLocked(ctx context.Context) error {
	subs, unreadable, err := m.loadAll(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	cur := make(map[string]*running, len(m.subs))
	for k, r := range m.subs {
		cur[k] = r
	}
	leading := m.leading
	m.mu.Unlock()
	for name, sub := range subs {
		r := cur[name]
		if r == nil || r.d.sub != *sub || r.dispatching() != (leading && !sub.Paused) || r.d.standby == leading {
			m.run(sub)
		}
	}
	for name, r := range cur {
		if subs[name] == nil && !unreadable[name] {
			m.stop(name, r)
		}
	}
	return nil
}

// stop stops r, the dispatcher of name, and forgets it.
func (m *Manager) stop(name string, r *running) {
	m.mu.Lock()
	if m.subs[name] == r {
		delete(m.subs, name)
	}
	m.mu.Unlock()
	r.cancel()
	<-r.done
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
		slots: make(chan struct{}, sub.Concurrency), standby: !m.leading}
	if m.o.Leader != nil {
		d.lead = m.o.Leader.Leading
	}
	if old != nil { // a changed or paused subscription keeps its counts
		d.delivered.Store(old.d.delivered.Load())
		d.failed.Store(old.d.failed.Load())
		old.d.mu.Lock()
		d.lastErr, d.lastErrTime = old.d.lastErr, old.d.lastErrTime
		old.d.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &running{d: d, cancel: cancel, done: make(chan struct{}), active: m.leading && !sub.Paused}
	m.subs[sub.Queue] = r
	go func() {
		defer close(r.done)
		if !r.active {
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
	if !m.closed {
		close(m.quit)
	}
	m.closed = true
	m.mu.Unlock()
	m.loop.Wait()
	m.mu.Lock()
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
