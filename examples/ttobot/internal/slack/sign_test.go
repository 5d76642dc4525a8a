package slack

import (
	"errors"
	"testing"
	"time"
)

// Slack's documented example request.
const (
	goldenSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	goldenTS     = "1531420618"
	goldenBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	goldenSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSignGoldenVector(t *testing.T) {
	if got := Sign(goldenSecret, goldenTS, []byte(goldenBody)); got != goldenSig {
		t.Fatalf("Sign = %s, want %s", got, goldenSig)
	}
}

func TestVerify(t *testing.T) {
	sent := time.Unix(1531420618, 0)
	tests := []struct {
		name   string
		secret string
		ts     string
		sig    string
		body   string
		now    time.Time
		want   error
	}{
		{"valid", goldenSecret, goldenTS, goldenSig, goldenBody, sent, nil},
		{"299s late is accepted", goldenSecret, goldenTS, goldenSig, goldenBody, sent.Add(299 * time.Second), nil},
		{"299s early is accepted", goldenSecret, goldenTS, goldenSig, goldenBody, sent.Add(-299 * time.Second), nil},
		{"tampered body", goldenSecret, goldenTS, goldenSig, goldenBody + "&x=1", sent, ErrBadSignature},
		{"wrong secret", "another-secret", goldenTS, goldenSig, goldenBody, sent, ErrBadSignature},
		{"tampered timestamp", goldenSecret, "1531420619", goldenSig, goldenBody, sent, ErrBadSignature},
		{"stale: 301s in the past", goldenSecret, goldenTS, goldenSig, goldenBody, sent.Add(301 * time.Second), ErrStale},
		{"stale: 301s in the future", goldenSecret, goldenTS, goldenSig, goldenBody, sent.Add(-301 * time.Second), ErrStale},
		{"missing signature", goldenSecret, goldenTS, "", goldenBody, sent, ErrMissingHeaders},
		{"missing timestamp", goldenSecret, "", goldenSig, goldenBody, sent, ErrMissingHeaders},
		{"timestamp not a number", goldenSecret, "soon", goldenSig, goldenBody, sent, ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.secret, tt.ts, tt.sig, []byte(tt.body), tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify err = %v, want %v", err, tt.want)
			}
			if err == nil && !got.Equal(sent) {
				t.Fatalf("timestamp = %v, want %v", got, sent)
			}
		})
	}
}
