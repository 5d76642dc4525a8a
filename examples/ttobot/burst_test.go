package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"ttobot/internal/app"
	"ttobot/internal/bot"
	"ttobot/internal/slacktest"
	"ttobot/internal/store"
)

// TestE2EBurstAcrossSluiceRestart is spec T10 against a real sluice serve on disk: 350
// members submit in the last minute before the Sunday deadline, about 10% of the deliveries
// are duplicated (double clicks), Slack is slow and answers 429 to anything faster than the
// channel pace, sluice is killed and restarted half-way, and the workers finish after
// midnight. Every ack is under 3 s; exactly 350 submissions land, all in round 1, and exactly
// 350 announcements are posted, none twice.
func TestE2EBurstAcrossSluiceRestart(t *testing.T) {
	const members, channels = 350, 10
	dataDir := t.TempDir()
	addr := freePort(t)
	sl := startSluice(t, addr, dataDir)
	e := startE2E(t, sl.Endpoint, "e2e-burst-", kst("2024-10-13 23:59:00.000"), members, channels, nil,
		func(cfg *app.Config, fs *slacktest.Server) {
			cfg.PostInterval = 50 * time.Millisecond
			fs.Latency = 20 * time.Millisecond
			fs.PaceLimit = 50 * time.Millisecond // 429 Retry-After 1 when a channel is posted to faster
			fs.Fail("chat.postMessage", slacktest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1})
		})

	var mu sync.Mutex
	var slowest time.Duration
	send := func(i int) {
		sub := slacktest.ViewSubmission{Team: team, User: fmt.Sprintf("U%04d", i), ViewID: fmt.Sprintf("V%04d", i),
			CallbackID: bot.CallbackSubmit, PrivateMetadata: fmt.Sprintf("C%02d", i%channels),
			Values: submitValues(fmt.Sprintf("https://blog.example.com/u%04d/post", i), "기타", "", "")}
		copies := 1
		if i%10 == 3 {
			copies = 2 // a double click
		}
		for range copies {
			status, body, took := e.post("/slack/interactions", slacktest.Form, sub.Body())
			if status != http.StatusOK || body != "" {
				t.Errorf("member %d: ack %d %q", i, status, body)
			}
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
		}
	}
	for i := range members {
		if i == members/2 {
			sl.kill(t)
			sl = startSluice(t, addr, dataDir)
		}
		e.clk.Advance(150 * time.Millisecond) // 350 × 150 ms: the last arrives at 23:59:52.5
		send(i)
	}
	if slowest >= 3*time.Second {
		t.Errorf("slowest ack %v", slowest)
	}
	e.clk.Set(kst("2024-10-14 00:00:01.000")) // the workers finish after midnight
	eventually(t, 60*time.Second, "350 announcements", func() bool {
		n, _ := e.app.Store.OutboxCounts(context.Background())
		return n[store.OutboxSent] == members
	}, func() { e.clk.Advance(100 * time.Millisecond) })

	rows, err := e.app.Store.AllContents(context.Background(), "10기")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, c := range rows {
		if c.Round != 1 {
			t.Errorf("%s recorded in round %d", c.UserID, c.Round)
		}
		users[c.UserID] = true
	}
	if len(rows) != members || len(users) != members {
		t.Fatalf("%d rows for %d members, want %d", len(rows), len(users), members)
	}
	posted := map[string]int{}
	for _, c := range e.slack.Calls("chat.postMessage") {
		posted[c.Str("text")]++
	}
	if len(posted) != members {
		t.Fatalf("%d distinct announcements, want %d", len(posted), members)
	}
	ok, ids := 0, map[string]bool{}
	for _, msgs := range e.slack.Posted() {
		for _, m := range msgs {
			ok++
			ids[m.Metadata.EventPayload["outbox_id"]] = true
		}
	}
	if ok != members || len(ids) != members {
		t.Fatalf("%d successful posts of %d announcements, want %d of %d", ok, len(ids), members, members)
	}
	t.Logf("slowest ack %v; %d postMessage calls for %d announcements", slowest, len(e.slack.Calls("chat.postMessage")), members)
}
