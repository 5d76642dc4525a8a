// Package bot is ttobot itself: the HTTP ingress that checks, acknowledges and enqueues Slack
// requests, the rules of the community (submission validations, pass limits, rounds), the
// modals it shows and the worker that acts on queued requests.
package bot

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"ttobot/internal/cohort"
	"ttobot/internal/store"
)

// RuleError is a refusal shown to the member; Msg is Korean text for Slack. Two RuleErrors
// match under errors.Is when their Codes are equal, so the sentinels below classify them.
type RuleError struct {
	Code string
	Msg  string
}

func (e *RuleError) Error() string { return e.Code + ": " + e.Msg }

// Is matches on Code.
func (e *RuleError) Is(target error) bool {
	var t *RuleError
	return errors.As(target, &t) && t.Code == e.Code
}

func ruleErr(sentinel *RuleError, format string, args ...any) *RuleError {
	return &RuleError{Code: sentinel.Code, Msg: fmt.Sprintf(format, args...)}
}

// Sentinels for the rules; compare with errors.Is.
var (
	ErrNotMember        = &RuleError{Code: "not_member"}
	ErrWrongChannel     = &RuleError{Code: "wrong_channel"}
	ErrNotInSchedule    = &RuleError{Code: "not_in_schedule"}
	ErrBadURL           = &RuleError{Code: "bad_url"}
	ErrNotAPost         = &RuleError{Code: "not_a_post"}
	ErrTitleRequired    = &RuleError{Code: "title_required"}
	ErrDuplicateURL     = &RuleError{Code: "duplicate_url"}
	ErrBadCategory      = &RuleError{Code: "bad_category"}
	ErrFetch            = &RuleError{Code: "fetch_failed"}
	ErrNoPassLeft       = &RuleError{Code: "no_pass_left"}
	ErrConsecutivePass  = &RuleError{Code: "consecutive_pass"}
	ErrAlreadySubmitted = &RuleError{Code: "already_submitted"}
)

// urlShape is the bot's loose URL check (V1), matched at the start of the input.
var urlShape = regexp.MustCompile(`^((http|https)://)?[a-zA-Z0-9.-]+(\.[a-zA-Z]{2,})`)

// ValidateSubmitURL applies V1 (shape), V3 (links that are not posts) and V4 (hosts that need a
// manual title) to a submitted URL.
func ValidateSubmitURL(raw, manualTitle string) error {
	u := strings.TrimSpace(raw)
	if !urlShape.MatchString(u) {
		return ruleErr(ErrBadURL, "링크가 올바른 URL 형식이 아니에요.")
	}
	lower := strings.ToLower(u)
	if strings.Contains(lower, "tistory.com/manage/posts") {
		return ruleErr(ErrNotAPost, "티스토리 관리 페이지 링크예요. 공개된 글의 링크를 넣어 주세요.")
	}
	if strings.Contains(lower, "blog.naver") && strings.Contains(lower, "redirect") {
		return ruleErr(ErrNotAPost, "네이버 블로그의 리다이렉트 링크예요. 글의 실제 주소를 넣어 주세요.")
	}
	if strings.TrimSpace(manualTitle) == "" {
		for _, h := range []string{"notion.", "oopy.io", ".site", "blog.naver"} {
			if strings.Contains(lower, h) {
				return ruleErr(ErrTitleRequired, "이 주소는 제목을 읽을 수 없어요. '글 제목'을 직접 입력해 주세요.")
			}
		}
	}
	return nil
}

// trackingParams are dropped by NormalizeURL.
func trackingParam(k string) bool {
	k = strings.ToLower(k)
	return strings.HasPrefix(k, "utm_") || k == "fbclid" || k == "gclid" || k == "igshid"
}

