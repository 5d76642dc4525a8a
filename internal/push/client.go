package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client calls the admin API of a Sluice server (Handler); the `sluice push` command and the
// load generator's push scenario use it.
type Client struct {
	// BaseURL is the server's URL (scheme, host and port).
	BaseURL string
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
	// Authorize, if set, adds credentials to each request.
	Authorize func(*http.Request)
}

// Do sends method to AdminPrefix+path (path: "", "QUEUE" or "QUEUE/pause", the queue name
// escaped by the caller) with in as its JSON body (nil: none) and returns the answer's body. An
// answer other than 2xx is an error carrying the server's message.
func (c *Client) Do(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+AdminPrefix+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Authorize != nil {
		c.Authorize(req)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s %s: %s", method, req.URL.Path, e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s (is this a Sluice server with the admin API?)", method, req.URL.Path, resp.Status)
	}
	return out, nil
}
