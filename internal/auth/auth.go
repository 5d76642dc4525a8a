// Package auth verifies AWS Signature Version 4 on SQS requests, in both its forms: the
// Authorization header and the presigned query string (X-Amz-Algorithm, X-Amz-Credential, ...).
// A Verifier knows the configured credentials (each access key belongs to an account), the
// region and service a signature must be scoped to, and the clock by which a request's
// X-Amz-Date must lie within 15 minutes. Verification is split in two so that a server can refuse
// a request by its headers alone (no credentials, unknown key, stale date) before it reads the
// body, whose SHA-256 the signature covers.
//
// Failures are *Error values whose Kind is one of this package's sentinels; package protocol maps
// each to the SQS error code, JSON type and HTTP status that AWS answers with.
package auth

import (
	"errors"
	"fmt"
	"time"

	"sluice/internal/clock"
)

// Error kinds, one per AWS authentication error.
var (
	// ErrMissingAuthenticationToken: the request carries no signature at all.
	ErrMissingAuthenticationToken = errors.New("MissingAuthenticationToken")
	// ErrIncompleteSignature: a signature that is malformed or lacks a required part.
	ErrIncompleteSignature = errors.New("IncompleteSignature")
	// ErrInvalidClientTokenId: an unknown access key, or a session token that is not accepted.
	ErrInvalidClientTokenId = errors.New("InvalidClientTokenId")
	// ErrSignatureDoesNotMatch: a wrong signature, or one scoped to another region or service,
	// or dated too far from now.
	ErrSignatureDoesNotMatch = errors.New("SignatureDoesNotMatch")
)

// Error is an authentication failure: a kind and the message the client sees.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns the kind, so that errors.Is(err, ErrSignatureDoesNotMatch) works.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Credential is one access key Sluice accepts.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must be sent as X-Amz-Security-Token with this key; when empty, a
	// request that carries a session token is refused.
	SessionToken string
	// AccountID is the 12-digit account the key belongs to.
	AccountID string
	// Name is an optional label for logs.
	Name string
}

// DefaultMaxSkew is how far a request's X-Amz-Date may be from the server's clock (AWS: 15 min).
const DefaultMaxSkew = 15 * time.Minute

// MaxPresignExpiry is the longest X-Amz-Expires accepted on a presigned request (7 days, as AWS).
const MaxPresignExpiry = 7 * 24 * time.Hour

// Options configure a Verifier.
type Options struct {
	Credentials []Credential
	// Region is the region signatures must be scoped to.
	Region string
	// Service is the signing name (default "sqs").
	Service string
	Clock   clock.Clock
	// MaxSkew defaults to DefaultMaxSkew.
	MaxSkew time.Duration
}

// Verifier checks SigV4 signatures against a fixed set of credentials. It is safe for
// concurrent use.
type Verifier struct {
	keys    map[string]Credential
	region  string
	service string
	clock   clock.Clock
	skew    time.Duration
}

// New returns a Verifier. It fails on an empty or repeated access key id or an empty secret.
func New(o Options) (*Verifier, error) {
	if o.Service == "" {
		o.Service = "sqs"
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	v := &Verifier{keys: map[string]Credential{}, region: o.Region, service: o.Service, clock: o.Clock, skew: o.MaxSkew}
	for _, c := range o.Credentials {
		switch {
		case c.AccessKeyID == "":
			return nil, errors.New("auth: a credential has no access key id")
		case c.SecretAccessKey == "":
			return nil, fmt.Errorf("auth: credential %s has no secret access key", c.AccessKeyID)
		}
		if _, dup := v.keys[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("auth: access key id %s is configured twice", c.AccessKeyID)
		}
		v.keys[c.AccessKeyID] = c
	}
	return v, nil
}
