//go:build !linux

package crash

import "os/exec"

// setDeathSignal does nothing outside Linux: t.Cleanup kills the server.
func setDeathSignal(*exec.Cmd) {}
