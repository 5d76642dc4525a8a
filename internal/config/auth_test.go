package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCredentialsFromFileAndEnv(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sluice.toml")
	require.NoError(t, os.WriteFile(file, []byte(`
account_id = "111111111111"

[[credentials]]
access_key_id = "AKIDALICE"
secret_access_key = "alice-secret"
name = "alice"

[[credentials]]
access_key_id = "AKIDBOB"
secret_access_key = "bob-secret"
account_id = "222222222222"
`), 0o600))
	c, err := load(t, []string{"--config", file}, map[string]string{
		"SLUICE_ACCESS_KEY_ID": "AKIDENV", "SLUICE_SECRET_ACCESS_KEY": "env-secret"})
	require.NoError(t, err)
	require.True(t, c.AuthEnabled())
	require.Equal(t, []Credential{
		{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret", AccountID: "111111111111", Name: "alice"},
		{AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret", AccountID: "222222222222"},
		{AccessKeyID: "AKIDENV", SecretAccessKey: "env-secret", AccountID: "111111111111", Name: "env"},
	}, c.Credentials)

	c, err = load(t, nil, nil)
	require.NoError(t, err)
	require.False(t, c.AuthEnabled(), "no credentials: auth off")
}

func TestLimitsAndTLSSettings(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--max-long-polls", "5", "--rate-limit", "100", "--read-header-timeout", "2s",
		"--tls-cert", "c.pem", "--tls-key", "k.pem"}, map[string]string{"SLUICE_MAX_QUEUES_PER_ACCOUNT": "7"})
	require.NoError(t, err)
	require.Equal(t, 5, c.MaxLongPolls)
	require.Equal(t, 100, c.RateLimit)
	require.Equal(t, 7, c.MaxQueuesPerAccount)
	require.Equal(t, DefaultMaxConnections, c.MaxConnections)
	require.Equal(t, 2*time.Second, c.ReadHeaderTimeout.Duration)
	require.Equal(t, "c.pem", c.TLSCert)
}

func TestInvalidAuthSettings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"key without secret":  {nil, map[string]string{"SLUICE_ACCESS_KEY_ID": "A"}},
		"secret without key":  {nil, map[string]string{"SLUICE_SECRET_ACCESS_KEY": "s"}},
		"cert without key":    {[]string{"--tls-cert", "c.pem"}, nil},
		"negative limit":      {[]string{"--max-long-polls", "-1"}, nil},
		"bad number":          {nil, map[string]string{"SLUICE_RATE_LIMIT": "fast"}},
		"short write timeout": {[]string{"--write-timeout", "5s"}, nil},
	} {
		_, err := load(t, tc.args, tc.env)
		require.Truef(t, errors.Is(err, ErrInvalid), "%s: %v", name, err)
	}
}
