package main

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ttobot/internal/app"
	"ttobot/internal/bot"
	"ttobot/internal/slack"
	"ttobot/internal/slacktest"
	"ttobot/internal/store"
)

// TestE2ESlowSlack is spec T20: every Slack Web API call (and response_url) takes 5 s. The
// ingress never calls Slack before it answers, so slash commands, modal submissions and events
// are acknowledged well within Slack's 3 seconds even while every worker is stuck in a Slack
// call, and the work still gets done behind them:
//   - a /제출 or /제출내역 command: the worker calls views.open in time, but the 5 s answer
//     comes after the trigger's 3 s life, so Slack says expired_trigger_id and the bot's rule
//     (spec §8 (c)) applies: the member is told once, through the response_url, to retry;
//   - a modal submission is recorded in its round and announced once Slack answers;
//   - an event is handled once.
//
// The fake clock follows real time, so the 5 s of latency also pass on the clock that drives
// trigger expiry, rounds and the outbox's pacing. The queues keep ttobot's default 30 s
// visibility timeout (a job that spends 10 s in Slack is not redelivered). Wall time ≈ 12 s.
func TestE2ESlowSlack(t *testing.T) {
	const latency = 5 * time.Second
	sl := startSluice(t, "", "")
	var events atomic.Int32
	e := startE2E(t, sl.Endpoint, "e2e-slow-", kst("2024-10-13 20:00:00.000"), 3, 2, func(*slack.EventEnvelope) error {
		events.Add(1)
		return nil
	}, func(cfg *app.Config, fs *slacktest.Server) {
		fs.Latency = latency
		cfg.Queue.Visibility = 30 * time.Second
	})
	realStart, clockStart := time.Now(), e.clk.Now()
	stopClock := make(chan struct{})
	clockDone := make(chan struct{})
	go func() {
		defer close(clockDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopClock:
				return
			case <-tick.C:
				e.clk.Set(clockStart.Add(time.Since(realStart)))
			}
		}
	}()
	t.Cleanup(func() { close(stopClock); <-clockDone })

	ack := func(what string, status int, body string, took time.Duration) {
		t.Helper()
		if status != http.StatusOK || body != "" || took >= 3*time.Second {
			t.Fatalf("%s: %d %q after %v, want an empty 200 within 3 s", what, status, body, took)
		}
		t.Logf("%s acknowledged in %v", what, took)
	}
	command := func(user, channel, cmd string) (trigger, responseURL string) {
		t.Helper()
		trigger, responseURL = e.slack.NewTrigger(), e.slack.ResponseURL()
		status, body, took := e.post("/slack/commands", slacktest.Form, slacktest.Command{
			Team: team, Channel: channel, User: user, Command: cmd, ResponseURL: responseURL, Trigger: trigger}.Body())
		ack(cmd, status, body, took)
		return trigger, responseURL
	}

	submitTrigger, submitResponse := command("U0000", "C00", "/제출")
	// A worker is now waiting on views.open; everything below is acknowledged meanwhile.
	time.Sleep(time.Second)
	sub := slacktest.ViewSubmission{Team: team, User: "U0000", ViewID: "V1", CallbackID: bot.CallbackSubmit,
		PrivateMetadata: "C00", Values: submitValues("https://blog.example.com/slow", "프로젝트", "a", "느린 슬랙")}
	status, body, took := e.post("/slack/interactions", slacktest.Form, sub.Body())
	ack("modal submission", status, body, took)
	historyTrigger, historyResponse := command("U0001", "C01", "/제출내역")
	status, body, took = e.post("/slack/events", "application/json", slacktest.EventBody(team, "EvSlow", "app_mention", "U0001", "C01"))
	if status != http.StatusOK || took >= 3*time.Second {
		t.Fatalf("event: %d %q after %v, want 200 within 3 s", status, body, took)
	}
	t.Logf("event acknowledged in %v", took)

	retryHints := func(responseURL string) int {
		n := 0
		for _, c := range e.slack.Calls("response_url") {
			if c.URL == responseURL && c.Args["response_type"] == "ephemeral" && strings.Contains(c.Str("text"), "다시 입력해 주세요") {
				n++
			}
		}
		return n
	}
	eventually(t, 15*time.Second, "announcement, retry hints and the event through the slow Slack", func() bool {
		return len(e.slack.Calls("chat.postMessage")) >= 1 && retryHints(submitResponse) >= 1 && retryHints(historyResponse) >= 1 &&
			events.Load() >= 1
	}, nil)
	time.Sleep(300 * time.Millisecond) // let any wrongly duplicated work show up

	opens := e.slack.Calls("views.open")
	if len(opens) != 2 {
		t.Fatalf("views.open called %d times, want once per command", len(opens))
	}
	for _, c := range opens {
		if tr := c.Str("trigger_id"); tr != submitTrigger && tr != historyTrigger {
			t.Fatalf("views.open with trigger %q", tr)
		}
	}
	if calls := e.slack.Calls("response_url"); len(calls) != 2 || retryHints(submitResponse) != 1 || retryHints(historyResponse) != 1 {
		t.Fatalf("want one retry hint on each command's response_url, got %v", calls)
	}
	posts := e.slack.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Str("channel") != "C00" || !strings.Contains(posts[0].Str("text"), "blog.example.com/slow") {
		t.Fatalf("want one announcement of the submission in C00, got %v", posts)
	}
	rows, err := e.app.Store.AllContents(context.Background(), "10기")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Kind != store.KindSubmit || rows[0].Round != 1 {
		t.Fatalf("contents: %+v", rows)
	}
	if n := events.Load(); n != 1 {
		t.Fatalf("event handled %d times, want 1", n)
	}
	t.Logf("done after %v", time.Since(realStart).Round(time.Millisecond))
}
