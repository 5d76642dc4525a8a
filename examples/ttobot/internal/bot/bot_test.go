package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ttobot/internal/bot"
	"ttobot/internal/clock"
	"ttobot/internal/cohort"
	"ttobot/internal/slack"
	"ttobot/internal/slacktest"
	"ttobot/internal/store"
)

const (
	secret = "test-signing-secret"
	token  = "xoxb-test"
	team   = "T1"
)

// memQueue records envelopes without deduplicating, so the tests see what the store's
// delivery keys alone do.
type memQueue struct {
	mu   sync.Mutex
	envs []*bot.Envelope
	fail error
}

func (q *memQueue) Enqueue(_ context.Context, _ bot.Lane, env *bot.Envelope) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	q.envs = append(q.envs, env)
	return nil
}

func (q *memQueue) take() []*bot.Envelope {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.envs
	q.envs = nil
	return out
}

type fetcher map[string]error

func (f fetcher) Title(_ context.Context, u string) (string, error) {
	if err, ok := f[u]; ok {
		return "", err
	}
	return "제목 " + u[strings.LastIndex(u, "/")+1:], nil
}

type bundle struct {
	t      *testing.T
	clk    *clock.Fake
	slack  *slacktest.Server
	store  *store.Store
	bot    *bot.Bot
	queue  *memQueue
	srv    *httptest.Server
	events int
}

