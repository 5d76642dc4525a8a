package auth_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"sluice/internal/auth"
	"sluice/internal/clock"
)

// FuzzParse feeds arbitrary Authorization headers, query strings, dates and bodies to the
// SigV4 parser and verifier: they must never panic, every failure must be an *auth.Error of a
// known kind, and nothing unsigned may pass.
func FuzzParse(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDALICE/20260102/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd", "", "20260102T030405Z", "{}")
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDALICE%2F20260102%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60", "", "")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,,,=,SignedHeaders=;;,Signature=zz", "a=%zz&&=&b", "garbage", "\x00")
	f.Add("AWS AKID:sig", "X-Amz-Expires=-1&X-Amz-Signature=", "Mon, 02 Jan 2026 03:04:05 GMT", "")
	fc := clock.NewFake(now)
	v := newVerifier(f, fc)
	kinds := []error{auth.ErrMissingAuthenticationToken, auth.ErrIncompleteSignature, auth.ErrInvalidClientTokenId, auth.ErrSignatureDoesNotMatch}
	f.Fuzz(func(t *testing.T, authz, rawQuery, date, body string) {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = rawQuery
		r.Host = "127.0.0.1:9324"
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		_, perr := auth.Parse(r)
		p, err := v.Authenticate(r)
		if err == nil {
			_, err = p.Verify([]byte(body))
		}
		for _, e := range []error{perr, err} {
			if e == nil {
				continue
			}
			var ae *auth.Error
			if !errors.As(e, &ae) {
				t.Fatalf("not an *auth.Error: %v", e)
			}
			known := false
			for _, k := range kinds {
				known = known || errors.Is(e, k)
			}
			if !known {
				t.Fatalf("unknown kind: %v", e)
			}
			if len(ae.Message) > 2048 {
				t.Fatalf("message of %d bytes echoes too much input", len(ae.Message))
			}
		}
		if err == nil {
			t.Fatalf("an unsigned request passed: authz=%q query=%q", authz, rawQuery)
		}
	})
}
