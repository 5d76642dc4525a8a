package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

const (
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	maxSignedHeader = 64
)

// Signature is what a request says about its signature, from the Authorization header or from
// the presigned query parameters. Parse fills it without checking it against any credential.
type Signature struct {
	// Presigned is true for the query-string form.
	Presigned bool
	// AccessKeyID, ScopeDate (yyyymmdd), Region, Service and Terminator are the five parts of
	// the credential scope.
	AccessKeyID, ScopeDate, Region, Service, Terminator string
	// SignedHeaders are the lower-case names of the signed headers, in the order sent.
	SignedHeaders []string
	// Signature is the hex signature as sent.
	Signature string
	// Time is the request's X-Amz-Date (or Date header).
	Time time.Time
	// Expires is the presigned X-Amz-Expires (zero in the header form).
	Expires time.Duration
	// SecurityToken is X-Amz-Security-Token, if sent.
	SecurityToken string
}

// Parse reads a request's SigV4 signature. A request with no signature at all gives
// ErrMissingAuthenticationToken; a malformed one ErrIncompleteSignature. It never panics,
// whatever the request holds.
func Parse(r *http.Request) (*Signature, error) {
	authz := r.Header.Get("Authorization")
	q := r.URL.Query()
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential")
	switch {
	case authz != "" && presigned:
		return nil, fail(ErrIncompleteSignature, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case presigned:
		return parseQuery(r, q)
	case authz != "":
		return parseHeader(r, authz)
	}
	return nil, fail(ErrMissingAuthenticationToken, "Request is missing Authentication Token")
}

func parseHeader(r *http.Request, authz string) (*Signature, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	if alg != Algorithm {
		return nil, fail(ErrIncompleteSignature, "Unsupported AWS 'algorithm': '%s'. Only %s is supported.", clip(alg), Algorithm)
	}
	s := &Signature{}
	var cred, signed string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			if strings.TrimSpace(part) == "" {
				continue
			}
			return nil, fail(ErrIncompleteSignature, "Authorization header requires each component to be of the form key=value. Authorization=%s", clip(authz))
		}
		switch k {
		case "Credential":
			cred, haveCred = v, true
		case "SignedHeaders":
			signed, haveSigned = v, true
		case "Signature":
			s.Signature, haveSig = v, true
		}
	}
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" && r.Header.Get("Date") == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, fail(ErrIncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), clip(authz))
	}
	if err := s.setCredential(cred); err != nil {
		return nil, err
	}
	if err := s.setSignedHeaders(signed); err != nil {
		return nil, err
	}
	if date != "" {
		t, err := time.Parse(amzDateFormat, date)
		if err != nil {
			return nil, fail(ErrIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", clip(date))
		}
		s.Time = t
	} else {
		t, err := http.ParseTime(r.Header.Get("Date"))
		if err != nil {
			return nil, fail(ErrIncompleteSignature, "Date must be in ISO-8601 'basic format' or RFC 1123. Got '%s'.", clip(r.Header.Get("Date")))
		}
		s.Time = t.UTC()
	}
	s.SecurityToken = r.Header.Get("X-Amz-Security-Token")
	return s, nil
}

func parseQuery(_ *http.Request, q url.Values) (*Signature, error) {
	var missing []string
	for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(p) == "" {
			missing = append(missing, "AWS query-string parameters must include '"+p+"'.")
		}
	}
	if len(missing) > 0 {
		return nil, fail(ErrIncompleteSignature, "%s Re-examine the query-string parameters.", strings.Join(missing, " "))
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
		return nil, fail(ErrIncompleteSignature, "Unsupported AWS 'algorithm': '%s'. Only %s is supported.", clip(alg), Algorithm)
	}
	s := &Signature{Presigned: true, Signature: q.Get("X-Amz-Signature"), SecurityToken: q.Get("X-Amz-Security-Token")}
	if err := s.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	if err := s.setSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return nil, err
	}
	t, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return nil, fail(ErrIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", clip(q.Get("X-Amz-Date")))
	}
	s.Time = t
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n < 0 {
			return nil, fail(ErrIncompleteSignature, "X-Amz-Expires must be non-negative integer, got '%s'.", clip(e))
		}
		if time.Duration(n)*time.Second > MaxPresignExpiry || n > int64(MaxPresignExpiry/time.Second) {
			return nil, fail(ErrIncompleteSignature, "X-Amz-Expires must be less than a week (in seconds) that is 604800, got '%s'.", clip(e))
		}
		s.Expires = time.Duration(n) * time.Second
	} else {
		s.Expires = DefaultMaxSkew
	}
	return s, nil
}

func (s *Signature) setCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return fail(ErrIncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", clip(cred))
	}
	s.AccessKeyID, s.ScopeDate, s.Region, s.Service, s.Terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	if s.AccessKeyID == "" {
		return fail(ErrIncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", clip(cred))
	}
	return nil
}

