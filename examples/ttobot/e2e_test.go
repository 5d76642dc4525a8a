package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ttobot/internal/app"
	"ttobot/internal/bot"
	"ttobot/internal/clock"
	"ttobot/internal/slack"
	"ttobot/internal/slacktest"
	"ttobot/internal/sqsqueue"
	"ttobot/internal/store"
)

const (
	secret = "8f742231b10e8888abcd99yyyzzz85a5"
	token  = "xoxb-test"
	team   = "T0GEULTTO"
)

type e2e struct {
	t     *testing.T
	clk   *clock.Fake
	slack *slacktest.Server
	app   *app.App
	base  string
}

func startE2E(t *testing.T, endpoint, prefix string, now time.Time, members, channels int, onEvent func(*slack.EventEnvelope) error,
	opts ...func(*app.Config, *slacktest.Server)) *e2e {
	t.Helper()
	clk := clock.NewFake(now)
	fs := slacktest.New(t, token, clk)
	cfg := app.Config{
		Listen: "127.0.0.1:0", SigningSecret: secret, BotToken: token, SlackAPIURL: fs.APIURL(),
		Roster: roster10(t, members, channels), DB: "sqlite:" + filepath.Join(t.TempDir(), "ttobot.db"),
		Queue:   sqsqueue.Config{Endpoint: endpoint, QueuePrefix: prefix, WaitTime: 1, Visibility: 5 * time.Second},
		Workers: 4, PostInterval: time.Second, Clock: clk, Fetcher: blogFetcher(), OnEvent: onEvent,
	}
	for _, o := range opts {
		o(&cfg, fs)
	}
	a, err := app.Start(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatalf("start ttobot: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop ttobot: %v", err)
		}
	})
	return &e2e{t: t, clk: clk, slack: fs, app: a, base: "http://" + a.Addr}
}

// post sends a signed request signed at the fake clock's time and returns status and body.
func (e *e2e) post(path, ctype string, body []byte) (int, string, time.Duration) {
	e.t.Helper()
	req := slacktest.Request(secret, e.base, path, e.clk.Now(), ctype, body)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String(), time.Since(start)
}

func submitValues(url, category, tags, desc string) map[string]map[string]slack.InputValue {
	return map[string]map[string]slack.InputValue{
		bot.BlockURL:      {bot.ActionURL: slacktest.Text(url)},
		bot.BlockCategory: {bot.ActionCategory: slacktest.Select(category)},
		bot.BlockCuration: {bot.ActionCuration: slacktest.Select("Y")},
		bot.BlockFeedback: {bot.ActionFeedback: slacktest.Select("HOT")},
		bot.BlockTags:     {bot.ActionTags: slacktest.Text(tags)},
		bot.BlockDesc:     {bot.ActionDesc: slacktest.Text(desc)},
	}
}

// TestE2ESubmit drives /제출 through ttobot's HTTP endpoint and a real sluice serve to the
// announcement at the fake Slack (spec T1, T4, T5 end to end).
func TestE2ESubmit(t *testing.T) {
	sl := startSluice(t, "", "")
	var events atomic.Int32
	e := startE2E(t, sl.Endpoint, "e2e-submit-", kst("2024-10-13 23:59:58.000"), 3, 2, func(*slack.EventEnvelope) error {
		events.Add(1)
		return nil
	})

	// /제출 in the member's core channel: empty ack, then the worker opens the modal.
	trigger := e.slack.NewTrigger()
	status, body, took := e.post("/slack/commands", slacktest.Form, slacktest.Command{
		Team: team, Channel: "C00", User: "U0000", Command: "/제출", ResponseURL: e.slack.ResponseURL(), Trigger: trigger}.Body())
	if status != http.StatusOK || body != "" || took > 3*time.Second {
		t.Fatalf("command ack: %d %q in %v", status, body, took)
	}
	eventually(t, 10*time.Second, "views.open", func() bool { return len(e.slack.Calls("views.open")) == 1 }, nil)
	open := e.slack.Calls("views.open")[0]
	if open.Str("trigger_id") != trigger || !strings.Contains(toJSON(open.Args["view"]), "1회차") {
		t.Fatalf("views.open: %v", open.Args)
	}

	// The modal is submitted twice with the same view id (double click), 2 s before midnight.
	sub := slacktest.ViewSubmission{Team: team, User: "U0000", ViewID: "V1", CallbackID: bot.CallbackSubmit,
		PrivateMetadata: "C00", Values: submitValues("https://blog.example.com/post/1?utm_source=x", "프로젝트", "a, b ,a,", "첫 글")}
	for range 2 {
		status, body, _ = e.post("/slack/interactions", slacktest.Form, sub.Body())
		if status != http.StatusOK || body != "" {
			t.Fatalf("submission ack: %d %q", status, body)
		}
	}
	// Workers finish after midnight: the round still comes from the receive time.
	e.clk.Set(kst("2024-10-14 00:00:30.000"))
	eventually(t, 15*time.Second, "announcement", func() bool { return len(e.slack.Calls("chat.postMessage")) >= 1 }, func() { e.clk.Advance(100 * time.Millisecond) })

	// An event delivered four times (original + 3 retries) is handled once.
	for i := range 4 {
		req := slacktest.Request(secret, e.base, "/slack/events", e.clk.Now(), "application/json",
			slacktest.EventBody(team, "Ev1", "app_mention", "U0001", "C01"))
		if i > 0 {
			req.Header.Set("X-Slack-Retry-Num", string(rune('0'+i)))
			req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("event delivery %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	eventually(t, 10*time.Second, "event handled", func() bool {
		done, _ := e.app.Store.DeliveryProcessed(context.Background(), "ev:Ev1")
		return done
	}, nil)

	time.Sleep(300 * time.Millisecond) // let any wrongly duplicated work show up
	posts := e.slack.Calls("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("want 1 announcement, got %d", len(posts))
	}
	if ch, text := posts[0].Str("channel"), posts[0].Str("text"); ch != "C00" || !strings.Contains(text, "<@U0000>") || !strings.Contains(text, "blog.example.com/post/1") {
		t.Fatalf("announcement: channel %q text %q", ch, text)
	}
	rows, err := e.app.Store.AllContents(context.Background(), "10기")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("want 1 content, got %d", len(rows))
	}
	c := rows[0]
	if c.Kind != store.KindSubmit || c.Round != 1 || strings.Join(c.Tags, ",") != "a,b" || c.Title != "글 /post/1" || c.Curation != "Y" {
		t.Fatalf("content: %+v", c)
	}
	eventually(t, 5*time.Second, "message ts stored", func() bool {
		rows, _ := e.app.Store.AllContents(context.Background(), "10기")
		return len(rows) == 1 && rows[0].MessageTS == posts[0].Args["ts"] || len(rows) == 1 && rows[0].MessageTS != ""
	}, nil)
	if n := events.Load(); n != 1 {
		t.Fatalf("event handled %d times, want 1", n)
	}
}
