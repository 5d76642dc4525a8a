package crash

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel SIGKILL the server if the test process dies first (a test
// timeout's panic, a kill of `go test`), so no server outlives the harness.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
