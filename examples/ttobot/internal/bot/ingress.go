package bot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"ttobot/internal/slack"
	"ttobot/internal/store"
)

// Ingress is the HTTP side: it verifies each Slack request, answers what must be answered
// in the acknowledgement (field errors, search results, help), and enqueues the rest before
// it answers.
type Ingress struct {
	Bot           *Bot
	SigningSecret string
	Queue         Enqueuer
	MaxBody       int64         // request body cap; 1 MiB when zero
	Budget        time.Duration // time allowed for the enqueue; 2 s when zero
}

// Handler routes /slack/commands, /slack/interactions, /slack/events and /healthz.
func (in *Ingress) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", in.signed(in.command))
	mux.HandleFunc("POST /slack/interactions", in.signed(in.interaction))
	mux.HandleFunc("POST /slack/events", in.signed(in.event))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

type request struct {
	body       []byte
	slackTS    time.Time
	receivedAt time.Time
}

// signed reads the capped raw body, stamps the receive time and verifies the signature
// before anything is parsed; a failure is a bodiless 401.
func (in *Ingress) signed(h func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		received := in.Bot.Clock.Now()
		limit := in.MaxBody
		if limit <= 0 {
			limit = 1 << 20
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		sent, err := slack.Verify(in.SigningSecret, r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature"), body, received)
		if err != nil {
			in.Bot.Log.Warn("slack request refused", "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r, &request{body: body, slackTS: sent, receivedAt: received.UTC()})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (in *Ingress) enqueue(ctx context.Context, w http.ResponseWriter, lane Lane, env *Envelope) bool {
	budget := in.Budget
	if budget <= 0 {
		budget = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if err := in.Queue.Enqueue(ctx, lane, env); err != nil {
		in.Bot.Log.Error("enqueue failed", "key", env.Key, "err", err)
		// A 5xx makes Slack retry events; a command's user sees an error and may retry.
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	return true
}

func (in *Ingress) command(w http.ResponseWriter, r *http.Request, req *request) {
	if strings.Contains(string(req.body), "ssl_check=1") {
		w.WriteHeader(http.StatusOK)
		return
	}
	cmd, err := slack.ParseSlashCommand(req.body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch cmd.Command {
	case "/도움말":
		writeJSON(w, map[string]any{"response_type": "ephemeral", "text": HelpText(in.Bot.Roster())})
		return
	case "/제출", "/패스", "/검색", "/제출내역":
	default:
		writeJSON(w, map[string]any{"response_type": "ephemeral", "text": "모르는 명령이에요. `/도움말`을 입력해 보세요."})
		return
	}
	env := &Envelope{
		Kind: KindCommand, Key: "cmd:" + cmd.TeamID + ":" + cmd.TriggerID, Group: cmd.TeamID + ":" + cmd.UserID,
		ReceivedAt: req.receivedAt, SlackTimestamp: req.slackTS, Body: string(req.body),
	}
	if in.enqueue(r.Context(), w, LaneInteractive, env) {
		w.WriteHeader(http.StatusOK)
	}
}

func (in *Ingress) interaction(w http.ResponseWriter, r *http.Request, req *request) {
	it, err := slack.ParseInteraction(req.body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	group := it.Team.ID + ":" + it.User.ID
	env := &Envelope{Kind: KindInteraction, Group: group, ReceivedAt: req.receivedAt, SlackTimestamp: req.slackTS, Body: string(req.body)}
	switch it.Type {
	case "view_submission":
		if it.View == nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		env.Key = "view:" + it.Team.ID + ":" + it.View.ID
		if done, err := in.Bot.Store.DeliveryProcessed(r.Context(), env.Key); err == nil && done {
			w.WriteHeader(http.StatusOK) // a second click on a modal already handled
			return
		}
		switch it.View.CallbackID {
		case CallbackSubmit:
			if errs := in.checkSubmit(r.Context(), it, env.Key); errs != nil {
				writeJSON(w, map[string]any{"response_action": "errors", "errors": errs})
				return
			}
		case CallbackPass:
			if errs := in.checkPass(r.Context(), it, req.receivedAt); errs != nil {
				writeJSON(w, map[string]any{"response_action": "errors", "errors": errs})
				return
			}
		case CallbackSearch:
			in.search(r.Context(), w, it)
			return
		case CallbackSearchResult:
			writeJSON(w, map[string]any{"response_action": "update", "view": SearchView(in.Bot.Roster())})
			return
		default:
			w.WriteHeader(http.StatusOK)
			return
		}
	case "block_actions":
		env.Key = "act:" + it.Team.ID + ":" + it.TriggerID
	default: // view_closed and others: nothing to do
		w.WriteHeader(http.StatusOK)
		return
	}
	if in.enqueue(r.Context(), w, LaneRecords, env) {
		w.WriteHeader(http.StatusOK) // an empty 200 closes the modal
	}
}

// checkSubmit runs the validations whose errors must travel in the ack (V1–V4).
func (in *Ingress) checkSubmit(ctx context.Context, it *slack.Interaction, key string) map[string]string {
	v := it.View
	raw := v.Value(BlockURL, ActionURL)
	if err := ValidateSubmitURL(raw, v.Value(BlockTitle, ActionTitle)); err != nil {
		return map[string]string{BlockURL: userMessage(err)}
	}
	taken, err := in.Bot.Store.URLTaken(ctx, in.Bot.Roster().Cohort.Name, NormalizeURL(raw))
	if err != nil {
		in.Bot.Log.Error("duplicate check failed; the worker checks again", "err", err)
		return nil
	}
	if taken {
		// The record and its delivery key commit together: if this very delivery took the
		// URL a moment ago (a double click racing the worker), it is a duplicate, not a V2.
		if done, err := in.Bot.Store.DeliveryProcessed(ctx, key); err == nil && done {
			return nil
		}
		return map[string]string{BlockURL: userMessage(ruleErr(ErrDuplicateURL, "이미 제출된 글이에요."))}
	}
	return nil
}

// checkPass runs P1–P3 again for the pass modal (they were checked when it opened).
func (in *Ingress) checkPass(ctx context.Context, it *slack.Interaction, received time.Time) map[string]string {
	ro := in.Bot.Roster()
	round, err := ro.Cohort.RoundAt(received)
	if err != nil {
		return map[string]string{BlockDesc: "지금은 제출 기간이 아니에요."}
	}
	contents, err := in.Bot.Store.UserContents(ctx, ro.Cohort.Name, it.User.ID)
	if err != nil {
		in.Bot.Log.Error("pass check failed; the worker checks again", "err", err)
		return nil
	}
	if _, err := CheckPass(&ro.Cohort, contents, round); err != nil {
		return map[string]string{BlockDesc: userMessage(err)}
	}
	return nil
}

func (in *Ingress) search(ctx context.Context, w http.ResponseWriter, it *slack.Interaction) {
	ro := in.Bot.Roster()
	cat := it.View.Value(BlockSearchCat, ActionSearchC)
	if cat == AllCategories {
		cat = ""
	}
	res, total, err := in.Bot.Store.Search(ctx, store.SearchParams{
		Cohort: ro.Cohort.Name, Keyword: strings.TrimSpace(it.View.Value(BlockKeyword, ActionKeyword)),
		Author: strings.TrimSpace(it.View.Value(BlockAuthor, ActionAuthor)), Category: cat, Limit: maxSearchShow,
	})
	if err != nil {
		in.Bot.Log.Error("search failed", "err", err)
		writeJSON(w, map[string]any{"response_action": "errors", "errors": map[string]string{BlockKeyword: "검색에 실패했어요. 잠시 후 다시 시도해 주세요."}})
		return
	}
	writeJSON(w, map[string]any{"response_action": "update", "view": SearchResultView(res, total)})
}

func (in *Ingress) event(w http.ResponseWriter, r *http.Request, req *request) {
	e, err := slack.ParseEvent(req.body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch e.Type {
	case "url_verification":
		writeJSON(w, map[string]string{"challenge": e.Challenge})
		return
	case "event_callback":
	default:
		w.WriteHeader(http.StatusOK)
		return
	}
	if e.EventID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	group := e.TeamID + ":" + e.Event.User
	if e.Event.User == "" {
		group = e.TeamID + ":events"
	}
	env := &Envelope{Kind: KindEvent, Key: "ev:" + e.EventID, Group: group, ReceivedAt: req.receivedAt, SlackTimestamp: req.slackTS, Body: string(req.body)}
	if in.enqueue(r.Context(), w, LaneRecords, env) {
		w.WriteHeader(http.StatusOK)
	}
}

// userMessage is the Korean text of a refusal, or a generic one for other errors.
func userMessage(err error) string {
	var re *RuleError
	if errors.As(err, &re) && re.Msg != "" {
		return re.Msg
	}
	return "문제가 생겼어요. 잠시 후 다시 시도해 주세요."
}
