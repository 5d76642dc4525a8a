// Package config holds the server's configuration: defaults, validation, and loading from an
// optional TOML file, SLUICE_* environment variables and command-line flags, in that order of
// increasing precedence.
package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"sluice/internal/engine"
	"sluice/internal/engine/pgengine"
)

// Config is the configuration of `sluice serve`.
type Config struct {
	// Listen is the address of the SQS endpoint.
	Listen string `toml:"listen"`
	// DataDir is where the disk engine keeps its data.
	DataDir string `toml:"data_dir"`
	// Storage is "disk" (durable, default) or "memory".
	Storage string `toml:"storage"`
	// Sync is "always" (acknowledge only durable writes) or "interval".
	Sync string `toml:"sync"`
	// SyncGap is the disk engine's shortest time between two fsyncs with sync=always
	// (diskengine.Options.MinSyncGap).
	SyncGap Duration `toml:"sync_gap"`
	// PostgresURL and PostgresSchema locate the shared database of storage "postgres".
	PostgresURL    string `toml:"postgres_url"`
	PostgresSchema string `toml:"postgres_schema"`
	// Region and AccountID appear in queue URLs and ARNs.
	Region    string `toml:"region"`
	AccountID string `toml:"account_id"`
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`
	// PurgeInterval is the minimum time between purges of a queue; DeleteCooldown how long a
	// deleted queue's name stays taken. Both are 60s on SQS; 0 disables the rule.
	PurgeInterval  Duration `toml:"purge_interval"`
	DeleteCooldown Duration `toml:"delete_cooldown"`
	// ShutdownGrace bounds how long shutdown waits for requests in progress.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// Queues are declared in the file only (see QueueDecl).
	Queues []QueueDecl `toml:"queues"`
	// Credentials turn authentication on (see auth.go): [[credentials]] tables in the file,
	// or one credential from SLUICE_ACCESS_KEY_ID and SLUICE_SECRET_ACCESS_KEY.
	Credentials []Credential `toml:"credentials"`
	// TLSCert and TLSKey are PEM files; with both set the endpoint serves HTTPS.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Limits (docs/security.md): 0 turns a cap off.
	MaxLongPolls        int `toml:"max_long_polls"`
	MaxQueuesPerAccount int `toml:"max_queues_per_account"`
	MaxConnections      int `toml:"max_connections"`
	RateLimit           int `toml:"rate_limit"`
	RateBurst           int `toml:"rate_burst"`
	// Timeouts of the HTTP server (docs/security.md).
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	// Console is "on" (the web console under /console, default) or "off". ConsoleListen, when
	// set, serves it on its own address instead of the SQS endpoint's. ConsoleToken is the
	// password of the console off the loopback interface (generated at start when empty).
	Console       string `toml:"console"`
	ConsoleListen string `toml:"console_listen"`
	ConsoleToken  string `toml:"console_token"`
	// GCPercent is the Go garbage collector's target (what GOGC sets) while the live heap is
	// small: the heap may grow this many percent over the live data before a collection. Higher
	// spends memory to save CPU. Above 100 it falls as the live heap grows, so that the headroom
	// stays within 256 MiB, down to 100 (memtune); -1 turns the collector off.
	GCPercent int `toml:"gc_percent"`
	// PprofListen, when set, serves Go's runtime profiles (net/http/pprof) on this address.
	PprofListen string `toml:"pprof_listen"`
}

// Duration is a time.Duration written as "60s" in the file.
type Duration struct{ time.Duration }

// UnmarshalText parses a duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// MarshalText formats a duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultGCPercent is the default GCPercent: four times Go's own default. Without a backlog the
// live heap is small and request garbage dominates, so collecting less often saves CPU
// (BENCHMARKS.md, "Where the server's time goes"); with a large backlog memtune brings the
// target back toward 100.
const DefaultGCPercent = 400

// Default returns the default configuration.
func Default() Config {
	return Config{
		Listen:         "127.0.0.1:9324",
		DataDir:        "./sluice-data",
		Storage:        "disk",
		Sync:           "always",
		SyncGap:        Duration{500 * time.Microsecond},
		PostgresSchema: "sluice",
		Region:         "us-east-1",
		AccountID:      "000000000000",
		LogLevel:       "info",
		LogFormat:      "text",
		PurgeInterval:  Duration{60 * time.Second},
		DeleteCooldown: Duration{60 * time.Second},
		ShutdownGrace:  Duration{25 * time.Second},

		MaxLongPolls:        DefaultMaxLongPolls,
		MaxQueuesPerAccount: DefaultMaxQueuesPerAccount,
		MaxConnections:      DefaultMaxConnections,
		ReadHeaderTimeout:   Duration{10 * time.Second},
		ReadTimeout:         Duration{60 * time.Second},
		WriteTimeout:        Duration{60 * time.Second},
		IdleTimeout:         Duration{120 * time.Second},
		Console:             "on",
		GCPercent:           DefaultGCPercent,
	}
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Validate checks the configuration.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Listen == "":
		return bad("listen must not be empty")
	case c.Storage != "disk" && c.Storage != "memory" && c.Storage != "postgres":
		return bad("storage must be disk, memory or postgres, not %q", c.Storage)
	case c.Storage == "postgres" && c.PostgresURL == "":
		return bad("postgres-url must be set with storage=postgres")
	case c.Storage == "postgres" && !pgengine.ValidSchema(c.PostgresSchema):
		return bad("postgres-schema must be letters, digits and underscores (at most 63, not starting with a digit), not %q", c.PostgresSchema)
	case c.Storage == "disk" && c.DataDir == "":
		return bad("data-dir must not be empty with storage=disk")
	case c.Sync != "always" && c.Sync != "interval":
		return bad("sync must be always or interval, not %q", c.Sync)
	case c.Region == "":
		return bad("region must not be empty")
	case len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "":
		return bad("account-id must be 12 digits, not %q", c.AccountID)
	case c.LogFormat != "text" && c.LogFormat != "json":
		return bad("log-format must be text or json, not %q", c.LogFormat)
	case c.SyncGap.Duration < 0 || c.SyncGap.Duration > 100*time.Millisecond:
		return bad("sync-gap must be between 0 and 100ms, not %v", c.SyncGap.Duration)
	case c.PurgeInterval.Duration < 0 || c.DeleteCooldown.Duration < 0 || c.ShutdownGrace.Duration < 0:
		return bad("durations must not be negative")
	case c.DeleteCooldown.Duration > engine.MaxDeletedCooldown:
		return bad("delete-cooldown must be at most %v", engine.MaxDeletedCooldown)
	case c.GCPercent != -1 && c.GCPercent < 25:
		return bad("gc-percent must be -1 (collector off) or at least 25, not %d", c.GCPercent)
	case c.Console != "on" && c.Console != "off":
		return bad("console must be on or off, not %q", c.Console)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	return validateQueues(c.Queues)
}

// field binds one setting to its flag, environment variable and description.
type field struct {
	flag string
	help string
	str  *string
	dur  *Duration
	num  *int
}

func (c *Config) fields() []field {
	return []field{
		{flag: "listen", help: "address of the SQS endpoint", str: &c.Listen},
		{flag: "data-dir", help: "data directory of the disk engine", str: &c.DataDir},
		{flag: "storage", help: "storage engine: disk (durable), memory (not durable) or postgres (several nodes share one database)", str: &c.Storage},
		{flag: "postgres-url", help: "PostgreSQL connection URL of storage=postgres (postgres://user@host:5432/db)", str: &c.PostgresURL},
		{flag: "postgres-schema", help: "PostgreSQL schema of storage=postgres, created and migrated at start", str: &c.PostgresSchema},
		{flag: "sync", help: "disk durability: always (fsync before acknowledging) or interval (may lose the last ~10ms of acknowledged writes on any crash)", str: &c.Sync},
		{flag: "sync-gap", help: "sync=always: while more than 4 writes wait for an fsync, the shortest time between two fsyncs, so that the writes that come meanwhile share the next (0: fsync at once)", dur: &c.SyncGap},
		{flag: "region", help: "region used in ARNs", str: &c.Region},
		{flag: "account-id", help: "12-digit account id used in queue URLs and ARNs", str: &c.AccountID},
		{flag: "log-level", help: "debug, info, warn or error", str: &c.LogLevel},
		{flag: "log-format", help: "text or json", str: &c.LogFormat},
		{flag: "purge-interval", help: "minimum time between two purges of a queue (0 disables)", dur: &c.PurgeInterval},
		{flag: "delete-cooldown", help: "time before a deleted queue's name can be reused (0 disables)", dur: &c.DeleteCooldown},
		{flag: "shutdown-grace", help: "how long shutdown waits for requests in progress", dur: &c.ShutdownGrace},
		{flag: "tls-cert", help: "PEM certificate file: serve HTTPS (with --tls-key)", str: &c.TLSCert},
		{flag: "tls-key", help: "PEM private key file of --tls-cert", str: &c.TLSKey},
		{flag: "max-long-polls", help: "receives that may wait at once; more get RequestThrottled (0: no cap)", num: &c.MaxLongPolls},
		{flag: "max-queues-per-account", help: "queues one account may have; more get OverLimit (0: no cap)", num: &c.MaxQueuesPerAccount},
		{flag: "max-connections", help: "open client connections; more wait to be accepted (0: no cap)", num: &c.MaxConnections},
		{flag: "rate-limit", help: "requests per second one account may make; more get RequestThrottled (0: no limit)", num: &c.RateLimit},
		{flag: "rate-burst", help: "requests one account may make at once under --rate-limit (0: the rate)", num: &c.RateBurst},
		{flag: "read-header-timeout", help: "time to read a request's headers (slowloris guard)", dur: &c.ReadHeaderTimeout},
		{flag: "read-timeout", help: "time to read a whole request", dur: &c.ReadTimeout},
		{flag: "write-timeout", help: "time from a request's headers to the end of its response (over 20s: long polls)", dur: &c.WriteTimeout},
		{flag: "idle-timeout", help: "time a keep-alive connection may stay idle", dur: &c.IdleTimeout},
		{flag: "console", help: "web console under /console: on or off", str: &c.Console},
		{flag: "console-listen", help: "serve the web console on this address instead of the SQS endpoint's", str: &c.ConsoleListen},
		{flag: "gc-percent", help: "garbage collector target, in place of GOGC, while the live heap is small: the heap may grow this many percent over live data between collections (more memory, less CPU); falls toward 100 as the live heap grows, keeping at most 256 MiB of headroom; -1: off", num: &c.GCPercent},
		{flag: "pprof-listen", help: "serve Go's runtime profiles (/debug/pprof/) on this address, without authentication: keep it on loopback (empty: off)", str: &c.PprofListen},
		{flag: "console-token", help: "console password off the loopback interface (default: generated and logged at start)", str: &c.ConsoleToken},
	}
}

// EnvName returns the environment variable of a flag: SLUICE_ and the flag in upper case with
// underscores.
func EnvName(flagName string) string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load builds the configuration from defaults, the file named by --config or SLUICE_CONFIG,
// SLUICE_* variables (from getenv) and the flags in args.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := Default()
	var flagVals Config
	configPath := fs.String("config", "", "optional TOML config file (env SLUICE_CONFIG)")
	for _, f := range flagVals.fields() {
		help := fmt.Sprintf("%s (env %s)", f.help, EnvName(f.flag))
		switch {
		case f.str != nil:
			fs.StringVar(f.str, f.flag, "", help)
		case f.num != nil:
			fs.IntVar(f.num, f.flag, 0, help)
		default:
			fs.Var(&durFlag{f.dur}, f.flag, help)
		}
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected arguments %q", ErrInvalid, fs.Args())
	}
	path := *configPath
	if path == "" {
		path = getenv("SLUICE_CONFIG")
	}
	if path != "" {
		md, err := toml.DecodeFile(path, &c)
		if err != nil {
			return c, fmt.Errorf("%w: reading %s: %w", ErrInvalid, path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return c, fmt.Errorf("%w: %s: unknown setting %q", ErrInvalid, path, und[0].String())
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cf, ff := c.fields(), flagVals.fields()
	for i, f := range cf {
		if v := getenv(EnvName(f.flag)); v != "" {
			switch {
			case f.str != nil:
				*f.str = v
			case f.num != nil:
				n, err := strconv.Atoi(v)
				if err != nil {
					return c, fmt.Errorf("%w: %s: %w", ErrInvalid, EnvName(f.flag), err)
				}
				*f.num = n
			default:
				if err := f.dur.UnmarshalText([]byte(v)); err != nil {
					return c, fmt.Errorf("%w: %s: %w", ErrInvalid, EnvName(f.flag), err)
				}
			}
		}
		if set[f.flag] {
			switch {
			case f.str != nil:
				*f.str = *ff[i].str
			case f.num != nil:
				*f.num = *ff[i].num
			default:
				*f.dur = *ff[i].dur
			}
		}
	}
	c.addEnvCredential(getenv)
	return c, c.Validate()
}

type durFlag struct{ d *Duration }

func (f *durFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f *durFlag) Set(s string) error { return f.d.UnmarshalText([]byte(s)) }
