package cohort

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func roster(t *testing.T, due ...string) *Roster {
	t.Helper()
	r, err := Parse([]byte(`{"cohort":{"name":"10기","start_date":"2024-09-29","due_dates":["` + strings.Join(due, `","`) +
		`"],"categories":["기타"]},"members":[{"user_id":"U1","name":"김글또","channel_id":"C1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundAt(t *testing.T) {
	r := roster(t, "2024-10-13", "2024-10-27", "2024-11-10", "2024-11-24", "2024-12-08", "2024-12-22")
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		at   time.Time
		want int // 0: ErrNotInSchedule
	}{
		{"on the start date (round 0) no round", utc("2024-09-29T10:00:00Z"), 0},
		{"first minute after the start date", utc("2024-09-29T15:00:00Z"), 1},
		{"last millisecond of the due Sunday, KST", utc("2024-10-13T14:59:59.999Z"), 1},
		{"midnight after the due Sunday, KST", utc("2024-10-13T15:00:00.000Z"), 2},
		{"due Sunday afternoon in UTC is already Monday in Seoul", utc("2024-10-27T16:00:00Z"), 3},
		{"the same instant in another zone", utc("2024-10-13T14:59:59Z").In(time.FixedZone("PST", -8*3600)), 1},
		{"last due date, 23:59:59 KST", utc("2024-12-22T14:59:59Z"), 6},
		{"after the last due date", utc("2024-12-22T15:00:00Z"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Cohort.RoundAt(tt.at)
			if tt.want == 0 {
				if !errors.Is(err, ErrNotInSchedule) {
					t.Fatalf("RoundAt = %v, %v; want ErrNotInSchedule", got, err)
				}
				return
			}
			if err != nil || got.N != tt.want {
				t.Fatalf("RoundAt = %v, %v; want round %d", got, err, tt.want)
			}
		})
	}
}

// TestRoundsRenumberAfterEdit: deleting a due date (an extension) merges two rounds and
// renumbers the later ones (spec T19).
func TestRoundsRenumberAfterEdit(t *testing.T) {
	before := roster(t, "2024-11-24", "2024-12-08", "2024-12-22", "2025-01-05")
	after := roster(t, "2024-11-24", "2024-12-22", "2025-01-05")
	early := time.Date(2024, 12, 5, 12, 0, 0, 0, Seoul) // was round 2
	late := time.Date(2024, 12, 15, 12, 0, 0, 0, Seoul) // was round 3
	next := time.Date(2024, 12, 30, 12, 0, 0, 0, Seoul) // was round 4
	for _, c := range []struct {
		r    *Roster
		at   time.Time
		want int
	}{{before, early, 2}, {before, late, 3}, {before, next, 4}, {after, early, 2}, {after, late, 2}, {after, next, 3}} {
		got, err := c.r.Cohort.RoundAt(c.at)
		if err != nil || got.N != c.want {
			t.Errorf("RoundAt(%v) = %v, %v; want %d", c.at, got, err, c.want)
		}
	}
	r, _ := after.Cohort.RoundAt(late)
	if r.DueLabel() != "2024-12-22(일)" {
		t.Errorf("due label %q", r.DueLabel())
	}
}

func TestParseRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"dates out of order": `{"cohort":{"name":"x","start_date":"2024-09-29","due_dates":["2024-10-27","2024-10-13"],"categories":["a"]}}`,
		"no due dates":       `{"cohort":{"name":"x","start_date":"2024-09-29","due_dates":[],"categories":["a"]}}`,
		"no categories":      `{"cohort":{"name":"x","start_date":"2024-09-29","due_dates":["2024-10-13"]}}`,
		"member twice": `{"cohort":{"name":"x","start_date":"2024-09-29","due_dates":["2024-10-13"],"categories":["a"]},
			"members":[{"user_id":"U1","channel_id":"C"},{"user_id":"U1","channel_id":"C"}]}`,
		"bad date": `{"cohort":{"name":"x","start_date":"29/09/2024","due_dates":["2024-10-13"],"categories":["a"]}}`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}
