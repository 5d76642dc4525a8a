package bot

import (
	"log/slog"
	"sync/atomic"
	"time"

	"ttobot/internal/clock"
	"ttobot/internal/cohort"
	"ttobot/internal/slack"
	"ttobot/internal/store"
)

// Bot holds what the ingress and the worker share.
type Bot struct {
	Store   *store.Store
	Slack   *slack.Client
	Clock   clock.Clock
	Log     *slog.Logger
	Fetcher TitleFetcher
	// Notify is called after a record commits announcements to the outbox (wakes the dispatcher).
	Notify func()
	// OpenDeadline is how long after receipt a modal may still be opened (the trigger id
	// lives 3 s); later, the member is told to retry. 2.5 s when zero.
	OpenDeadline time.Duration
	// OnEvent handles an Events API event once per event_id; nil only logs it.
	OnEvent func(e *slack.EventEnvelope) error

	roster atomic.Pointer[cohort.Roster]
}

// SetRoster installs (or replaces, after an edit) the members and the schedule.
func (b *Bot) SetRoster(r *cohort.Roster) { b.roster.Store(r) }

// Roster returns the current roster.
func (b *Bot) Roster() *cohort.Roster { return b.roster.Load() }

func (b *Bot) openDeadline() time.Duration {
	if b.OpenDeadline > 0 {
		return b.OpenDeadline
	}
	return 2500 * time.Millisecond
}

func (b *Bot) notify() {
	if b.Notify != nil {
		b.Notify()
	}
}
