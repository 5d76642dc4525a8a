package bot

import (
	"errors"
	"slices"
	"testing"
	"time"

	"ttobot/internal/cohort"
	"ttobot/internal/store"
)

func TestValidateSubmitURL(t *testing.T) {
	tests := []struct {
		url, title string
		want       error
	}{
		{"https://blog.example.com/post/1", "", nil},
		{"blog.example.com/post/1", "", nil},
		{"http://velog.io/@me/글", "", nil},
		{"not a url", "", ErrBadURL},
		{"https://localhost/post", "", ErrBadURL},
		{"ftp://example.com/x", "", ErrBadURL},
		{"https://me.tistory.com/manage/posts/", "", ErrNotAPost},
		{"https://blog.naver.com/PostView.naver?redirect=Dlog", "title", ErrNotAPost},
		{"https://www.notion.so/my-post-123", "", ErrTitleRequired},
		{"https://www.notion.so/my-post-123", "내 글", nil},
		{"https://me.oopy.io/post", "", ErrTitleRequired},
		{"https://me.site/post", "", ErrTitleRequired},
		{"https://blog.naver.com/me/123", "", ErrTitleRequired},
		{"https://blog.naver.com/me/123", "  ", ErrTitleRequired},
		{"https://blog.naver.com/me/123", "제목", nil},
	}
	for _, tt := range tests {
		err := ValidateSubmitURL(tt.url, tt.title)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidateSubmitURL(%q, %q) = %v, want %v", tt.url, tt.title, err, tt.want)
		}
		var re *RuleError
		if err != nil && (!errors.As(err, &re) || re.Msg == "") {
			t.Errorf("%q: refusal without a message: %v", tt.url, err)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	same := [][]string{
		{"https://Blog.Example.com/post/1/", "http://blog.example.com/post/1", "blog.example.com/post/1?utm_source=slack&fbclid=x", "https://blog.example.com/post/1#comments"},
		{"https://x.com/p?id=2&utm_medium=a", "x.com/p?id=2"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if a, b := NormalizeURL(group[0]), NormalizeURL(u); a != b {
				t.Errorf("NormalizeURL(%q) = %q but NormalizeURL(%q) = %q", group[0], a, u, b)
			}
		}
	}
	if NormalizeURL("https://x.com/p?id=2") == NormalizeURL("https://x.com/p?id=3") {
		t.Error("different posts normalised to one key")
	}
}

func TestParseTags(t *testing.T) {
	tests := map[string][]string{
		"a, b ,a,":       {"a", "b"},
		"":               nil,
		" , ,":           nil,
		"#go, Go,#go":    {"go", "Go"},
		"스프링,  자바 , 스프링": {"스프링", "자바"},
	}
	for in, want := range tests {
		if got := ParseTags(in); !slices.Equal(got, want) {
			t.Errorf("ParseTags(%q) = %q, want %q", in, got, want)
		}
	}
}

func testSchedule(t *testing.T) *cohort.Roster {
	t.Helper()
	r, err := cohort.Parse([]byte(`{"cohort":{"name":"10기","start_date":"2024-09-29","max_pass":2,
		"due_dates":["2024-10-13","2024-10-27","2024-11-10","2024-11-24","2024-12-08","2024-12-22"],"categories":["기타"]},
		"admin_channel_id":"CADMIN","members":[{"user_id":"U1","name":"김글또","channel_id":"C1","channel_name":"backend"},
		{"user_id":"UA","name":"운영진","admin":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// inRound is a time in round n of testSchedule (the Wednesday before its due date).
func inRound(n int) time.Time {
	due := []string{"2024-10-13", "2024-10-27", "2024-11-10", "2024-11-24", "2024-12-08", "2024-12-22"}[n-1]
	d, _ := time.ParseInLocation("2006-01-02", due, cohort.Seoul)
	return d.AddDate(0, 0, -4).Add(12 * time.Hour)
}

func content(kind string, round int) store.Content {
	return store.Content{Kind: kind, ReceivedAt: inRound(round), Round: round, UserID: "U1"}
}

func TestCheckPass(t *testing.T) {
	r := testSchedule(t)
	s := &r.Cohort
	sub, pass := store.KindSubmit, store.KindPass
	tests := []struct {
		name     string
		history  []store.Content
		round    int
		want     error
		wantLeft int
	}{
		{"first pass", nil, 2, nil, 2},
		{"T12: passes in rounds 1 and 3, none left in 5", []store.Content{content(pass, 1), content(sub, 2), content(pass, 3), content(sub, 4)}, 5, ErrNoPassLeft, 0},
		{"T13: pass in round 2, then in round 3", []store.Content{content(sub, 1), content(pass, 2)}, 3, ErrConsecutivePass, 1},
		{"T13: second pass in the same round", []store.Content{content(pass, 2)}, 2, ErrConsecutivePass, 1},
		{"pass two rounds after a pass", []store.Content{content(pass, 1), content(sub, 2)}, 3, nil, 1},
		{"pass two rounds after a pass without a submit in between", []store.Content{content(pass, 1)}, 3, nil, 1},
		{"T14: pass after submitting in the same round", []store.Content{content(sub, 2)}, 2, ErrAlreadySubmitted, 2},
		{"pass after submitting in an earlier round", []store.Content{content(sub, 1)}, 2, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur, err := s.RoundAt(inRound(tt.round))
			if err != nil {
				t.Fatal(err)
			}
			st, err := CheckPass(s, tt.history, cur)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckPass = %v, want %v", err, tt.want)
			}
			if st.Remaining != tt.wantLeft {
				t.Fatalf("remaining = %d, want %d", st.Remaining, tt.wantLeft)
			}
		})
	}
	// T14 the other way round: a submit after a pass in the same round counts as submitted.
	if !SubmittedIn(s, []store.Content{content(pass, 2), content(sub, 2)}, 2) {
		t.Error("submit after a pass in the same round not counted")
	}
}

func TestCheckCommand(t *testing.T) {
	r := testSchedule(t)
	after := time.Date(2024, 12, 23, 0, 0, 0, 0, cohort.Seoul)
	tests := []struct {
		name, user, channel string
		at                  time.Time
		want                error
		round               int
	}{
		{"member in own channel", "U1", "C1", inRound(3), nil, 3},
		{"T15: another member's channel", "U1", "C2", inRound(3), ErrWrongChannel, 0},
		{"T15: unknown user", "U404", "C1", inRound(3), ErrNotMember, 0},
		{"admin anywhere", "UA", "C9", inRound(1), nil, 1},
		{"T11: after the last due date", "U1", "C1", after, ErrNotInSchedule, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, round, err := CheckCommand(r, tt.user, tt.channel, tt.at)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckCommand = %v, want %v", err, tt.want)
			}
			if round.N != tt.round {
				t.Fatalf("round %d, want %d", round.N, tt.round)
			}
		})
	}
}
