package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"ttobot/internal/clock"
	"ttobot/internal/outbox"
	"ttobot/internal/slack"
	"ttobot/internal/slacktest"
	"ttobot/internal/store"
)

type bundle struct {
	clk   *clock.Fake
	slack *slacktest.Server
	store *store.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	clk := clock.NewFake(time.Date(2024, 10, 13, 23, 0, 0, 0, time.UTC))
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &bundle{clk: clk, slack: slacktest.New(t, "xoxb", clk), store: st}
}

func (b *bundle) dispatcher(hook func(outbox.Stage, *store.OutboxItem) error) *outbox.Dispatcher {
	return &outbox.Dispatcher{Store: b.store, Slack: &slack.Client{BaseURL: b.slack.APIURL(), Token: "xoxb"}, Clock: b.clk,
		Interval: time.Second, Hook: hook}
}

func (b *bundle) add(t *testing.T, channel string, n int) {
	t.Helper()
	for i := range n {
		if err := b.store.AddOutbox(context.Background(), &store.OutboxItem{Channel: channel, Text: fmt.Sprintf("%s-%d", channel, i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func texts(calls []slacktest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Str("text"))
	}
	return out
}

func step(t *testing.T, d *outbox.Dispatcher) time.Duration {
	t.Helper()
	w, err := d.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// One post per channel per interval, channels independent, in order.
func TestPacing(t *testing.T) {
	b := setup(t)
	b.add(t, "CA", 3)
	b.add(t, "CB", 1)
	d := b.dispatcher(nil)
	step(t, d)
	if got := texts(b.slack.Calls("chat.postMessage")); len(got) != 2 {
		t.Fatalf("first step posted %v", got)
	}
	if w := step(t, d); len(b.slack.Calls("chat.postMessage")) != 2 || w != time.Second {
		t.Fatalf("posted again within the interval (wait %v)", w)
	}
	b.clk.Advance(999 * time.Millisecond)
	step(t, d)
	if n := len(b.slack.Calls("chat.postMessage")); n != 2 {
		t.Fatalf("posted before the interval ended: %d", n)
	}
	b.clk.Advance(time.Millisecond)
	step(t, d)
	b.clk.Advance(time.Second)
	step(t, d)
	calls := b.slack.Calls("chat.postMessage")
	var ca []slacktest.Call
	for _, c := range calls {
		if c.Str("channel") == "CA" {
			ca = append(ca, c)
		}
	}
	if fmt.Sprint(texts(ca)) != "[CA-0 CA-1 CA-2]" {
		t.Fatalf("channel CA got %v", texts(ca))
	}
	for i := 1; i < len(ca); i++ {
		if gap := ca[i].At.Sub(ca[i-1].At); gap < time.Second {
			t.Fatalf("posts %d and %d to CA %v apart", i-1, i, gap)
		}
	}
	n, _ := b.store.OutboxCounts(context.Background())
	if n[store.OutboxSent] != 4 {
		t.Fatalf("outbox %v", n)
	}
}

// A 429 pauses the channel for Retry-After; the announcement is posted once afterwards.
func TestRetryAfter(t *testing.T) {
	b := setup(t)
	b.add(t, "CA", 1)
	b.add(t, "CB", 1)
	b.slack.Fail("chat.postMessage", slacktest.Fault{Status: 429, RetryAfter: 7})
	d := b.dispatcher(nil)
	step(t, d) // one of the channels got the 429
	posted := map[string]bool{}
	for _, c := range b.slack.Calls("chat.postMessage") {
		posted[c.Str("channel")] = true
	}
	if len(posted) != 2 {
		t.Fatalf("both channels should have tried: %v", posted)
	}
	for _, sec := range []time.Duration{1, 3, 6} {
		b.clk.Set(time.Date(2024, 10, 13, 23, 0, 0, 0, time.UTC).Add(sec * time.Second))
		step(t, d)
	}
	if n := len(b.slack.Calls("chat.postMessage")); n != 2 {
		t.Fatalf("posted during Retry-After: %d calls", n)
	}
	b.clk.Set(time.Date(2024, 10, 13, 23, 0, 7, 0, time.UTC))
	step(t, d)
	calls := b.slack.Calls("chat.postMessage")
	if len(calls) != 3 || calls[2].At.Sub(calls[0].At) < 7*time.Second {
		t.Fatalf("retry: %d calls, last at %v", len(calls), calls[len(calls)-1].At)
	}
	n, _ := b.store.OutboxCounts(context.Background())
	if n[store.OutboxSent] != 2 {
		t.Fatalf("outbox %v", n)
	}
}

var errCrash = errors.New("simulated crash")

// A crash between "posted" and "marked" never posts twice; a crash between "claimed" and
// "posted" still posts once.
func TestCrashNeverPostsTwice(t *testing.T) {
	for _, stage := range []outbox.Stage{outbox.StagePosted, outbox.StageClaimed} {
		t.Run(string(stage), func(t *testing.T) {
			b := setup(t)
			b.add(t, "CA", 2)
			crashed := false
			d1 := b.dispatcher(func(s outbox.Stage, it *store.OutboxItem) error {
				if s == stage && !crashed {
					crashed = true
					return errCrash
				}
				return nil
			})
			if _, err := d1.Step(context.Background()); !errors.Is(err, errCrash) {
				t.Fatalf("Step = %v", err)
			}
			// A new process over the same store.
			d2 := b.dispatcher(nil)
			if err := d2.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			for range 4 {
				step(t, d2)
				b.clk.Advance(time.Second)
			}
			if got := texts(b.slack.Calls("chat.postMessage")); fmt.Sprint(got) != "[CA-0 CA-1]" {
				t.Fatalf("posts: %v", got)
			}
			n, _ := b.store.OutboxCounts(context.Background())
			if n[store.OutboxSent] != 2 || len(n) != 1 {
				t.Fatalf("outbox %v", n)
			}
			if stage == outbox.StagePosted && len(b.slack.Calls("conversations.history")) == 0 {
				t.Fatal("recovery did not look at the channel history")
			}
		})
	}
}

// A permanent error gives up after MaxAttempts without posting.
func TestPermanentFailure(t *testing.T) {
	b := setup(t)
	b.add(t, "CGONE", 1)
	b.slack.Fail("chat.postMessage", slacktest.Fault{Code: "channel_not_found"}, slacktest.Fault{Code: "channel_not_found"})
	d := b.dispatcher(nil)
	d.MaxAttempts = 2
	step(t, d)
	b.clk.Advance(time.Minute)
	step(t, d)
	n, _ := b.store.OutboxCounts(context.Background())
	if n[store.OutboxFailed] != 1 {
		t.Fatalf("outbox %v", n)
	}
}
