package push

import (
	"context"
	"sync"
	"time"

	"sluice/internal/clock"
)

// limiter is a token bucket on an injected clock, with an effective rate that 429/503 answers
// lower (never above the configured rate) and a pause until a Retry-After instant. The rate
// recovers gradually: each successful delivery raises it by a twentieth of the configured rate.
type limiter struct {
	clk clock.Clock

	mu      sync.Mutex
	rate    float64   // guarded by mu: configured rate
	burst   float64   // guarded by mu
	eff     float64   // guarded by mu: effective rate, 0 < eff <= rate
	tokens  float64   // guarded by mu
	last    time.Time // guarded by mu: time of the last refill
	until   time.Time // guarded by mu: no token is given before this instant
	changed chan struct{}
}

func newLimiter(clk clock.Clock, rate float64, burst int) *limiter {
	return &limiter{clk: clk, rate: rate, burst: float64(burst), eff: rate, tokens: float64(burst), last: clk.Now(), changed: make(chan struct{})}
}

// refillLocked adds the tokens earned since the last refill.
func (l *limiter) refillLocked(now time.Time) {
	if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.eff)
		l.last = now
	}
}

// wait takes one token, waiting for it as long as needed.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := l.clk.Now()
		var at time.Time
		if now.Before(l.until) {
			at = l.until
		} else {
			l.refillLocked(now)
			if l.tokens >= 1 {
				l.tokens--
				l.mu.Unlock()
				return nil
			}
			at = now.Add(time.Duration((1 - l.tokens) / l.eff * float64(time.Second)))
			if !at.After(now) {
				at = now.Add(time.Nanosecond)
			}
		}
		changed := l.changed
		l.mu.Unlock()
		t := clock.NewTimerAt(l.clk, at)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C():
		}
	}
}

// take takes up to n tokens available now, without waiting, and returns how many it took.
func (l *limiter) take(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	if now.Before(l.until) {
		return 0
	}
	l.refillLocked(now)
	k := min(n, int(l.tokens))
	l.tokens -= float64(k)
	return max(k, 0)
}

// refund gives back n unused tokens.
func (l *limiter) refund(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = min(l.burst, l.tokens+float64(n))
}

// throttled lowers the effective rate by half (to no less than a hundredth of the configured
// rate) and pauses until until.
func (l *limiter) throttled(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refillLocked(l.clk.Now())
	l.eff = max(l.eff/2, l.rate/100)
	l.tokens = min(l.tokens, 0)
	if until.After(l.until) {
		l.until = until
	}
	l.signalLocked()
}

// succeeded raises the effective rate gradually back to the configured rate.
func (l *limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.eff < l.rate {
		l.refillLocked(l.clk.Now())
		l.eff = min(l.rate, l.eff+l.rate/20)
	}
}

// state returns the effective rate and the end of the pause.
func (l *limiter) state() (float64, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.eff, l.until
}

func (l *limiter) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}
