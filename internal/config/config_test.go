package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	require.NoError(t, err)
	require.Equal(t, Default(), c)
	require.Equal(t, "127.0.0.1:9324", c.Listen)
	require.Equal(t, "./sluice-data", c.DataDir)
	require.Equal(t, "disk", c.Storage)
	require.Equal(t, "always", c.Sync)
	require.Equal(t, "us-east-1", c.Region)
	require.Equal(t, "000000000000", c.AccountID)
	require.Equal(t, 400, c.GCPercent)

	c, err = load(t, []string{"--gc-percent", "-1"}, map[string]string{"SLUICE_GC_PERCENT": "100"})
	require.NoError(t, err)
	require.Equal(t, -1, c.GCPercent, "flag beats env; -1 turns the collector off")
	c, err = load(t, nil, map[string]string{"SLUICE_GC_PERCENT": "100"})
	require.NoError(t, err)
	require.Equal(t, 100, c.GCPercent)
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sluice.toml")
	require.NoError(t, os.WriteFile(file, []byte(`
listen = "127.0.0.1:1111"
region = "eu-west-1"
storage = "memory"
purge_interval = "0s"
`), 0o600))
	c, err := load(t, []string{"--config", file, "--listen", "127.0.0.1:3333"},
		map[string]string{"SLUICE_LISTEN": "127.0.0.1:2222", "SLUICE_REGION": "ap-northeast-2", "SLUICE_LOG_FORMAT": "json"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:3333", c.Listen, "flag beats env and file")
	require.Equal(t, "ap-northeast-2", c.Region, "env beats file")
	require.Equal(t, "memory", c.Storage, "file beats default")
	require.Equal(t, "json", c.LogFormat)
	require.Equal(t, time.Duration(0), c.PurgeInterval.Duration)
	require.Equal(t, 60*time.Second, c.DeleteCooldown.Duration)

	// SLUICE_CONFIG names the file too.
	c, err = load(t, nil, map[string]string{"SLUICE_CONFIG": file})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1111", c.Listen)
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.toml")
	require.NoError(t, os.WriteFile(unknown, []byte("lissten = \"x\"\n"), 0o600))
	broken := filepath.Join(dir, "broken.toml")
	require.NoError(t, os.WriteFile(broken, []byte("listen = \n"), 0o600))
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--storage", "tape"}, nil, "storage must be disk, memory or postgres"},
		{[]string{"--storage", "postgres"}, nil, "postgres-url must be set"},
		{[]string{"--storage", "postgres", "--postgres-url", "postgres://x", "--postgres-schema", "1bad"}, nil, "postgres-schema must be"},
		{[]string{"--sync", "never"}, nil, "sync must be always or interval"},
		{[]string{"--gc-percent", "0"}, nil, "gc-percent must be -1 (collector off) or at least 25"},
		{[]string{"--sync-gap", "1s"}, nil, "sync-gap must be between 0 and 100ms"},
		{[]string{"--account-id", "123"}, nil, "account-id must be 12 digits"},
		{[]string{"--log-format", "xml"}, nil, "log-format"},
		{[]string{"--log-level", "loud"}, nil, "log-level"},
		{nil, map[string]string{"SLUICE_PURGE_INTERVAL": "soon"}, "SLUICE_PURGE_INTERVAL"},
		{[]string{"--config", unknown}, nil, `unknown setting "lissten"`},
		{[]string{"--config", broken}, nil, "broken.toml"},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, nil, "missing.toml"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--delete-cooldown", "2h"}, nil, "delete-cooldown must be at most"},
	} {
		_, err := load(t, tc.args, tc.env)
		require.Error(t, err, "%v %v", tc.args, tc.env)
		require.True(t, errors.Is(err, ErrInvalid), "%v", err)
		require.Contains(t, err.Error(), tc.want)
	}
	_, err := load(t, []string{"--nope"}, nil)
	require.Error(t, err)
}
