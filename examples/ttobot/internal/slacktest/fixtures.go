package slacktest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"ttobot/internal/slack"
)

// Request builds a signed POST to path with body, as Slack sends it at sent.
func Request(secret, base, path string, sent time.Time, contentType string, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	ts := strconv.FormatInt(sent.Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.Sign(secret, ts, body))
	return req
}

// Form is the content type of commands and interactions.
const Form = "application/x-www-form-urlencoded"

// Command is a slash command's fields.
type Command struct {
	Team, Channel, User, Command, Text, ResponseURL, Trigger string
}

// Body encodes c as Slack's form (the command name percent-encoded UTF-8).
func (c Command) Body() []byte {
	v := url.Values{
		"token": {"deprecated"}, "team_id": {c.Team}, "team_domain": {"geultto"}, "channel_id": {c.Channel},
		"channel_name": {"channel"}, "user_id": {c.User}, "user_name": {"someone"}, "command": {c.Command},
		"text": {c.Text}, "response_url": {c.ResponseURL}, "trigger_id": {c.Trigger}, "api_app_id": {"A0TTOBOT"},
	}
	return []byte(v.Encode())
}

// Text is a text or url input value.
func Text(s string) slack.InputValue { return slack.InputValue{Type: "plain_text_input", Value: &s} }

// Select is a static select's chosen value.
func Select(s string) slack.InputValue {
	v := slack.InputValue{Type: "static_select"}
	v.SelectedOption = &struct {
		Value string `json:"value"`
	}{Value: s}
	return v
}

// ViewSubmission is a submitted modal.
type ViewSubmission struct {
	Team, User, ViewID, CallbackID, PrivateMetadata, Trigger string
	Values                                                   map[string]map[string]slack.InputValue
}

// Body encodes v as an interactivity form (payload=<json>).
func (v ViewSubmission) Body() []byte {
	var in slack.Interaction
	in.Type = "view_submission"
	in.TriggerID = v.Trigger
	in.Team.ID = v.Team
	in.User.ID, in.User.Username, in.User.Name = v.User, "someone", "someone"
	in.View = &slack.ViewState{ID: v.ViewID, CallbackID: v.CallbackID, PrivateMetadata: v.PrivateMetadata}
	in.View.State.Values = v.Values
	p, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	return []byte(url.Values{"payload": {string(p)}}.Encode())
}

// EventBody is an event_callback with one event.
func EventBody(team, eventID, eventType, user, channel string) []byte {
	b, err := json.Marshal(map[string]any{
		"token": "deprecated", "team_id": team, "api_app_id": "A0TTOBOT", "type": "event_callback",
		"event_id": eventID, "event_time": 1700000000,
		"event": map[string]any{"type": eventType, "user": user, "channel": channel, "text": "hi", "ts": "1700000000.000100"},
	})
	if err != nil {
		panic(err)
	}
	return b
}
