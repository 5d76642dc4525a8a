// Package outbox posts ttobot's announcements to Slack from the store's outbox table: at most
// one post per channel per interval, pausing a channel for as long as Slack's 429 Retry-After
// says, and never posting an announcement twice, even when the process dies between the post
// and the mark. Every post carries its outbox id in the message metadata; an announcement
// found claimed at start-up is looked up in the channel's history before it is posted again.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"ttobot/internal/clock"
	"ttobot/internal/slack"
	"ttobot/internal/store"
)

// MetadataEventType marks ttobot's announcements in Slack message metadata.
const MetadataEventType = "ttobot_announcement"

// Slack is the part of the Web API the dispatcher uses.
type Slack interface {
	PostMessage(ctx context.Context, m *slack.Message) (string, error)
	History(ctx context.Context, channel string, oldest time.Time) ([]slack.HistoryMessage, error)
}

// Stage names a point in posting one announcement, for fault injection in tests.
type Stage string

// Stages passed to Dispatcher.Hook.
const (
	StageClaimed Stage = "claimed" // claim committed, nothing posted yet
	StagePosted  Stage = "posted"  // Slack accepted the post, not yet marked sent
)

// Dispatcher posts due announcements.
type Dispatcher struct {
	Store       *store.Store
	Slack       Slack
	Clock       clock.Clock
	Log         *slog.Logger
	Interval    time.Duration // minimum gap between two posts to one channel; 1s when zero
	MaxAttempts int           // attempts before an announcement fails for good; 10 when zero
	// Hook, when set, runs at each Stage; an error stops the dispatcher there as a crash would.
	Hook func(Stage, *store.OutboxItem) error

	mu   sync.Mutex
	next map[string]time.Time // guarded by mu: earliest next post per channel
	wake chan struct{}
	once sync.Once
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.next = map[string]time.Time{}
		d.wake = make(chan struct{}, 1)
		if d.Interval <= 0 {
			d.Interval = time.Second
		}
		if d.MaxAttempts <= 0 {
			d.MaxAttempts = 10
		}
		if d.Log == nil {
			d.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Notify wakes a running dispatcher: new announcements are waiting.
func (d *Dispatcher) Notify() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) hook(st Stage, it *store.OutboxItem) error {
	if d.Hook == nil {
		return nil
	}
	return d.Hook(st, it)
}

// Recover settles announcements left claimed by an earlier run: one whose post is found in
// the channel's history is marked sent, any other goes back to pending.
func (d *Dispatcher) Recover(ctx context.Context) error {
	d.init()
	items, err := d.Store.PostingOutbox(ctx)
	if err != nil {
		return fmt.Errorf("outbox: recover: %w", err)
	}
	for i := range items {
		it := &items[i]
		msgs, err := d.Slack.History(ctx, it.Channel, it.ClaimedAt.Add(-time.Minute))
		if err != nil {
			return fmt.Errorf("outbox: recover %d: history: %w", it.ID, err)
		}
		ts := ""
		for _, m := range msgs {
			if m.Metadata != nil && m.Metadata.EventType == MetadataEventType && m.Metadata.EventPayload["outbox_id"] == strconv.FormatInt(it.ID, 10) {
				ts = m.TS
				break
			}
		}
		if ts != "" {
			d.Log.Info("announcement found posted after a stop", "outbox_id", it.ID, "channel", it.Channel, "ts", ts)
			if err := d.Store.SentOutbox(ctx, it, ts); err != nil {
				return fmt.Errorf("outbox: recover %d: %w", it.ID, err)
			}
			continue
		}
		d.Log.Info("announcement claimed but not posted before a stop; will post", "outbox_id", it.ID, "channel", it.Channel)
		if err := d.Store.ReleaseOutbox(ctx, it.ID, d.Clock.Now(), "released after restart"); err != nil {
			return fmt.Errorf("outbox: recover %d: %w", it.ID, err)
		}
	}
	return nil
}

// Step posts, for each channel that may post now, its oldest due announcement; channels post
// in parallel. It returns how long until a channel it saw waiting may post again (at most a
// second) and the first error that stops dispatching (a store failure or a Hook error).
func (d *Dispatcher) Step(ctx context.Context) (time.Duration, error) {
	d.init()
	now := d.Clock.Now()
	due, err := d.Store.DueOutbox(ctx, now, 1000)
	if err != nil {
		return time.Second, fmt.Errorf("outbox: step: %w", err)
	}
	wait := time.Second
	picked := map[string]*store.OutboxItem{}
	var order []*store.OutboxItem
	d.mu.Lock()
	for i := range due {
		it := &due[i]
		if _, ok := picked[it.Channel]; ok {
			continue
		}
		if nx := d.next[it.Channel]; nx.After(now) {
			wait = min(wait, nx.Sub(now))
			picked[it.Channel] = nil
			continue
		}
		picked[it.Channel] = it
		order = append(order, it)
	}
	d.mu.Unlock()
	if len(order) == 0 {
		return wait, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(order))
	for i, it := range order {
		wg.Go(func() { errs[i] = d.post(ctx, it) })
	}
	wg.Wait()
	return min(wait, d.Interval), errors.Join(errs...)
}

func (d *Dispatcher) setNext(channel string, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.After(d.next[channel]) {
		d.next[channel] = t
	}
}

func (d *Dispatcher) post(ctx context.Context, it *store.OutboxItem) error {
	now := d.Clock.Now()
	if err := d.Store.ClaimOutbox(ctx, it.ID, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("outbox: claim %d: %w", it.ID, err)
	}
	if err := d.hook(StageClaimed, it); err != nil {
		return err
	}
	msg := &slack.Message{
		Channel: it.Channel,
		Text:    it.Text,
		Metadata: &slack.Metadata{
			EventType:    MetadataEventType,
			EventPayload: map[string]string{"outbox_id": strconv.FormatInt(it.ID, 10), "content_id": it.ContentID},
		},
	}
	if len(it.Blocks) > 0 && string(it.Blocks) != "[]" {
		var blocks []any
		if err := json.Unmarshal(it.Blocks, &blocks); err == nil {
			msg.Blocks = blocks
		}
	}
	ts, err := d.Slack.PostMessage(ctx, msg)
	d.setNext(it.Channel, d.Clock.Now().Add(d.Interval))
	if err != nil {
		return d.failed(ctx, it, err)
	}
	if err := d.hook(StagePosted, it); err != nil {
		return err
	}
	if err := d.Store.SentOutbox(ctx, it, ts); err != nil {
		return fmt.Errorf("outbox: mark %d sent: %w", it.ID, err)
	}
	d.Log.Debug("announcement posted", "outbox_id", it.ID, "channel", it.Channel, "ts", ts)
	return nil
}

// failed handles a post Slack refused: nothing was posted, so the item goes back to pending.
func (d *Dispatcher) failed(ctx context.Context, it *store.OutboxItem, cause error) error {
	now := d.Clock.Now()
	var rl *slack.RateLimitedError
	switch {
	case errors.As(cause, &rl):
		until := now.Add(rl.RetryAfter)
		d.setNext(it.Channel, until)
		d.Log.Info("slack rate limited a channel", "channel", it.Channel, "retry_after", rl.RetryAfter)
		if err := d.Store.ReleaseOutbox(ctx, it.ID, until, cause.Error()); err != nil {
			return fmt.Errorf("outbox: release %d: %w", it.ID, err)
		}
		return nil
	case it.Attempts+1 >= d.MaxAttempts:
		d.Log.Error("announcement failed for good", "outbox_id", it.ID, "channel", it.Channel, "err", cause)
		if err := d.Store.FailOutbox(ctx, it.ID, cause.Error()); err != nil {
			return fmt.Errorf("outbox: fail %d: %w", it.ID, err)
		}
		return nil
	default:
		backoff := time.Duration(1<<min(it.Attempts, 8)) * time.Second
		d.Log.Warn("announcement post failed; will retry", "outbox_id", it.ID, "channel", it.Channel, "in", backoff, "err", cause)
		if err := d.Store.ReleaseOutbox(ctx, it.ID, now.Add(backoff), cause.Error()); err != nil {
			return fmt.Errorf("outbox: release %d: %w", it.ID, err)
		}
		return nil
	}
}

// Run recovers, then posts until ctx ends. Store errors are logged and retried.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.init()
	for {
		err := d.Recover(ctx)
		if err == nil {
			break
		}
		d.Log.Warn("outbox recovery failed; retrying", "err", err)
		if !sleep(ctx, time.Second, nil) {
			return ctx.Err()
		}
	}
	for {
		wait, err := d.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d.Log.Error("outbox step failed", "err", err)
			wait = time.Second
		}
		if !sleep(ctx, wait, d.wake) {
			return ctx.Err()
		}
	}
}

// sleep waits for d, a wake-up or the end of ctx; false means ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
