package mount

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	utilexec "k8s.io/utils/exec"
)

// Deadlines for external tools. Formatting, checking and growing touch the
// whole device and scale with its size; everything else is metadata work
// that finishes in well under a second unless something is wedged.
const (
	defaultCommandTimeout = 2 * time.Minute
	longCommandTimeout    = 30 * time.Minute
)

// commandTimeout picks the deadline for a tool by name.
func commandTimeout(name string) time.Duration {
	base := filepath.Base(name)
	switch {
	case strings.HasPrefix(base, "mkfs"), strings.HasPrefix(base, "fsck"),
		strings.HasPrefix(base, "e2fsck"), base == "resize2fs",
		base == "xfs_growfs", base == "btrfs":
		return longCommandTimeout
	}
	return defaultCommandTimeout
}

var executor = utilexec.New()

// commandEnv pins the locale so tool messages stay parseable.
func commandEnv() []string {
	return append(os.Environ(), "LC_ALL=C")
}

// run executes name with args under ctx plus the tool's own deadline and
// returns its standard output. The error names the command and carries the
// standard error, because that is usually the only explanation a tool gives.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runLogged(ctx, strings.Join(args, " "), name, args...)
}

// runLogged is run with shown standing in for the arguments in errors, for
// argument lists that must not be logged verbatim.
func runLogged(ctx context.Context, shown, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout(name))
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := executor.CommandContext(ctx, name, args...)
	cmd.SetEnv(commandEnv())
	cmd.SetStdout(&stdout)
	cmd.SetStderr(&stderr)
	err := cmd.Run()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w (stderr: %s)", name, shown, err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// timedExec hands k8s.io/mount-utils an exec.Interface whose commands all
// carry a deadline; mount-utils itself calls Command without a context.
type timedExec struct {
	utilexec.Interface
}

func newTimedExec() utilexec.Interface {
	return timedExec{Interface: utilexec.New()}
}

func (e timedExec) Command(cmd string, args ...string) utilexec.Cmd {
	return e.CommandContext(context.Background(), cmd, args...)
}

func (e timedExec) CommandContext(ctx context.Context, cmd string, args ...string) utilexec.Cmd {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout(cmd))
	c := e.Interface.CommandContext(ctx, cmd, args...)
	c.SetEnv(commandEnv())
	return &cancelCmd{Cmd: c, cancel: cancel}
}

// cancelCmd releases the deadline's timer as soon as the command is done.
type cancelCmd struct {
	utilexec.Cmd
	cancel context.CancelFunc
}

func (c *cancelCmd) Run() error {
	defer c.cancel()
	return c.Cmd.Run()
}

func (c *cancelCmd) CombinedOutput() ([]byte, error) {
	defer c.cancel()
	return c.Cmd.CombinedOutput()
}

func (c *cancelCmd) Output() ([]byte, error) {
	defer c.cancel()
	return c.Cmd.Output()
}

func (c *cancelCmd) Wait() error {
	defer c.cancel()
	return c.Cmd.Wait()
}

func (c *cancelCmd) Stop() {
	c.Cmd.Stop()
	c.cancel()
}
