package bot

import (
	"context"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// TitleFetcher reads a post's title (V5).
type TitleFetcher interface {
	// Title fetches rawURL and returns its <title>, "" when it has none. Failures are
	// RuleErrors with Code ErrFetch.
	Title(ctx context.Context, rawURL string) (string, error)
}

// HTTPFetcher fetches pages over HTTP with a browser User-Agent.
type HTTPFetcher struct {
	Client  *http.Client // http.DefaultClient when nil
	Timeout time.Duration
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// Title implements TitleFetcher.
func (f *HTTPFetcher) Title(ctx context.Context, rawURL string) (string, error) {
	u := strings.TrimSpace(rawURL)
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", ruleErr(ErrFetch, "링크에 문제가 있어요. 주소를 확인해 주세요.")
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36")
	c := f.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", ruleErr(ErrFetch, "링크에 문제가 있어요. 주소를 확인해 주세요.")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", ruleErr(ErrFetch, "비공개 글이거나 주소를 찾을 수 없어요 (404).")
	case resp.StatusCode >= 400:
		return "", ruleErr(ErrFetch, "글을 불러오지 못했어요 (HTTP %d).", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", ruleErr(ErrFetch, "링크에 문제가 있어요. 주소를 확인해 주세요.")
	}
	m := titleRE.FindSubmatch(body)
	if m == nil {
		return "", nil
	}
	return strings.TrimSpace(html.UnescapeString(string(m[1]))), nil
}

var _ TitleFetcher = (*HTTPFetcher)(nil)
