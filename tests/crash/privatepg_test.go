package crash

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privatePG is a PostgreSQL cluster of the harness's own, in a temporary directory on a free
// port of 127.0.0.1, so that it can be stopped and restarted without disturbing the shared
// test cluster that other test packages use at the same time. It is run with the binaries of
// /usr/lib/postgresql/<version>/bin (or SLUICE_PG_BIN), as the postgres user when the test
// runs as root (PostgreSQL refuses to run as root).
type privatePG struct {
	t       *testing.T
	bin     string // directory of initdb and pg_ctl
	dir     string // holds data/ and pg.log
	port    int
	asUser  []string // the command prefix that runs a program as the postgres user, or nil
	restart time.Time
}

// pgBinDir returns the directory of initdb and pg_ctl: SLUICE_PG_BIN, or the newest
// /usr/lib/postgresql/<version>/bin that has initdb.
func pgBinDir() (string, error) {
	if d := os.Getenv("SLUICE_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	if len(dirs) == 0 {
		return "", fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb (install the PostgreSQL server package, or set SLUICE_PG_BIN)")
	}
	return filepath.Dir(dirs[0]), nil
}

// startPrivatePG creates and starts a cluster; it is stopped and removed when the test ends.
// A machine without the PostgreSQL server binaries fails the test: CI has them.
func startPrivatePG(t *testing.T, port int) *privatePG {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		t.Fatalf("a private PostgreSQL cluster: %v", err)
	}
	dir, err := os.MkdirTemp("", "sluice-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePG{t: t, bin: bin, dir: dir, port: port}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		// pg_ctl stop signals the postmaster of this data directory only (its postmaster.pid).
		if out, err := p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "-t", "60", "stop"); err != nil &&
			!strings.Contains(out, "is the server running") {
			t.Errorf("stopping the private PostgreSQL: %v\n%s", err, out)
		}
		_ = os.RemoveAll(dir)
	})
	if out, err := p.run("initdb", "-D", p.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *privatePG) data() string { return filepath.Join(p.dir, "data") }

// URL is the cluster's connection string.
func (p *privatePG) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePG) run(prog string, args ...string) (string, error) {
	argv := append(append(append([]string{}, p.asUser...), filepath.Join(p.bin, prog)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// start starts the cluster and waits until it accepts connections.
func (p *privatePG) start() error {
	out, err := p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "pg.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100", p.port, p.dir), "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, p.logTail(20))
	}
	return nil
}

// stop stops the cluster: mode fast (clients are disconnected, a checkpoint is written) or
// immediate (every PostgreSQL process quits at once, as in a crash; recovery replays the WAL).
func (p *privatePG) stop(mode string) error {
	out, err := p.run("pg_ctl", "-D", p.data(), "-m", mode, "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	p.restart = time.Now()
	return nil
}

func (p *privatePG) logTail(n int) string {
	b, err := os.ReadFile(filepath.Join(p.dir, "pg.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
