package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"sluice/internal/auth"
	"sluice/internal/clock"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	akid   = "AKIDALICE"
	secret = "alice-secret"
)

func newVerifier(t testing.TB, fc *clock.Fake, extra ...auth.Credential) *auth.Verifier {
	t.Helper()
	creds := append([]auth.Credential{{AccessKeyID: akid, SecretAccessKey: secret, AccountID: "111111111111", Name: "alice"}}, extra...)
	v, err := auth.New(auth.Options{Credentials: creds, Region: "us-east-1", Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func payloadHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signedJSON returns a JSON-protocol request signed by aws-sdk-go-v2's signer, as the server
// sees it (the signer's view of Host, then a server-side request).
func signedJSON(t *testing.T, key, sec, region, service string, at time.Time, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: sec},
		r, payloadHash([]byte(body)), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func check(v *auth.Verifier, r *http.Request, body string) (auth.Credential, error) {
	p, err := v.Authenticate(r)
	if err != nil {
		return auth.Credential{}, err
	}
	return p.Verify([]byte(body))
}

func wantKind(t *testing.T, err, kind error, msgPart string) {
	t.Helper()
	var ae *auth.Error
	if !errors.As(err, &ae) || !errors.Is(err, kind) {
		t.Fatalf("got %v, want %v", err, kind)
	}
	if !strings.Contains(ae.Message, msgPart) {
		t.Fatalf("message %q does not contain %q", ae.Message, msgPart)
	}
}

func TestSDKSignedRequestAccepted(t *testing.T) {
	fc := clock.NewFake(now)
	v := newVerifier(t, fc)
	body := `{"QueueNamePrefix":"a b+c/é"}`
	r := signedJSON(t, akid, secret, "us-east-1", "sqs", now.Add(-14*time.Minute), body)
	c, err := check(v, r, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccountID != "111111111111" || c.Name != "alice" {
		t.Fatalf("credential %+v", c)
	}
}

func TestRefusals(t *testing.T) {
	fc := clock.NewFake(now)
	v := newVerifier(t, fc)
	body := `{}`
	cases := []struct {
		name string
		req  func() *http.Request
		body string
		kind error
		msg  string
	}{
		{"tampered body", func() *http.Request { return signedJSON(t, akid, secret, "us-east-1", "sqs", now, body) }, `{"x":1}`,
			auth.ErrSignatureDoesNotMatch, "The request signature we calculated does not match"},
		{"tampered signature", func() *http.Request {
			r := signedJSON(t, akid, secret, "us-east-1", "sqs", now, body)
			h := r.Header.Get("Authorization")
			last := h[len(h)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			r.Header.Set("Authorization", h[:len(h)-1]+string(repl))
			return r
		}, body, auth.ErrSignatureDoesNotMatch, "does not match"},
		{"tampered signed header", func() *http.Request {
			r := signedJSON(t, akid, secret, "us-east-1", "sqs", now, body)
			r.Header.Set("X-Amz-Target", "AmazonSQS.DeleteQueue")
			return r
		}, body, auth.ErrSignatureDoesNotMatch, "does not match"},
		{"wrong secret", func() *http.Request { return signedJSON(t, akid, "wrong", "us-east-1", "sqs", now, body) }, body,
			auth.ErrSignatureDoesNotMatch, "does not match"},
		{"unknown key", func() *http.Request { return signedJSON(t, "AKIDNOBODY", secret, "us-east-1", "sqs", now, body) }, body,
			auth.ErrInvalidClientTokenId, "The security token included in the request is invalid."},
		{"stale date", func() *http.Request {
			return signedJSON(t, akid, secret, "us-east-1", "sqs", now.Add(-15*time.Minute-time.Second), body)
		}, body, auth.ErrSignatureDoesNotMatch, "Signature expired: 20260102T024904Z is now earlier than 20260102T024905Z (20260102T030405Z - 15 min.)"},
		{"future date", func() *http.Request {
			return signedJSON(t, akid, secret, "us-east-1", "sqs", now.Add(16*time.Minute), body)
		}, body, auth.ErrSignatureDoesNotMatch, "Signature not yet current"},
		{"wrong region", func() *http.Request { return signedJSON(t, akid, secret, "eu-west-1", "sqs", now, body) }, body,
			auth.ErrSignatureDoesNotMatch, "Credential should be scoped to a valid region, not 'eu-west-1'."},
		{"wrong service", func() *http.Request { return signedJSON(t, akid, secret, "us-east-1", "sns", now, body) }, body,
			auth.ErrSignatureDoesNotMatch, "Credential should be scoped to correct service: 'sqs'."},
		{"no authorization", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", strings.NewReader(body))
		}, body, auth.ErrMissingAuthenticationToken, "Request is missing Authentication Token"},
		{"no signature part", func() *http.Request {
			r := signedJSON(t, akid, secret, "us-east-1", "sqs", now, body)
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
			return r
		}, body, auth.ErrIncompleteSignature, "Authorization header requires 'Signature' parameter."},
		{"no date", func() *http.Request {
			r := signedJSON(t, akid, secret, "us-east-1", "sqs", now, body)
			r.Header.Del("X-Amz-Date")
			return r
		}, body, auth.ErrIncompleteSignature, "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
		{"bad credential", func() *http.Request {
			r := signedJSON(t, akid, secret, "us-east-1", "sqs", now, body)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/sqs/aws4_request", "", 1))
			return r
		}, body, auth.ErrIncompleteSignature, "Credential must have exactly 5 slash-delimited elements"},
		{"sigv2 style", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", strings.NewReader(body))
			r.Header.Set("Authorization", "AWS AKIDALICE:c2lnbmF0dXJl")
			return r
		}, body, auth.ErrIncompleteSignature, "Unsupported AWS 'algorithm': 'AWS'"},
		{"session token not configured", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", strings.NewReader(body))
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: "tok"},
				r, payloadHash([]byte(body)), "sqs", "us-east-1", now)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, body, auth.ErrInvalidClientTokenId, "security token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(v, tc.req(), tc.body)
			wantKind(t, err, tc.kind, tc.msg)
		})
	}
}

func TestSessionTokenConfigured(t *testing.T) {
	fc := clock.NewFake(now)
	v := newVerifier(t, fc, auth.Credential{AccessKeyID: "ASIATEMP", SecretAccessKey: "s", SessionToken: "tok", AccountID: "222222222222"})
	sign := func(token string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9324/", strings.NewReader("{}"))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "s", SessionToken: token},
			r, payloadHash([]byte("{}")), "sqs", "us-east-1", now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if _, err := check(v, sign("tok"), "{}"); err != nil {
		t.Fatalf("configured session token refused: %v", err)
	}
	_, err := check(v, sign("other"), "{}")
	wantKind(t, err, auth.ErrInvalidClientTokenId, "security token")
	_, err = check(v, sign(""), "{}")
	wantKind(t, err, auth.ErrInvalidClientTokenId, "security token")
}

func presign(t *testing.T, key, sec string, at time.Time, expires time.Duration) string {
	t.Helper()
	u := "http://127.0.0.1:9324/111111111111/q?Action=SendMessage&MessageBody=hello%20world&Version=2012-11-05"
	if expires > 0 {
		u += "&X-Amz-Expires=" + strconv.Itoa(int(expires/time.Second))
	}
	r, _ := http.NewRequest(http.MethodGet, u, nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: sec},
		r, payloadHash(nil), "sqs", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestPresigned(t *testing.T) {
	fc := clock.NewFake(now)
	v := newVerifier(t, fc)
	u := presign(t, akid, secret, now, 0)
	if _, err := check(v, httptest.NewRequest(http.MethodGet, u, nil), ""); err != nil {
		t.Fatalf("presigned URL refused: %v (%s)", err, u)
	}
	// Tampering with any parameter breaks it.
	bad := strings.Replace(u, "hello%20world", "hello%20there", 1)
	_, err := check(v, httptest.NewRequest(http.MethodGet, bad, nil), "")
	wantKind(t, err, auth.ErrSignatureDoesNotMatch, "does not match")

	// X-Amz-Expires bounds its life.
	u = presign(t, akid, secret, now, 60*time.Second)
	fc.Advance(59 * time.Second)
	if _, err := check(v, httptest.NewRequest(http.MethodGet, u, nil), ""); err != nil {
		t.Fatalf("presigned URL refused before it expired: %v", err)
	}
	fc.Advance(2 * time.Second)
	_, err = check(v, httptest.NewRequest(http.MethodGet, u, nil), "")
	wantKind(t, err, auth.ErrSignatureDoesNotMatch, "Signature expired")

	// Missing parameters.
	_, err = check(v, httptest.NewRequest(http.MethodGet, "http://h/?X-Amz-Algorithm=AWS4-HMAC-SHA256", nil), "")
	wantKind(t, err, auth.ErrIncompleteSignature, "AWS query-string parameters must include 'X-Amz-Credential'.")
}

// TestAWSSuiteVectors checks signatures from AWS's SigV4 test suite (get-vanilla and the IAM
// ListUsers example of the SigV4 documentation).
func TestAWSSuiteVectors(t *testing.T) {
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	cred := auth.Credential{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", AccountID: "123456789012"}
	cases := []struct {
		name, service, url, sig string
		headers                 map[string]string
		signed                  string
	}{
		{"get-vanilla", "service", "http://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
			nil, "host;x-amz-date"},
		{"iam-listusers", "iam", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, "content-type;host;x-amz-date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := auth.New(auth.Options{Credentials: []auth.Credential{cred}, Region: "us-east-1", Service: tc.service, Clock: clock.NewFake(at)})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, tc.url, nil)
			for k, val := range tc.headers {
				r.Header.Set(k, val)
			}
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"+tc.service+"/aws4_request, SignedHeaders="+tc.signed+", Signature="+tc.sig)
			if _, err := check(v, r, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewRefusesBadCredentials(t *testing.T) {
	for _, creds := range [][]auth.Credential{
		{{AccessKeyID: "", SecretAccessKey: "s"}},
		{{AccessKeyID: "A", SecretAccessKey: ""}},
		{{AccessKeyID: "A", SecretAccessKey: "s"}, {AccessKeyID: "A", SecretAccessKey: "t"}},
	} {
		if _, err := auth.New(auth.Options{Credentials: creds, Region: "us-east-1"}); err == nil {
			t.Errorf("New(%v) succeeded", creds)
		}
	}
}