func (s *Signature) setSignedHeaders(v string) error {
	if v == "" {
		return fail(ErrIncompleteSignature, "SignedHeaders must not be empty.")
	}
	hs := strings.Split(v, ";")
	if len(hs) > maxSignedHeader {
		return fail(ErrIncompleteSignature, "Too many SignedHeaders (%d; at most %d).", len(hs), maxSignedHeader)
	}
	host := false
	for _, h := range hs {
		if h == "" || h != strings.ToLower(h) {
			return fail(ErrIncompleteSignature, "SignedHeaders must be lower-case header names separated by ';', got '%s'.", clip(v))
		}
		host = host || h == "host"
	}
	if !host {
		return fail(ErrSignatureDoesNotMatch, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	s.SignedHeaders = hs
	return nil
}

// clip bounds what of a client's input is echoed in an error message.
func clip(s string) string {
	const n = 256
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Pending is a request whose signature passed every check that does not need the body: its
// key is known, its scope and date are right. Verify finishes the check.
type Pending struct {
	v    *Verifier
	r    *http.Request
	sig  *Signature
	cred Credential
}

// Credential returns the credential the request claims.
func (p *Pending) Credential() Credential { return p.cred }

// Authenticate checks everything about r's signature that the headers alone decide: presence and
// form, credential scope (region, service), access key, session token and date.
func (v *Verifier) Authenticate(r *http.Request) (*Pending, error) {
	s, err := Parse(r)
	if err != nil {
		return nil, err
	}
	if s.Terminator != "aws4_request" {
		return nil, fail(ErrSignatureDoesNotMatch, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", clip(s.Terminator))
	}
	if s.Service != v.service {
		return nil, fail(ErrSignatureDoesNotMatch, "Credential should be scoped to correct service: '%s'. ", v.service)
	}
	if s.Region != v.region {
		return nil, fail(ErrSignatureDoesNotMatch, "Credential should be scoped to a valid region, not '%s'. ", clip(s.Region))
	}
	cred, ok := v.keys[s.AccessKeyID]
	if !ok {
		return nil, fail(ErrInvalidClientTokenId, "The security token included in the request is invalid.")
	}
	if s.SecurityToken != "" || cred.SessionToken != "" {
		if !hmac.Equal([]byte(s.SecurityToken), []byte(cred.SessionToken)) {
			return nil, fail(ErrInvalidClientTokenId, "The security token included in the request is invalid.")
		}
	}
	if d := s.Time.Format(scopeDateFormat); s.ScopeDate != d {
		return nil, fail(ErrSignatureDoesNotMatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			clip(s.ScopeDate), d, s.Time.Format(amzDateFormat))
	}
	now := v.clock.Now().UTC()
	if s.Time.After(now.Add(v.skew)) {
		return nil, fail(ErrSignatureDoesNotMatch, "Signature not yet current: %s is still later than %s (%s + %d min.)",
			s.Time.Format(amzDateFormat), now.Add(v.skew).Format(amzDateFormat), now.Format(amzDateFormat), int(v.skew/time.Minute))
	}
	if s.Presigned {
		if now.After(s.Time.Add(s.Expires)) {
			return nil, fail(ErrSignatureDoesNotMatch, "Signature expired: %s is now earlier than %s (%s - %d sec.)",
				s.Time.Add(s.Expires).Format(amzDateFormat), now.Format(amzDateFormat), now.Format(amzDateFormat), int(s.Expires/time.Second))
		}
	} else if s.Time.Before(now.Add(-v.skew)) {
		return nil, fail(ErrSignatureDoesNotMatch, "Signature expired: %s is now earlier than %s (%s - %d min.)",
			s.Time.Format(amzDateFormat), now.Add(-v.skew).Format(amzDateFormat), now.Format(amzDateFormat), int(v.skew/time.Minute))
	}
	return &Pending{v: v, r: r, sig: s, cred: cred}, nil
}

// SignatureMismatch is the message of a signature that does not match (AWS's wording).
const SignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// Verify checks the signature over the request and its body, and returns the credential.
func (p *Pending) Verify(body []byte) (Credential, error) {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	payloads := []string{hash}
	if h := p.r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != hash {
		if h != unsignedPayload {
			return Credential{}, fail(ErrSignatureDoesNotMatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		payloads = []string{unsignedPayload}
	} else if p.sig.Presigned {
		payloads = append(payloads, unsignedPayload)
	}
	want, err := hex.DecodeString(p.sig.Signature)
	if err != nil || len(want) != sha256.Size {
		return Credential{}, fail(ErrSignatureDoesNotMatch, SignatureMismatch)
	}
	key := SigningKey(p.cred.SecretAccessKey, p.sig.ScopeDate, p.sig.Region, p.sig.Service)
	for _, payload := range payloads {
		got := hmacSHA256(key, StringToSign(p.sig, CanonicalRequest(p.r, p.sig, payload)))
		if hmac.Equal(got, want) {
			return p.cred, nil
		}
	}
	return Credential{}, fail(ErrSignatureDoesNotMatch, SignatureMismatch)
}

// CanonicalRequest returns SigV4's canonical request of r with the given payload hash.
func CanonicalRequest(r *http.Request, s *Signature, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(escape(path, true))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, s.Presigned))
	b.WriteByte('\n')
	for _, h := range s.SignedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(s.SignedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// StringToSign returns SigV4's string to sign for a canonical request.
func StringToSign(s *Signature, canonical string) []byte {
	sum := sha256.Sum256([]byte(canonical))
	return []byte(Algorithm + "\n" + s.Time.Format(amzDateFormat) + "\n" +
		s.ScopeDate + "/" + s.Region + "/" + s.Service + "/" + s.Terminator + "\n" + hex.EncodeToString(sum[:]))
}

// SigningKey derives SigV4's signing key.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return trimAll(r.Host)
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
		return strconv.FormatInt(r.ContentLength, 10)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = trimAll(v)
	}
	return strings.Join(out, ",")
}

// trimAll trims a header value and collapses runs of spaces, as SigV4 requires.
func trimAll(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// canonicalQuery sorts and re-encodes the query parameters; a presigned request leaves out its
// X-Amz-Signature.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var ps []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescape(k), unescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		ps = append(ps, kv{escape(k, false), escape(v, false)})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].k != ps[j].k {
			return ps[i].k < ps[j].k
		}
		return ps[i].v < ps[j].v
	})
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// escape percent-encodes every byte but SigV4's unreserved characters (and '/' in a path).
func escape(s string, path bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' || (path && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
