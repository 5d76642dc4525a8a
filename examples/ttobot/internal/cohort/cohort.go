// Package cohort holds the community's roster: the cohort's schedule of due dates (rounds are
// positions in that list, in Asia/Seoul time) and its members, loaded from a JSON file that
// admins edit.
package cohort

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
	_ "time/tzdata" // Asia/Seoul must load on machines without a zoneinfo database
)

// ErrNotInSchedule means a time falls before the first round or after the last due date.
var ErrNotInSchedule = errors.New("cohort: not a submission period")

// Seoul is Asia/Seoul (KST, UTC+9, no daylight saving).
var Seoul = mustLoad("Asia/Seoul")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded: this cannot fail
	}
	return loc
}

const dateLayout = "2006-01-02"

// Schedule is a cohort: its start (round 0) and its due dates (rounds 1..n).
type Schedule struct {
	Name       string   `json:"name"`
	StartDate  string   `json:"start_date"`
	DueDates   []string `json:"due_dates"`
	MaxPass    int      `json:"max_pass"`
	Categories []string `json:"categories"`

	start time.Time   // midnight KST after StartDate: round 1 begins
	dueAt []time.Time // dueAt[i] = (DueDates[i] + 1 day) 00:00 KST, exclusive end of round i+1
}

// Round is one round of the schedule.
type Round struct {
	N   int       // 1-based position in the due-date list
	Due time.Time // the due date, 00:00 KST of that day (the round ends 24 hours later)
}

// DueLabel formats the due date for people, e.g. "2024-10-13(일)".
func (r Round) DueLabel() string {
	days := [...]string{"일", "월", "화", "수", "목", "금", "토"}
	return r.Due.Format(dateLayout) + "(" + days[r.Due.Weekday()] + ")"
}

func (s *Schedule) prepare() error {
	st, err := time.ParseInLocation(dateLayout, s.StartDate, Seoul)
	if err != nil {
		return fmt.Errorf("cohort %q: start_date: %w", s.Name, err)
	}
	s.start = st.AddDate(0, 0, 1)
	s.dueAt = s.dueAt[:0]
	prev := s.start
	for _, d := range s.DueDates {
		t, err := time.ParseInLocation(dateLayout, d, Seoul)
		if err != nil {
			return fmt.Errorf("cohort %q: due date: %w", s.Name, err)
		}
		end := t.AddDate(0, 0, 1)
		if !end.After(prev) {
			return fmt.Errorf("cohort %q: due date %s is not after the previous one or the start", s.Name, d)
		}
		s.dueAt = append(s.dueAt, end)
		prev = end
	}
	if len(s.dueAt) == 0 {
		return fmt.Errorf("cohort %q: no due dates", s.Name)
	}
	if s.MaxPass <= 0 {
		s.MaxPass = 2
	}
	return nil
}

// RoundAt returns the round that time t (any zone) falls in: the first due date whose end
// of day in KST is after t. Before the start or after the last due date it returns
// ErrNotInSchedule.
func (s *Schedule) RoundAt(t time.Time) (Round, error) {
	if t.Before(s.start) {
		return Round{}, fmt.Errorf("%w: %s is before round 1", ErrNotInSchedule, t.In(Seoul).Format(time.DateTime))
	}
	i, _ := slices.BinarySearchFunc(s.dueAt, t, func(end, t time.Time) int {
		if !end.After(t) {
			return -1
		}
		return 1
	})
	if i >= len(s.dueAt) {
		return Round{}, fmt.Errorf("%w: %s is after the last due date", ErrNotInSchedule, t.In(Seoul).Format(time.DateTime))
	}
	return Round{N: i + 1, Due: s.dueAt[i].AddDate(0, 0, -1)}, nil
}

// Member is one registered member.
type Member struct {
	UserID      string `json:"user_id"`
	Name        string `json:"name"`
	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name"`
	Admin       bool   `json:"admin,omitempty"`
}

// Roster is the whole file: the cohort, its members and where admin notices go.
type Roster struct {
	Cohort         Schedule `json:"cohort"`
	AdminChannelID string   `json:"admin_channel_id"`
	SupportChannel string   `json:"support_channel"`
	Members        []Member `json:"members"`

	byID map[string]*Member
}

// Member returns the member with Slack user id id.
func (r *Roster) Member(id string) (*Member, bool) {
	m, ok := r.byID[id]
	return m, ok
}

// Parse reads a roster from JSON and checks it.
func Parse(data []byte) (*Roster, error) {
	var r Roster
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("cohort: roster: %w", err)
	}
	if err := r.Cohort.prepare(); err != nil {
		return nil, err
	}
	if len(r.Cohort.Categories) == 0 {
		return nil, fmt.Errorf("cohort %q: no categories", r.Cohort.Name)
	}
	r.byID = make(map[string]*Member, len(r.Members))
	for i := range r.Members {
		m := &r.Members[i]
		if m.UserID == "" || (m.ChannelID == "" && !m.Admin) {
			return nil, fmt.Errorf("cohort: member %d (%q) needs user_id and channel_id", i, m.Name)
		}
		if _, dup := r.byID[m.UserID]; dup {
			return nil, fmt.Errorf("cohort: member %s listed twice", m.UserID)
		}
		r.byID[m.UserID] = m
	}
	return &r, nil
}

// Load reads a roster file.
func Load(path string) (*Roster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cohort: %w", err)
	}
	return Parse(data)
}
