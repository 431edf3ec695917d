// Package pyscript runs the Python scripts that cross-check the protocol
// front-ends against Python's standard clients (imaplib, poplib, smtplib),
// which nobody here wrote. It is for tests only.
package pyscript

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// timeout bounds one script; the scripts talk to a loopback server.
const timeout = 30 * time.Second

// Run runs python3 with script and args and returns what it printed to
// stdout. It skips t when python3 is not on PATH (CI has it) and fails t,
// with the script's stderr, when the script fails.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 not on PATH; skipping the %s cross-check (CI has it)", script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, append([]string{script}, args...)...).Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("python3 %s: %v\n%s", script, err, stderr)
	}
	return out
}
