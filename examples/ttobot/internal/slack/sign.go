// Package slack holds what ttobot needs from the Slack platform: request signature checks,
// the payloads Slack sends (slash commands, interactions, Events API callbacks) and a small
// Web API client whose base URL is configurable, so tests can point it at a fake.
package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxSkew is how far a request's timestamp may be from the receiver's clock.
const MaxSkew = 5 * time.Minute

// Errors returned by Verify; all of them mean "answer 401".
var (
	ErrMissingHeaders = errors.New("slack: signature or timestamp header missing")
	ErrBadTimestamp   = errors.New("slack: request timestamp is not a number")
	ErrStale          = errors.New("slack: request timestamp outside the replay window")
	ErrBadSignature   = errors.New("slack: request signature does not match")
)

// Sign returns the X-Slack-Signature value for body sent at timestamp ts (unix seconds).
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a request's signature header sig and timestamp header ts against the raw
// body, with now as the receiver's time. It returns the parsed timestamp.
func Verify(secret, ts, sig string, body []byte, now time.Time) (time.Time, error) {
	if ts == "" || sig == "" {
		return time.Time{}, ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q", ErrBadTimestamp, ts)
	}
	sent := time.Unix(sec, 0)
	skew := now.Sub(sent)
	if skew > MaxSkew || skew < -MaxSkew {
		return time.Time{}, fmt.Errorf("%w: skew %v", ErrStale, skew)
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return time.Time{}, ErrBadSignature
	}
	return sent, nil
}
