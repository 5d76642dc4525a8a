package main

import (
	"crypto/tls"
	"fmt"
	"strconv"

	"sluice/internal/auth"
	"sluice/internal/clock"
	"sluice/internal/config"
)

// newVerifier returns the SigV4 verifier of the configured credentials (nil when there are
// none: auth is off) and how to describe auth in the start-up log.
func newVerifier(cfg config.Config) (*auth.Verifier, string, error) {
	if !cfg.AuthEnabled() {
		return nil, "off", nil
	}
	creds := make([]auth.Credential, len(cfg.Credentials))
	accounts := map[string]bool{}
	for i, c := range cfg.Credentials {
		creds[i] = auth.Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
			SessionToken: c.SessionToken, AccountID: c.AccountID, Name: c.Name}
		accounts[c.AccountID] = true
	}
	v, err := auth.New(auth.Options{Credentials: creds, Region: cfg.Region, Clock: clock.Real{}})
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return v, "sigv4 (" + strconv.Itoa(len(creds)) + " keys, " + strconv.Itoa(len(accounts)) + " accounts)", nil
}

// loadTLS loads --tls-cert and --tls-key (nil without them).
func loadTLS(cfg config.Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("%w: loading the TLS certificate: %w", config.ErrInvalid, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func scheme(t *tls.Config) string {
	if t != nil {
		return "https"
	}
	return "http"
}
