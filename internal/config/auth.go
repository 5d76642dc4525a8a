package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults of the limits (docs/security.md explains each).
const (
	DefaultMaxLongPolls        = 1000
	DefaultMaxQueuesPerAccount = 10000
	DefaultMaxConnections      = 4096
)

// Credential is one access key that may sign requests (a [[credentials]] table).
type Credential struct {
	AccessKeyID     string `toml:"access_key_id"`
	SecretAccessKey string `toml:"secret_access_key"`
	// AccountID is the key's 12-digit account (default: the server's account_id).
	AccountID string `toml:"account_id"`
	// Name is an optional label, shown in logs.
	Name string `toml:"name"`
	// SessionToken, when set, must accompany the key (X-Amz-Security-Token); when empty, a
	// request with a session token is refused.
	SessionToken string `toml:"session_token"`
}

// AuthEnabled reports whether credentials are configured (requests must then be signed).
func (c *Config) AuthEnabled() bool { return len(c.Credentials) > 0 }

// addEnvCredential adds the credential of SLUICE_ACCESS_KEY_ID, SLUICE_SECRET_ACCESS_KEY and
// (optionally) SLUICE_SESSION_TOKEN, in the server's account. Secrets are read from the
// environment or the file only, never from flags, which other users of the machine can see.
func (c *Config) addEnvCredential(getenv func(string) string) {
	id, secret := getenv("SLUICE_ACCESS_KEY_ID"), getenv("SLUICE_SECRET_ACCESS_KEY")
	if id == "" && secret == "" {
		return
	}
	c.Credentials = append(c.Credentials, Credential{
		AccessKeyID: id, SecretAccessKey: secret, SessionToken: getenv("SLUICE_SESSION_TOKEN"), Name: "env",
	})
}

func isAccountID(s string) bool { return len(s) == 12 && strings.Trim(s, "0123456789") == "" }

// validateAuth checks the credentials (filling in default accounts), TLS files and limits.
func (c *Config) validateAuth() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		switch {
		case cr.AccessKeyID == "":
			return bad("credentials[%d]: access_key_id must not be empty (SLUICE_ACCESS_KEY_ID needs SLUICE_SECRET_ACCESS_KEY and the reverse)", i)
		case cr.SecretAccessKey == "":
			return bad("credentials %s: secret_access_key must not be empty", cr.AccessKeyID)
		case seen[cr.AccessKeyID]:
			return bad("credentials %s: access key id configured twice", cr.AccessKeyID)
		}
		seen[cr.AccessKeyID] = true
		if cr.AccountID == "" {
			cr.AccountID = c.AccountID
		}
		if !isAccountID(cr.AccountID) {
			return bad("credentials %s: account_id must be 12 digits, not %q", cr.AccessKeyID, cr.AccountID)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls-cert and tls-key go together")
	}
	for name, v := range map[string]int{"max-long-polls": c.MaxLongPolls, "max-queues-per-account": c.MaxQueuesPerAccount,
		"max-connections": c.MaxConnections, "rate-limit": c.RateLimit, "rate-burst": c.RateBurst} {
		if v < 0 {
			return bad("%s must not be negative", name)
		}
	}
	if c.ReadHeaderTimeout.Duration < 0 || c.ReadTimeout.Duration < 0 || c.WriteTimeout.Duration < 0 || c.IdleTimeout.Duration < 0 {
		return bad("durations must not be negative")
	}
	if w := c.WriteTimeout.Duration; w != 0 && w <= 20*time.Second {
		return bad("write-timeout must be longer than the 20s longest long poll, not %v", w)
	}
	return nil
}
