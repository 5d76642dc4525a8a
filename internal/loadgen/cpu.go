package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat times (100 on every Linux
// architecture Go supports).
const clockTicks = 100

// procCPU returns the user+system CPU time a process has used so far, from /proc/<pid>/stat.
// pid 0 means this process.
func procCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing %s: no command name", path)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing %s: %d fields", path, len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing %s: utime %q stime %q", path, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procsCPU returns the CPU time the given processes have used so far, summed.
func procsCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// ParsePIDs parses a comma-separated list of process ids ("" is none), as --server-pid takes
// them: the nodes of a cluster.
func ParsePIDs(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var pids []int
	for f := range strings.SplitSeq(s, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bad pid %q in %q", f, s)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// cpuMeter measures the CPU a window of a run costs the server (summed over its processes, when
// they are known) and this process.
type cpuMeter struct {
	serverPIDs       []int
	server0, client0 time.Duration
	serverErr        error
}

func startCPU(serverPIDs []int) *cpuMeter {
	m := &cpuMeter{serverPIDs: serverPIDs}
	if len(serverPIDs) > 0 {
		m.server0, m.serverErr = procsCPU(serverPIDs)
	}
	m.client0, _ = procCPU(0)
	return m
}

// stop returns µs of CPU per message for the server (nil when unknown) and the client.
func (m *cpuMeter) stop(msgs float64, r *Result) {
	if c, err := procCPU(0); err == nil && msgs > 0 {
		v := float64(c-m.client0) / float64(time.Microsecond) / msgs
		r.ClientCPUPerMsgUs = &v
	}
	if len(m.serverPIDs) == 0 {
		return
	}
	c, err := procsCPU(m.serverPIDs)
	if m.serverErr != nil || err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("server CPU unknown: %v", firstErr(m.serverErr, err)))
		return
	}
	if msgs > 0 {
		v := float64(c-m.server0) / float64(time.Microsecond) / msgs
		r.ServerCPUPerMsgUs = &v
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
