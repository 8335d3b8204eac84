package tsm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// DefaultMaxOutput bounds what is kept of each of stdout and stderr.
	DefaultMaxOutput = 4 << 20
	// QueryMaxOutput bounds what a query may print: about 500,000 rows. A
	// longer listing is an error, never a listing without its middle.
	QueryMaxOutput = 64 << 20
	// defaultWaitDelay bounds how long Wait may block on pipes after the
	// process group is gone; nothing should hold them by then, so this only
	// matters if a process escaped the group (setsid).
	defaultWaitDelay = 5 * time.Second
	pinnedLocale     = "en_US.UTF-8"
)

// ExecRunner runs dsmc as a child process in its own process group.
//
// The group is killed with SIGKILL when the context is done or the
// invocation's timeout expires, and also after dsmc exits by itself, so no
// helper process it may have forked can outlive the run. stdin is /dev/null
// unless the invocation carries prompt answers, which are then written to a
// pipe that is closed afterwards so that any further prompt reads EOF.
// The environment is inherited (DSM_DIR, DSM_CONFIG, DSM_LOG ...) with LANG
// and LC_ALL pinned to en_US.UTF-8 because the parsers read English output.
type ExecRunner struct {
	// Env holds extra NAME=value entries; they override the inherited
	// environment except LANG and LC_ALL.
	Env []string
	// MaxOutput bounds each of stdout and stderr; 0 means DefaultMaxOutput.
	// The middle of a longer stream is dropped.
	MaxOutput int
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, inv Invocation) (Output, error) {
	out := Output{RC: -1}
	bin := inv.Binary
	if bin == "" {
		bin = "dsmc"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return out, &Error{Kind: KindMissing, RC: -1, Detail: err.Error(), err: err}
	}

	runCtx := ctx
	if inv.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, inv.Timeout)
		defer cancel()
	}
	if err := runCtx.Err(); err != nil {
		return out, contextError(ctx, err, "not started")
	}

	limit := inv.MaxOutput
	if limit <= 0 {
		limit = r.MaxOutput
	}
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	stdout, stderr := newCapBuffer(limit), newCapBuffer(limit)

	cmd := exec.CommandContext(runCtx, path, inv.Args...)
	cmd.Env = buildEnv(os.Environ(), r.Env)
	// Its own process group, so that a timeout kills dsmc and everything it started; and
	// SIGKILL when the driver dies, so that a killed driver leaves no dsmc uploading on its own
	// (the restarted driver resumes the upload and must be the only writer of that object).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if inv.Stdin != nil {
		cmd.Stdin = bytes.NewReader(inv.Stdin)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	var killed atomic.Bool
	cmd.Cancel = func() error {
		killed.Store(true)
		return killGroup(cmd.Process.Pid)
	}
	cmd.WaitDelay = defaultWaitDelay

	start := time.Now()
	if err := cmd.Start(); err != nil {
		out.Duration = time.Since(start)
		if ctxErr := runCtx.Err(); ctxErr != nil {
			return out, contextError(ctx, ctxErr, "not started")
		}
		if isNotExecutable(err) {
			return out, &Error{Kind: KindMissing, RC: -1, Detail: err.Error(), err: err}
		}
		return out, &Error{Kind: KindUnknown, RC: -1, Detail: "starting dsmc: " + err.Error(), err: err}
	}
	pid := cmd.Process.Pid
	// Wait for the exit without reaping, so the pid (and with it the group
	// id) cannot be reused while the rest of the group is killed.
	waitExitNoReap(pid)
	_ = killGroup(pid)
	waitErr := cmd.Wait()
	out.Duration = time.Since(start)
	out.Stdout, out.Stderr = stdout.String(), stderr.String()
	out.StdoutDropped = stdout.droppedBytes()

	st := cmd.ProcessState
	if st == nil {
		return out, &Error{Kind: KindUnknown, RC: -1, Detail: "waiting for dsmc: " + errString(waitErr), err: waitErr}
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		// An exit status is dsmc's own verdict even if the deadline
		// passed at the same moment.
		out.RC = st.ExitCode()
		return out, nil
	}
	out.RC = -1
	if killed.Load() {
		return out, contextError(ctx, runCtx.Err(), "process group killed after "+out.Duration.Round(time.Millisecond).String())
	}
	return out, &Error{Kind: KindCrashed, RC: -1, Detail: "dsmc killed by signal " + ws.Signal().String()}
}

// contextError tells a cancellation by the caller apart from a deadline,
// whether the deadline came from the caller or from the invocation.
func contextError(parent context.Context, err error, detail string) *Error {
	if errors.Is(parent.Err(), context.Canceled) {
		return &Error{Kind: KindCanceled, RC: -1, Detail: "canceled: " + detail, err: context.Canceled}
	}
	if err == nil {
		err = context.DeadlineExceeded
	}
	return &Error{Kind: KindTimeout, RC: -1, Detail: "timed out: " + detail, err: err}
}

func killGroup(pgid int) error {
	if pgid <= 1 {
		return errors.New("refusing to signal process group <= 1")
	}
	err := unix.Kill(-pgid, unix.SIGKILL)
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

func waitExitNoReap(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

func isNotExecutable(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) ||
		errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOEXEC) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOENT)
}

// buildEnv returns base with extra applied and LANG/LC_ALL pinned.
func buildEnv(base, extra []string) []string {
	override := map[string]bool{"LANG": true, "LC_ALL": true}
	for _, kv := range extra {
		override[envKey(kv)] = true
	}
	env := make([]string, 0, len(base)+len(extra)+2)
	for _, kv := range base {
		if !override[envKey(kv)] {
			env = append(env, kv)
		}
	}
	for _, kv := range extra {
		if k := envKey(kv); k != "LANG" && k != "LC_ALL" {
			env = append(env, kv)
		}
	}
	return append(env, "LANG="+pinnedLocale, "LC_ALL="+pinnedLocale)
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func errString(err error) string {
	if err == nil {
		return "no process state"
	}
	return err.Error()
}
