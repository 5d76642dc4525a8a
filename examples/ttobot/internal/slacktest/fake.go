// Package slacktest is a fake Slack for tests: a Web API server that records every call, hands
// out per-channel message timestamps, keeps single-use trigger ids that expire after 3 s on an
// injected clock, serves response_url endpoints and answers scripted faults (ok:false, HTTP 429
// with Retry-After); and builders for signed slash-command, interaction and event requests.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ttobot/internal/clock"
	"ttobot/internal/slack"
)

// Call is one recorded Web API call.
type Call struct {
	Method string
	Args   map[string]any
	At     time.Time // fake-Slack clock when it was served
	URL    string    // for "response_url" calls: the response_url that was posted to
}

// Str returns a string argument.
func (c Call) Str(name string) string {
	s, _ := c.Args[name].(string)
	return s
}

// Fault is a scripted failure of one call.
type Fault struct {
	Status     int    // HTTP status; 429 makes a rate limit
	RetryAfter int    // seconds, with a 429
	Code       string // ok:false error when Status is 0 or 200
}

// Server is the fake Web API.
type Server struct {
	*httptest.Server
	Token string
	Clock clock.Clock
	// Latency is added to every call (a slow Slack).
	Latency time.Duration
	// PaceLimit, when set, answers 429 (Retry-After 1) to a second post to one channel
	// within this interval, as Slack's chat.postMessage tier does.
	PaceLimit time.Duration

	mu        sync.Mutex
	calls     []Call                            // guarded by mu
	seq       int                               // guarded by mu
	faults    map[string][]Fault                // guarded by mu
	triggers  map[string]*trigger               // guarded by mu
	history   map[string][]slack.HistoryMessage // guarded by mu
	lastPost  map[string]time.Time              // guarded by mu
	responses map[string]int                    // guarded by mu
}

type trigger struct {
	expires time.Time
	used    bool
}

// New starts a fake Slack; it closes with the test.
func New(t testing.TB, token string, clk clock.Clock) *Server {
	s := &Server{Token: token, Clock: clk, faults: map[string][]Fault{}, triggers: map[string]*trigger{},
		history: map[string][]slack.HistoryMessage{}, lastPost: map[string]time.Time{}, responses: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to give the Slack client.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// NewTrigger registers a trigger id valid for 3 s from now on the fake's clock.
func (s *Server) NewTrigger() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("%d.%d.trigger", s.Clock.Now().Unix(), s.seq)
	s.triggers[id] = &trigger{expires: s.Clock.Now().Add(3 * time.Second)}
	return id
}

// ResponseURL returns a fresh response_url on the fake.
func (s *Server) ResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s/response/%d", s.URL, s.seq)
}

// Fail scripts faults for the next calls of method, in order.
func (s *Server) Fail(method string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], faults...)
}

// Calls returns the recorded calls of method ("" for all), in order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func parseArgs(r *http.Request) (map[string]any, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	args := map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if len(body) > 0 {
			if err := json.Unmarshal(body, &args); err != nil {
				return nil, err
			}
		}
		return args, nil
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	for k := range v {
		args[k] = v.Get(k)
	}
	return args, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.Latency > 0 {
		time.Sleep(s.Latency)
	}
	args, err := parseArgs(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/response/"); ok {
		s.respond(w, id, args)
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Clock.Now()
	s.calls = append(s.calls, Call{Method: method, Args: args, At: now})
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if fs := s.faults[method]; len(fs) > 0 {
		f := fs[0]
		s.faults[method] = fs[1:]
		if f.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			w.WriteHeader(f.Status)
			return
		}
		if f.Status != 0 && f.Status != http.StatusOK {
			w.WriteHeader(f.Status)
			return
		}
		writeJSON(w, map[string]any{"ok": false, "error": f.Code})
		return
	}
	switch method {
	case "chat.postMessage":
		s.postMessage(w, args, now)
	case "chat.postEphemeral":
		s.seq++
		writeJSON(w, map[string]any{"ok": true, "message_ts": fmt.Sprintf("%d.%06d", now.Unix(), s.seq)})
	case "views.open", "views.push":
		id, _ := args["trigger_id"].(string)
		tr, ok := s.triggers[id]
		switch {
		case !ok:
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_trigger_id"})
		case tr.used:
			writeJSON(w, map[string]any{"ok": false, "error": "exchanged_trigger_id"})
		case now.After(tr.expires):
			writeJSON(w, map[string]any{"ok": false, "error": "expired_trigger_id"})
		default:
			tr.used = true
			s.seq++
			writeJSON(w, map[string]any{"ok": true, "view": map[string]any{"id": fmt.Sprintf("V%d", s.seq)}})
		}
	case "views.update":
		writeJSON(w, map[string]any{"ok": true, "view": args["view"]})
	case "conversations.history":
		ch, _ := args["channel"].(string)
		msgs := s.history[ch]
		out := make([]slack.HistoryMessage, 0, len(msgs))
		for i := len(msgs) - 1; i >= 0; i-- {
			out = append(out, msgs[i])
		}
		writeJSON(w, map[string]any{"ok": true, "messages": out})
	case "users.info":
		writeJSON(w, map[string]any{"ok": true, "user": map[string]any{"id": args["user"]}})
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// postMessage runs with s.mu held.
func (s *Server) postMessage(w http.ResponseWriter, args map[string]any, now time.Time) {
	ch, _ := args["channel"].(string)
	text, _ := args["text"].(string)
	if ch == "" {
		writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	if text == "" && args["blocks"] == nil {
		writeJSON(w, map[string]any{"ok": false, "error": "no_text"})
		return
	}
	if s.PaceLimit > 0 {
		if last, ok := s.lastPost[ch]; ok && now.Sub(last) < s.PaceLimit {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		s.lastPost[ch] = now
	}
	s.seq++
	ts := fmt.Sprintf("%d.%06d", now.Unix(), s.seq)
	m := slack.HistoryMessage{TS: ts, Text: text}
	if md, ok := args["metadata"].(map[string]any); ok {
		m.Metadata = &slack.Metadata{EventPayload: map[string]string{}}
		m.Metadata.EventType, _ = md["event_type"].(string)
		if p, ok := md["event_payload"].(map[string]any); ok {
			for k, v := range p {
				m.Metadata.EventPayload[k] = fmt.Sprint(v)
			}
		}
	}
	s.history[ch] = append(s.history[ch], m)
	writeJSON(w, map[string]any{"ok": true, "channel": ch, "ts": ts})
}

func (s *Server) respond(w http.ResponseWriter, id string, args map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: "response_url", Args: args, At: s.Clock.Now(), URL: fmt.Sprintf("%s/response/%s", s.URL, id)})
	s.responses[id]++
	if s.responses[id] > 5 {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "used_url")
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// Posted returns every message chat.postMessage accepted, by channel, in order.
func (s *Server) Posted() map[string][]slack.HistoryMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]slack.HistoryMessage, len(s.history))
	for ch, msgs := range s.history {
		out[ch] = append([]slack.HistoryMessage(nil), msgs...)
	}
	return out
}
