package main

import (
	"net/http"
	"testing"
	"time"

	"ttobot/internal/app"
	"ttobot/internal/bot"
	"ttobot/internal/slack"
	"ttobot/internal/slacktest"
)

// TestE2ESlowSlack is spec T20: every Slack Web API call takes 5 s. The ingress never calls
// Slack before it answers, so slash commands, modal submissions and events are still
// acknowledged well within Slack's 3 seconds, and the work gets done behind them: the submission
// is announced once Slack answers.
func TestE2ESlowSlack(t *testing.T) {
	sl := startSluice(t, "", "")
	e := startE2E(t, sl.Endpoint, "e2e-slow-", kst("2024-10-13 20:00:00.000"), 3, 2, func(*slack.EventEnvelope) error { return nil },
		func(_ *app.Config, fs *slacktest.Server) { fs.Latency = 5 * time.Second })

	ack := func(what string, status int, body string, took time.Duration) {
		t.Helper()
		if status != http.StatusOK || took >= 3*time.Second {
			t.Fatalf("%s: %d %q after %v, want 200 within 3 s", what, status, body, took)
		}
		t.Logf("%s acknowledged in %v", what, took)
	}
	status, body, took := e.post("/slack/commands", slacktest.Form, slacktest.Command{
		Team: team, Channel: "C00", User: "U0000", Command: "/제출", ResponseURL: e.slack.ResponseURL(),
		Trigger: e.slack.NewTrigger()}.Body())
	ack("slash command", status, body, took)

	sub := slacktest.ViewSubmission{Team: team, User: "U0000", ViewID: "V1", CallbackID: bot.CallbackSubmit,
		PrivateMetadata: "C00", Values: submitValues("https://blog.example.com/slow", "프로젝트", "a", "느린 슬랙")}
	status, body, took = e.post("/slack/interactions", slacktest.Form, sub.Body())
	ack("modal submission", status, body, took)

	status, body, took = e.post("/slack/events", "application/json", slacktest.EventBody(team, "EvSlow", "app_mention", "U0001", "C01"))
	ack("event", status, body, took)

	eventually(t, 20*time.Second, "announcement through the slow Slack", func() bool {
		for _, c := range e.slack.Calls("chat.postMessage") {
			if c.Str("channel") == "C00" {
				return true
			}
		}
		return false
	}, func() { e.clk.Advance(100 * time.Millisecond) })
}
