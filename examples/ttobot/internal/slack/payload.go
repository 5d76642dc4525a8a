package slack

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// SlashCommand is the form Slack posts when a user runs a slash command.
type SlashCommand struct {
	TeamID      string
	ChannelID   string
	ChannelName string
	UserID      string
	UserName    string
	Command     string // decoded, e.g. "/제출"
	Text        string
	ResponseURL string
	TriggerID   string
}

// ParseSlashCommand decodes a slash command's form body.
func ParseSlashCommand(body []byte) (*SlashCommand, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("slack: slash command form: %w", err)
	}
	c := &SlashCommand{
		TeamID: v.Get("team_id"), ChannelID: v.Get("channel_id"), ChannelName: v.Get("channel_name"),
		UserID: v.Get("user_id"), UserName: v.Get("user_name"), Command: v.Get("command"),
		Text: v.Get("text"), ResponseURL: v.Get("response_url"), TriggerID: v.Get("trigger_id"),
	}
	if c.Command == "" || c.UserID == "" {
		return nil, fmt.Errorf("slack: slash command without command or user_id")
	}
	return c, nil
}

// Interaction is the JSON inside an interactivity request's payload field.
type Interaction struct {
	Type        string `json:"type"` // view_submission, block_actions, view_closed, ...
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url,omitempty"`
	Team        struct {
		ID string `json:"id"`
	} `json:"team"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	View    *ViewState `json:"view,omitempty"`
	Actions []struct {
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Value    string `json:"value"`
	} `json:"actions,omitempty"`
}

// ViewState is the part of a submitted view ttobot reads.
type ViewState struct {
	ID              string `json:"id"`
	Hash            string `json:"hash,omitempty"`
	CallbackID      string `json:"callback_id"`
	PrivateMetadata string `json:"private_metadata"`
	State           struct {
		Values map[string]map[string]InputValue `json:"values"`
	} `json:"state"`
}

// InputValue is one input element's value in view.state.values.
type InputValue struct {
	Type           string  `json:"type"`
	Value          *string `json:"value,omitempty"`
	SelectedOption *struct {
		Value string `json:"value"`
	} `json:"selected_option,omitempty"`
}

// Value returns view.state.values[block][action] as text: the typed value or the selected
// option's value, "" when absent.
func (v *ViewState) Value(block, action string) string {
	if v == nil {
		return ""
	}
	in, ok := v.State.Values[block][action]
	if !ok {
		return ""
	}
	if in.Value != nil {
		return *in.Value
	}
	if in.SelectedOption != nil {
		return in.SelectedOption.Value
	}
	return ""
}

// ParseInteraction decodes an interactivity request's form body (payload=<json>).
func ParseInteraction(body []byte) (*Interaction, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("slack: interaction form: %w", err)
	}
	p := v.Get("payload")
	if p == "" {
		return nil, fmt.Errorf("slack: interaction without payload")
	}
	var in Interaction
	if err := json.Unmarshal([]byte(p), &in); err != nil {
		return nil, fmt.Errorf("slack: interaction payload: %w", err)
	}
	if in.Type == "" || in.User.ID == "" {
		return nil, fmt.Errorf("slack: interaction without type or user")
	}
	return &in, nil
}

// EventEnvelope is an Events API request: an event_callback or a url_verification.
type EventEnvelope struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge,omitempty"`
	TeamID    string `json:"team_id"`
	EventID   string `json:"event_id"`
	EventTime int64  `json:"event_time"`
	Event     struct {
		Type    string `json:"type"`
		User    string `json:"user"`
		Channel string `json:"channel"`
		Text    string `json:"text"`
		TS      string `json:"ts"`
	} `json:"event"`
}

// ParseEvent decodes an Events API JSON body.
func ParseEvent(body []byte) (*EventEnvelope, error) {
	var e EventEnvelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("slack: event body: %w", err)
	}
	if e.Type == "" {
		return nil, fmt.Errorf("slack: event without type")
	}
	return &e, nil
}