func setup(t *testing.T, now time.Time) *bundle {
	t.Helper()
	clk := clock.NewFake(now)
	fs := slacktest.New(t, token, clk)
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := cohort.Parse([]byte(`{"cohort":{"name":"10기","start_date":"2024-09-29","max_pass":2,
		"due_dates":["2024-10-13","2024-10-27","2024-11-10","2024-11-24","2024-12-08","2024-12-22"],
		"categories":["프로젝트","기술 & 언어","기타"]},"admin_channel_id":"CADMIN","support_channel":"CHELP",
		"members":[{"user_id":"U1","name":"김글또","channel_id":"C1","channel_name":"backend"},
		{"user_id":"U2","name":"이파이","channel_id":"C2","channel_name":"frontend"},
		{"user_id":"U3","name":"박파이썬","channel_id":"C1","channel_name":"backend"},
		{"user_id":"UA","name":"운영진","admin":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, clk: clk, slack: fs, store: st, queue: &memQueue{}}
	b.bot = &bot.Bot{Store: st, Slack: &slack.Client{BaseURL: fs.APIURL(), Token: token}, Clock: clk,
		Log: slog.New(slog.DiscardHandler), Fetcher: fetcher{"https://blog.example.com/missing": &bot.RuleError{Code: bot.ErrFetch.Code, Msg: "404"}},
		OnEvent: func(*slack.EventEnvelope) error { b.events++; return nil }}
	b.bot.SetRoster(r)
	in := &bot.Ingress{Bot: b.bot, SigningSecret: secret, Queue: b.queue}
	b.srv = httptest.NewServer(in.Handler())
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bundle) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *bundle) post(path, ctype string, body []byte) (int, string) {
	return b.do(slacktest.Request(secret, b.srv.URL, path, b.clk.Now(), ctype, body))
}

func (b *bundle) command(user, channel, cmd string) (int, string) {
	return b.post("/slack/commands", slacktest.Form, slacktest.Command{Team: team, Channel: channel, User: user, Command: cmd,
		ResponseURL: b.slack.ResponseURL(), Trigger: b.slack.NewTrigger()}.Body())
}

func (b *bundle) submit(user, viewID, channel, url, title string) (int, string) {
	vals := map[string]map[string]slack.InputValue{
		bot.BlockURL:      {bot.ActionURL: slacktest.Text(url)},
		bot.BlockCategory: {bot.ActionCategory: slacktest.Select("기술 & 언어")},
		bot.BlockCuration: {bot.ActionCuration: slacktest.Select("N")},
		bot.BlockFeedback: {bot.ActionFeedback: slacktest.Select("FIRE")},
		bot.BlockTags:     {bot.ActionTags: slacktest.Text("Go, 큐")},
		bot.BlockTitle:    {bot.ActionTitle: slacktest.Text(title)},
	}
	return b.post("/slack/interactions", slacktest.Form, slacktest.ViewSubmission{Team: team, User: user, ViewID: viewID,
		CallbackID: bot.CallbackSubmit, PrivateMetadata: channel, Values: vals}.Body())
}

func (b *bundle) pass(user, viewID, channel string) (int, string) {
	return b.post("/slack/interactions", slacktest.Form, slacktest.ViewSubmission{Team: team, User: user, ViewID: viewID,
		CallbackID: bot.CallbackPass, PrivateMetadata: channel, Values: map[string]map[string]slack.InputValue{
			bot.BlockDesc: {bot.ActionDesc: slacktest.Text("이번 주는 쉬어요")}}}.Body())
}

// drain runs the worker on everything queued so far.
func (b *bundle) drain() {
	b.t.Helper()
	for _, env := range b.queue.take() {
		if err := b.bot.Handle(context.Background(), env); err != nil {
			b.t.Fatalf("Handle(%s): %v", env.Key, err)
		}
	}
}

func (b *bundle) contents() []store.Content {
	b.t.Helper()
	cs, err := b.store.AllContents(context.Background(), "10기")
	if err != nil {
		b.t.Fatal(err)
	}
	return cs
}

func (b *bundle) outbox() map[string]int {
	b.t.Helper()
	n, err := b.store.OutboxCounts(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func js(v any) string {
	out, _ := json.Marshal(v)
	return string(out)
}

var round2 = time.Date(2024, 10, 23, 12, 0, 0, 0, cohort.Seoul)

// T7, T8: bad signatures and stale timestamps get a bodiless 401 and enqueue nothing.
func TestIngressRefusesUnsigned(t *testing.T) {
	b := setup(t, round2)
	body := slacktest.Command{Team: team, Channel: "C1", User: "U1", Command: "/제출", Trigger: "x"}.Body()
	cases := map[string]*http.Request{}
	cases["tampered body"] = slacktest.Request(secret, b.srv.URL, "/slack/commands", b.clk.Now(), slacktest.Form, body)
	cases["tampered body"].Body = io.NopCloser(strings.NewReader(string(body) + "&text=x"))
	cases["tampered body"].ContentLength = -1
	cases["wrong secret"] = slacktest.Request("other", b.srv.URL, "/slack/commands", b.clk.Now(), slacktest.Form, body)
	missing := slacktest.Request(secret, b.srv.URL, "/slack/commands", b.clk.Now(), slacktest.Form, body)
	missing.Header.Del("X-Slack-Signature")
	cases["missing signature"] = missing
	cases["stale: 301 s old"] = slacktest.Request(secret, b.srv.URL, "/slack/commands", b.clk.Now().Add(-301*time.Second), slacktest.Form, body)
	cases["stale: 301 s ahead"] = slacktest.Request(secret, b.srv.URL, "/slack/commands", b.clk.Now().Add(301*time.Second), slacktest.Form, body)
	cases["event, wrong secret"] = slacktest.Request("other", b.srv.URL, "/slack/events", b.clk.Now(), "application/json", slacktest.EventBody(team, "Ev9", "app_mention", "U1", "C1"))
	for name, req := range cases {
		if status, got := b.do(req); status != http.StatusUnauthorized || got != "" {
			t.Errorf("%s: %d %q, want a bodiless 401", name, status, got)
		}
	}
	if n := len(b.queue.take()); n != 0 {
		t.Fatalf("%d requests enqueued", n)
	}
	// 299 s old is inside the window.
	req := slacktest.Request(secret, b.srv.URL, "/slack/commands", b.clk.Now().Add(-299*time.Second), slacktest.Form, body)
	if status, _ := b.do(req); status != http.StatusOK {
		t.Fatalf("299 s old: %d", status)
	}
	if n := len(b.queue.take()); n != 1 {
		t.Fatalf("%d requests enqueued, want 1", n)
	}
}

// T9: url_verification echoes the challenge and enqueues nothing.
func TestURLVerification(t *testing.T) {
	b := setup(t, round2)
	status, body := b.post("/slack/events", "application/json", []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`))
	if status != 200 || !strings.Contains(body, `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
		t.Fatalf("%d %s", status, body)
	}
	if len(b.queue.take()) != 0 {
		t.Fatal("url_verification enqueued")
	}
}

// When the queue cannot take a request, Slack gets a 503, never a false 200.
func TestIngressEnqueueFailure(t *testing.T) {
	b := setup(t, round2)
	b.queue.fail = fmt.Errorf("sluice down")
	if status, _ := b.command("U1", "C1", "/제출"); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d", status)
	}
}

// T1 and T5 without the queue: one row, one outbox item, a double click recorded once.
func TestSubmitRecordsOnce(t *testing.T) {
	b := setup(t, round2)
	if status, body := b.command("U1", "C1", "/제출"); status != 200 || body != "" {
		t.Fatalf("command: %d %q", status, body)
	}
	b.drain()
	opens := b.slack.Calls("views.open")
	if len(opens) != 1 || !strings.Contains(js(opens[0].Args["view"]), `"callback_id":"submit_view"`) || !strings.Contains(js(opens[0].Args["view"]), "2회차") {
		t.Fatalf("views.open: %v", opens)
	}
	for range 2 { // double click: same view id
		if status, body := b.submit("U1", "V1", "C1", "https://blog.example.com/post/1", ""); status != 200 || body != "" {
			t.Fatalf("submit: %d %q", status, body)
		}
	}
	b.drain()
	if status, body := b.submit("U1", "V1", "C1", "https://blog.example.com/post/1", ""); status != 200 || body != "" {
		t.Fatalf("third click after processing: %d %q", status, body)
	}
	b.drain()
	cs := b.contents()
	if len(cs) != 1 || cs[0].Round != 2 || cs[0].Title != "제목 1" || cs[0].FeedbackIntensity != "FIRE" || js(cs[0].Tags) != `["Go","큐"]` {
		t.Fatalf("contents: %+v", cs)
	}
	if n := b.outbox(); n[store.OutboxPending] != 1 {
		t.Fatalf("outbox: %v", n)
	}
}

// T2, T6: validations answered in the ack with errors on content_url; nothing recorded.
func TestSubmitValidationErrors(t *testing.T) {
	b := setup(t, round2)
	b.submit("U1", "V1", "C1", "https://blog.example.com/post/1", "")
	b.drain()
	tests := []struct {
		name, url, title, want string
	}{
		{"V1 not a url", "not a url", "", "URL 형식"},
		{"V4 notion without a title", "https://www.notion.so/page-1", "", "제목"},
		{"V3 tistory admin", "https://me.tistory.com/manage/posts", "", "관리 페이지"},
		{"T6 V2 another member's URL", "http://BLOG.example.com/post/1/?utm_source=x", "", "이미 제출"},
	}
	for i, tt := range tests {
		status, body := b.submit("U2", fmt.Sprintf("V2%d", i), "C2", tt.url, tt.title)
		if status != 200 || !strings.Contains(body, `"response_action":"errors"`) || !strings.Contains(body, `"content_url":`) || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s", tt.name, status, body)
		}
	}
	if n := len(b.queue.take()); n != 0 {
		t.Fatalf("%d refused submissions enqueued", n)
	}
	if len(b.contents()) != 1 {
		t.Fatal("rows added")
	}
}

// T3: a 404 from the blog records nothing and tells the member.
func TestSubmitFetchFailure(t *testing.T) {
	b := setup(t, round2)
	b.submit("U1", "V1", "C1", "https://blog.example.com/missing", "")
	b.drain()
	if len(b.contents()) != 0 || len(b.slack.Calls("chat.postMessage")) != 0 {
		t.Fatal("recorded or posted")
	}
	eph := b.slack.Calls("chat.postEphemeral")
	if len(eph) != 1 || eph[0].Str("user") != "U1" || eph[0].Str("channel") != "C1" {
		t.Fatalf("ephemeral: %v", eph)
	}
}

// T15: wrong channel and unknown users get the "잠깐!" modal; an unknown user also
// notifies the admin channel through the outbox.
func TestCommandPreconditions(t *testing.T) {
	b := setup(t, round2)
	b.command("U1", "C2", "/제출")
	b.command("U404", "C1", "/패스")
	b.drain()
	opens := b.slack.Calls("views.open")
	if len(opens) != 2 {
		t.Fatalf("views.open: %d", len(opens))
	}
	for _, o := range opens {
		if v := js(o.Args["view"]); !strings.Contains(v, "잠깐!") {
			t.Errorf("not an error modal: %s", v)
		}
	}
	if !strings.Contains(js(opens[0].Args["view"]), "#backend") {
		t.Errorf("wrong-channel modal does not name the member's channel: %s", js(opens[0].Args["view"]))
	}
	if n := b.outbox(); n[store.OutboxPending] != 1 {
		t.Fatalf("admin notice not queued: %v", n)
	}
	// Admins may submit from any channel; the announcement goes there.
	b.command("UA", "C9", "/제출")
	b.drain()
	if v := js(b.slack.Calls("views.open")[2].Args["view"]); !strings.Contains(v, `"private_metadata":"C9"`) {
		t.Fatalf("admin modal: %s", v)
	}
}

// T16: a command whose modal job runs after the trigger's life tells the member to retry.
func TestLateModalAsksToRetry(t *testing.T) {
	b := setup(t, round2)
	b.command("U1", "C1", "/제출")
	b.clk.Advance(4 * time.Second) // the queue was backed up
	b.drain()
	if n := len(b.slack.Calls("views.open")); n != 0 {
		t.Fatalf("views.open called %d times past the deadline", n)
	}
	resp := b.slack.Calls("response_url")
	if len(resp) != 1 || resp[0].Str("response_type") != "ephemeral" || !strings.Contains(resp[0].Str("text"), "다시") {
		t.Fatalf("response_url: %v", resp)
	}
	// Inside the deadline but Slack already expired the trigger: same hint, no crash.
	b.command("U1", "C1", "/제출")
	b.clk.Advance(2 * time.Second)
	b.slack.Fail("views.open", slacktest.Fault{Code: "expired_trigger_id"})
	b.drain()
	if n := len(b.slack.Calls("response_url")); n != 2 {
		t.Fatalf("response_url calls %d, want 2", n)
	}
}

// T12–T14 through the ingress and worker.
func TestPassFlow(t *testing.T) {
	b := setup(t, round2)
	b.command("U1", "C1", "/패스")
	b.drain()
	if v := js(b.slack.Calls("views.open")[0].Args["view"]); !strings.Contains(v, "pass_view") || !strings.Contains(v, "남은 패스: 2개") {
		t.Fatalf("pass modal: %s", v)
	}
	if status, body := b.pass("U1", "VP1", "C1"); status != 200 || body != "" {
		t.Fatalf("pass: %d %q", status, body)
	}
	b.drain()
	// A second pass in the same round: refused in the ack on the description block.
	if status, body := b.pass("U1", "VP2", "C1"); !strings.Contains(body, `"description":`) || !strings.Contains(body, "연속") {
		t.Fatalf("second pass: %d %s", status, body)
	}
	// Submitting after passing in the same round is allowed.
	b.submit("U1", "VS1", "C1", "https://blog.example.com/post/2", "")
	b.drain()
	// Another member: submit, then pass in the same round is refused when the command arrives.
	b.submit("U3", "VS2", "C1", "https://blog.example.com/post/3", "")
	b.drain()
	b.command("U3", "C1", "/패스")
	b.drain()
	opens := b.slack.Calls("views.open")
	if v := js(opens[len(opens)-1].Args["view"]); !strings.Contains(v, "잠깐!") || !strings.Contains(v, "이미 2회차") {
		t.Fatalf("pass after submit: %s", v)
	}
	kinds := map[string]int{}
	for _, c := range b.contents() {
		kinds[c.UserID+":"+c.Kind]++
	}
	if js(kinds) != `{"U1:pass":1,"U1:submit":1,"U3:submit":1}` {
		t.Fatalf("contents: %v", kinds)
	}
	if n := b.outbox(); n[store.OutboxPending] != 3 {
		t.Fatalf("outbox: %v", n)
	}
}

// T4: one event delivered four times (three retries) runs its handler once.
func TestEventRetriesHandledOnce(t *testing.T) {
	b := setup(t, round2)
	for i := range 4 {
		req := slacktest.Request(secret, b.srv.URL, "/slack/events", b.clk.Now(), "application/json", slacktest.EventBody(team, "Ev1", "app_mention", "U1", "C1"))
		if i > 0 {
			req.Header.Set("X-Slack-Retry-Num", fmt.Sprint(i))
			req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		if status, _ := b.do(req); status != 200 {
			t.Fatalf("delivery %d: %d", i, status)
		}
		if i == 1 {
			b.drain() // some retries arrive after the first was handled
		}
	}
	b.drain()
	if b.events != 1 {
		t.Fatalf("handler ran %d times", b.events)
	}
}

// T17: search covers submissions only, case-insensitively, newest first, answered in the ack.
func TestSearch(t *testing.T) {
	b := setup(t, round2)
	b.submit("U1", "V1", "C1", "https://blog.example.com/python-tips", "Python 팁")
	b.clk.Advance(time.Minute)
	b.submit("U3", "V2", "C1", "https://blog.example.com/python-deep", "파이썬 deep dive: PYTHON GC")
	b.clk.Advance(time.Minute)
	b.submit("U2", "V3", "C2", "https://blog.example.com/rust", "Rust")
	b.pass("U2", "V4", "C2")
	b.drain()
	search := func(keyword, author, category string) string {
		_, body := b.post("/slack/interactions", slacktest.Form, slacktest.ViewSubmission{Team: team, User: "U2", ViewID: "VS",
			CallbackID: bot.CallbackSearch, Values: map[string]map[string]slack.InputValue{
				bot.BlockKeyword:   {bot.ActionKeyword: slacktest.Text(keyword)},
				bot.BlockAuthor:    {bot.ActionAuthor: slacktest.Text(author)},
				bot.BlockSearchCat: {bot.ActionSearchC: slacktest.Select(category)}}}.Body())
		return body
	}
	body := search("PYTHON", "", bot.AllCategories)
	if !strings.Contains(body, `"response_action":"update"`) || !strings.Contains(body, "2개의 글") {
		t.Fatalf("search: %s", body)
	}
	if i, j := strings.Index(body, "python-deep"), strings.Index(body, "python-tips"); i < 0 || j < 0 || i > j {
		t.Fatalf("not newest first: %s", body)
	}
	if body := search("python", "파이썬", "기술 & 언어"); !strings.Contains(body, "1개의 글") || !strings.Contains(body, "python-deep") {
		t.Fatalf("author filter: %s", body)
	}
	if body := search("", "", "프로젝트"); !strings.Contains(body, "0개의 글") {
		t.Fatalf("category filter: %s", body)
	}
	if n := len(b.queue.take()); n != 0 {
		t.Fatalf("search enqueued %d", n)
	}
}

// T18: history shows the newest 12 with positional rounds and kinds.
func TestHistory(t *testing.T) {
	b := setup(t, time.Date(2024, 10, 1, 9, 0, 0, 0, cohort.Seoul))
	for i := range 14 { // 14 submissions across rounds 1..3
		b.submit("U1", fmt.Sprintf("V%d", i), "C1", fmt.Sprintf("https://blog.example.com/p%d", i), "")
		b.drain()
		b.clk.Advance(2 * 24 * time.Hour)
	}
	b.clk.Set(time.Date(2024, 11, 6, 9, 0, 0, 0, cohort.Seoul))
	b.pass("U1", "VP", "C1")
	b.drain()
	b.command("U1", "C1", "/제출내역")
	b.drain()
	v := js(b.slack.Calls("views.open")[0].Args["view"])
	if strings.Count(v, "회차 제출") != 11 || strings.Count(v, "▶️ 3회차 패스") != 1 || !strings.Contains(v, "현재 *3회차*") {
		t.Fatalf("history: %s", v)
	}
	if strings.Index(v, "패스") > strings.Index(v, "p13") {
		t.Fatalf("not newest first: %s", v)
	}
}

// /도움말 is answered in the ack.
func TestHelp(t *testing.T) {
	b := setup(t, round2)
	status, body := b.command("U1", "C1", "/도움말")
	if status != 200 || !strings.Contains(body, `"response_type":"ephemeral"`) || !strings.Contains(body, "/패스") {
		t.Fatalf("%d %s", status, body)
	}
}