// NormalizeURL gives the key under which a URL is unique (V2): no scheme, lower-case host,
// no fragment, no tracking parameters, no trailing slash.
func NormalizeURL(raw string) string {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return strings.ToLower(strings.TrimRight(strings.TrimSpace(raw), "/"))
	}
	q := u.Query()
	for k := range q {
		if trackingParam(k) {
			q.Del(k)
		}
	}
	key := strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/")
	if enc := q.Encode(); enc != "" {
		key += "?" + enc
	}
	return key
}

// ParseTags splits comma-separated tags: trimmed, '#' dropped, empties and repeats removed,
// first occurrence kept.
func ParseTags(s string) []string {
	var out []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(t), "#"))
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// roundOf is the round a stored content falls in under the schedule as it is now (rounds are
// positional, so an edited schedule renumbers them); the stored round if it is now outside.
func roundOf(s *cohort.Schedule, c *store.Content) int {
	r, err := s.RoundAt(c.ReceivedAt)
	if err != nil {
		return c.Round
	}
	return r.N
}

// PassStatus is a member's pass situation in a round.
type PassStatus struct {
	Used      int
	Remaining int
}

// CheckPass applies P1 (passes per cohort), P2 (no consecutive passes) and P3 (no pass after
// submitting this round) to a member's contents (any order) in round cur.
func CheckPass(s *cohort.Schedule, contents []store.Content, cur cohort.Round) (PassStatus, error) {
	st := PassStatus{}
	var latest *store.Content
	submitted := false
	for i := range contents {
		c := &contents[i]
		if c.Kind == store.KindPass {
			st.Used++
		}
		if latest == nil || c.ReceivedAt.After(latest.ReceivedAt) {
			latest = c
		}
		if c.Kind == store.KindSubmit && roundOf(s, c) == cur.N {
			submitted = true
		}
	}
	st.Remaining = max(s.MaxPass-st.Used, 0)
	if st.Used >= s.MaxPass {
		return st, ruleErr(ErrNoPassLeft, "이번 기수의 패스를 모두 사용했어요 (%d/%d).", st.Used, s.MaxPass)
	}
	if latest != nil && latest.Kind == store.KindPass && roundOf(s, latest) >= cur.N-1 {
		return st, ruleErr(ErrConsecutivePass, "패스는 연속으로 사용할 수 없어요 (직전 패스: %d회차).", roundOf(s, latest))
	}
	if submitted {
		return st, ruleErr(ErrAlreadySubmitted, "이미 %d회차(마감 %s)에 제출했어요.", cur.N, cur.DueLabel())
	}
	return st, nil
}

// SubmittedIn reports whether contents hold a submission in round n.
func SubmittedIn(s *cohort.Schedule, contents []store.Content, n int) bool {
	for i := range contents {
		if contents[i].Kind == store.KindSubmit && roundOf(s, &contents[i]) == n {
			return true
		}
	}
	return false
}

// CheckCommand applies R1 (membership), R2 (the member's own channel; admins anywhere) and R3
// (inside the schedule, judged at the receive time) to a command or modal.
func CheckCommand(r *cohort.Roster, userID, channelID string, received time.Time) (*cohort.Member, cohort.Round, error) {
	m, ok := r.Member(userID)
	if !ok {
		return nil, cohort.Round{}, ruleErr(ErrNotMember, "등록된 멤버가 아니에요. %s 채널에 문의해 주세요.", supportRef(r))
	}
	if !m.Admin && channelID != m.ChannelID {
		return m, cohort.Round{}, ruleErr(ErrWrongChannel, "자신의 코어 채널(#%s)에서 입력해 주세요.", m.ChannelName)
	}
	round, err := r.Cohort.RoundAt(received)
	if err != nil {
		return m, cohort.Round{}, ruleErr(ErrNotInSchedule, "지금은 제출 기간이 아니에요.")
	}
	return m, round, nil
}

func supportRef(r *cohort.Roster) string {
	if r.SupportChannel == "" {
		return "운영진"
	}
	return "<#" + r.SupportChannel + ">"
}
