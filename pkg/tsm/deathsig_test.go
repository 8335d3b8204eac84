package tsm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// When this variable is set, the test binary acts as a driver: it starts a long dsmc through
// ExecRunner and waits, so the test can kill it and watch what happens to its dsmc.
const deathsigHelperEnv = "TSM_DEATHSIG_HELPER_SCRIPT"

// runAsDriver is TestMain's branch for the helper process.
func runAsDriver(dsmc string) {
	_, _ = ExecRunner{}.Run(context.Background(), Invocation{Binary: dsmc})
	os.Exit(0)
}

// TestExecRunnerChildDiesWithDriver kills a "driver" process with SIGKILL while its dsmc runs:
// the dsmc must die too, even though it sits in its own process group and writes nothing.
func TestExecRunnerChildDiesWithDriver(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	dsmc := script(t, "echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+"\nexec sleep 1000")
	driver := exec.Command(os.Args[0], "-test.run=^$")
	driver.Env = append(os.Environ(), deathsigHelperEnv+"="+dsmc)
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 {
		if data, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
		if time.Now().After(deadline) {
			_ = driver.Process.Kill()
			t.Fatal("dsmc never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if processGone(pid) {
		t.Fatal("dsmc is not running before the driver dies")
	}
	_ = driver.Process.Kill()
	_ = driver.Wait()
	waitGone(t, pid)
}
