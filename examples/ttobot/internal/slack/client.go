package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is Slack's Web API.
const DefaultBaseURL = "https://slack.com/api/"

// APIError is a Web API answer with ok:false.
type APIError struct {
	Method string
	Code   string // Slack's error string, e.g. "channel_not_found"
}

func (e *APIError) Error() string { return "slack: " + e.Method + ": " + e.Code }

// RateLimitedError is an HTTP 429 answer; RetryAfter comes from the Retry-After header.
type RateLimitedError struct {
	Method     string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("slack: %s: rate limited, retry after %v", e.Method, e.RetryAfter)
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// Client calls the Slack Web API with a bot token.
type Client struct {
	BaseURL string // ends in "/"; DefaultBaseURL when empty
	Token   string
	HTTP    *http.Client
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Call posts args as JSON to method and decodes the answer into out (may be nil).
func (c *Client) Call(ctx context.Context, method string, args, out any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("slack: %s: encode: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("slack: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	return c.do(req, method, out)
}

// CallForm posts args form-encoded to method (read methods such as conversations.history
// take only form bodies) and decodes the answer into out.
func (c *Client) CallForm(ctx context.Context, method string, args url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+method, strings.NewReader(args.Encode()))
	if err != nil {
		return fmt.Errorf("slack: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	return c.do(req, method, out)
}

func (c *Client) base() string {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base
}

func (c *Client) do(req *http.Request, method string, out any) error {
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("slack: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("slack: %s: read: %w", method, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if secs <= 0 {
			secs = 1
		}
		return &RateLimitedError{Method: method, RetryAfter: time.Duration(secs) * time.Second}
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("slack: %s: HTTP %d", method, resp.StatusCode)
	}
	var base struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &base); err != nil {
			return fmt.Errorf("slack: %s: decode: %w", method, err)
		}
		if !base.OK {
			return &APIError{Method: method, Code: base.Error}
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("slack: %s: decode: %w", method, err)
			}
		}
	}
	return nil
}

// Message is a chat.postMessage request.
type Message struct {
	Channel  string    `json:"channel"`
	Text     string    `json:"text"`
	Blocks   []any     `json:"blocks,omitempty"`
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Metadata is Slack message metadata; ttobot puts its outbox id in it.
type Metadata struct {
	EventType    string            `json:"event_type"`
	EventPayload map[string]string `json:"event_payload"`
}

// PostMessage posts m and returns the message's ts.
func (c *Client) PostMessage(ctx context.Context, m *Message) (string, error) {
	var out struct {
		TS string `json:"ts"`
	}
	if err := c.Call(ctx, "chat.postMessage", m, &out); err != nil {
		return "", err
	}
	return out.TS, nil
}

// PostEphemeral shows text to user in channel only.
func (c *Client) PostEphemeral(ctx context.Context, channel, user, text string) error {
	return c.Call(ctx, "chat.postEphemeral", map[string]any{"channel": channel, "user": user, "text": text}, nil)
}

// OpenView opens a modal with a trigger id.
func (c *Client) OpenView(ctx context.Context, triggerID string, view any) error {
	return c.Call(ctx, "views.open", map[string]any{"trigger_id": triggerID, "view": view}, nil)
}

// HistoryMessage is one message of conversations.history.
type HistoryMessage struct {
	TS       string    `json:"ts"`
	Text     string    `json:"text"`
	Metadata *Metadata `json:"metadata,omitempty"`
}

// History lists channel messages newer than oldest, with their metadata.
func (c *Client) History(ctx context.Context, channel string, oldest time.Time) ([]HistoryMessage, error) {
	var out struct {
		Messages []HistoryMessage `json:"messages"`
	}
	args := url.Values{
		"channel": {channel}, "oldest": {fmt.Sprintf("%d.000000", oldest.Unix())},
		"include_all_metadata": {"true"}, "limit": {"200"},
	}
	if err := c.CallForm(ctx, "conversations.history", args, &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Respond posts a message to a response_url (commands and message actions).
func (c *Client) Respond(ctx context.Context, responseURL string, msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("slack: response_url: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("slack: response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return c.do(req, "response_url", nil)
}
