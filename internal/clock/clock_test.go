package clock

import (
	"testing"
	"time"
)

// TestNewTimerAt checks that a timer set for an instant fires when the fake clock reaches it,
// however far the clock moved before the timer was set, and at once for a past instant.
func TestNewTimerAt(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	f.Advance(3 * time.Second)
	tm := NewTimerAt(f, start.Add(5*time.Second))
	select {
	case <-tm.C():
		t.Fatal("fired before its instant")
	default:
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("did not fire at its instant")
	}
	select {
	case <-NewTimerAt(f, start).C():
	default:
		t.Fatal("a timer for a past instant did not fire at once")
	}
	// The real clock: an instant in the past fires at once.
	select {
	case <-NewTimerAt(Real{}, time.Now().Add(-time.Second)).C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer for a past instant did not fire")
	}
}
