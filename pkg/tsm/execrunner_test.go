package tsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// script writes an executable shell script into a temporary directory and
// returns its path; it stands in for dsmc.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dsmc")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type runResult struct {
	out Output
	err error
}

// runBounded runs inv and fails the test if Run does not return within
// limit, so a regression that hangs on a pipe fails instead of blocking the
// whole test binary.
func runBounded(t *testing.T, ctx context.Context, r ExecRunner, inv Invocation, limit time.Duration) (Output, error) {
	t.Helper()
	ch := make(chan runResult, 1)
	go func() {
		out, err := r.Run(ctx, inv)
		ch <- runResult{out, err}
	}()
	select {
	case res := <-ch:
		return res.out, res.err
	case <-time.After(limit):
		t.Fatalf("Run did not return within %v", limit)
	}
	return Output{}, nil
}

// processGone reports whether pid has terminated: it no longer exists or
// is a zombie waiting for a parent that may never reap it.
func processGone(pid int) bool {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// waitGone polls pid for a bounded time after Run has returned; the kill
// was sent by then, only the kernel's bookkeeping may lag.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Errorf("process %d still alive", pid)
			_ = unix.Kill(pid, unix.SIGKILL)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPids(t *testing.T, s string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(s) {
		p, err := strconv.Atoi(f)
		if err != nil || p <= 1 {
			t.Fatalf("bad pid list %q", s)
		}
		pids = append(pids, p)
	}
	if len(pids) == 0 {
		t.Fatalf("no pids reported")
	}
	return pids
}

func TestExecRunnerExitCodeAndStreams(t *testing.T) {
	bin := script(t, `echo "out $1"; echo "err $2" >&2; exit 12`)
	out, err := runBounded(t, context.Background(), ExecRunner{}, Invocation{Binary: bin, Args: []string{"a b", "c"}}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.RC != 12 || out.Stdout != "out a b\n" || out.Stderr != "err c\n" || out.Duration <= 0 {
		t.Errorf("output %+v", out)
	}
}

func TestExecRunnerStdinIsDevNull(t *testing.T) {
	bin := script(t, `if read -r line; then echo "read:$line"; else echo EOF; fi; readlink /proc/self/fd/0`)
	out, err := runBounded(t, context.Background(), ExecRunner{}, Invocation{Binary: bin, Timeout: 20 * time.Second}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "EOF\n/dev/null\n" {
		t.Errorf("stdout %q, want EOF from /dev/null", out.Stdout)
	}
}

func TestExecRunnerStdinAnswersThenEOF(t *testing.T) {
	bin := script(t, `read -r user; read -r pw; if read -r more; then echo "third line: $more"; else echo "user=[$user] pw=[$pw] then EOF"; fi`)
	out, err := runBounded(t, context.Background(), ExecRunner{},
		Invocation{Binary: bin, Stdin: promptAnswers("p w"), Timeout: 20 * time.Second}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "user=[] pw=[p w] then EOF\n" {
		t.Errorf("stdout %q", out.Stdout)
	}
}

func TestExecRunnerEnvironment(t *testing.T) {
	dsmDir := t.TempDir()
	t.Setenv("DSM_DIR", dsmDir)
	t.Setenv("DSM_LOG", "/var/log/dsm")
	t.Setenv("LANG", "de_DE.UTF-8")
	t.Setenv("LC_ALL", "de_DE.UTF-8")
	bin := script(t, `echo "$LANG|$LC_ALL|$DSM_DIR|$DSM_LOG|$DSMSIM_NODE"; env | grep -c -e '^LANG=' -e '^LC_ALL=' -e '^DSM_LOG='`)
	r := ExecRunner{Env: []string{"DSMSIM_NODE=N7", "LANG=fr_FR.UTF-8", "DSM_LOG=/tmp/dsmlog"}}
	out, err := runBounded(t, context.Background(), r, Invocation{Binary: bin}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := "en_US.UTF-8|en_US.UTF-8|" + dsmDir + "|/tmp/dsmlog|N7\n3\n"
	if out.Stdout != want {
		t.Errorf("stdout %q, want %q", out.Stdout, want)
	}
}

func TestExecRunnerMissingBinary(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "dsmc-not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badInterp := filepath.Join(dir, "dsmc-bad-interpreter")
	if err := os.WriteFile(badInterp, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	for name, bin := range map[string]string{
		"absolute path":       filepath.Join(dir, "nope", "dsmc"),
		"name not in PATH":    "dsmc",
		"not executable":      notExec,
		"missing interpreter": badInterp,
		"a directory":         dir,
	} {
		t.Run(name, func(t *testing.T) {
			out, err := ExecRunner{}.Run(context.Background(), Invocation{Binary: bin})
			if KindOf(err) != KindMissing {
				t.Fatalf("err = %v, want KindMissing", err)
			}
			if out.RC != -1 {
				t.Errorf("RC = %d", out.RC)
			}
		})
	}
	// And through the Client, for the operator-facing message.
	_, err := NewClient(Config{Binary: "dsmc"}, nil).QuerySession(context.Background())
	var te *Error
	if !errors.As(err, &te) || te.Kind != KindMissing || te.Op != "query session" {
		t.Errorf("client error %v", err)
	}
}

// The timeout must kill the whole process group: dsmc's children included,
// and Run must not wait for them to close the output pipes.
func TestExecRunnerTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	bin := script(t, `sleep 1000 & bg=$!; sleep 1000 & fg=$!; echo "$$ $bg $fg" > "$1"; wait`)
	start := time.Now()
	out, err := runBounded(t, context.Background(), ExecRunner{},
		Invocation{Binary: bin, Args: []string{pidFile}, Timeout: time.Second}, 30*time.Second)
	if KindOf(err) != KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if out.RC != -1 {
		t.Errorf("RC = %d", out.RC)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Run took %v after a 1s timeout", d)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatalf("the script did not report its pids within the timeout: %v", rerr)
	}
	for _, pid := range readPids(t, string(b)) {
		waitGone(t, pid)
	}
}

func TestExecRunnerContextDeadline(t *testing.T) {
	bin := script(t, `exec sleep 1000`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := runBounded(t, ctx, ExecRunner{}, Invocation{Binary: bin, Timeout: time.Hour}, 30*time.Second)
	if KindOf(err) != KindTimeout {
		t.Fatalf("err = %v, want KindTimeout", err)
	}
}

func TestExecRunnerCancelKillsProcessGroup(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pids")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := script(t, `sleep 1000 & echo "$$ $!" > "$1"; wait`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	pidsCh := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until the script has written its pids
		pidsCh <- string(b)
	}()
	runCh := make(chan runResult, 1)
	go func() {
		out, err := ExecRunner{}.Run(ctx, Invocation{Binary: bin, Args: []string{fifo}})
		runCh <- runResult{out, err}
	}()
	var pids string
	select {
	case pids = <-pidsCh:
	case res := <-runCh:
		t.Fatalf("script ended before reporting its pids: %+v %v", res.out, res.err)
	case <-time.After(30 * time.Second):
		t.Fatal("script did not report its pids")
	}
	cancel()
	var res runResult
	select {
	case res = <-runCh:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if KindOf(res.err) != KindCanceled || !errors.Is(res.err, context.Canceled) {
		t.Fatalf("err = %v, want KindCanceled", res.err)
	}
	for _, pid := range readPids(t, pids) {
		waitGone(t, pid)
	}
}

// dsmc exits by itself but leaves a child behind that holds stdout open.
func TestExecRunnerKillsLeftoversAfterNormalExit(t *testing.T) {
	bin := script(t, `sleep 1000 & echo "$!"; exit 4`)
	out, err := runBounded(t, context.Background(), ExecRunner{}, Invocation{Binary: bin}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.RC != 4 {
		t.Errorf("RC = %d, want 4", out.RC)
	}
	for _, pid := range readPids(t, out.Stdout) {
		waitGone(t, pid)
	}
}

func TestExecRunnerCrash(t *testing.T) {
	bin := script(t, `echo "partial output"; ulimit -c 0; kill -SEGV $$`)
	out, err := runBounded(t, context.Background(), ExecRunner{}, Invocation{Binary: bin}, 30*time.Second)
	if KindOf(err) != KindCrashed {
		t.Fatalf("err = %v, want KindCrashed", err)
	}
	if out.RC != -1 || out.Stdout != "partial output\n" {
		t.Errorf("output %+v", out)
	}
}

func TestExecRunnerContextAlreadyCanceled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	bin := script(t, `touch "$1"`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ExecRunner{}.Run(ctx, Invocation{Binary: bin, Args: []string{marker}})
	if KindOf(err) != KindCanceled {
		t.Fatalf("err = %v, want KindCanceled", err)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Errorf("dsmc was started on a canceled context")
	}
}

func TestExecRunnerOutputIsBounded(t *testing.T) {
	const limit = 64 << 10
	bin := script(t, `echo HEAD-OUT; echo HEAD-ERR >&2
head -c 5000000 /dev/zero | tr '\0' 'x'; echo
head -c 3000000 /dev/zero | tr '\0' 'y' >&2; echo >&2
echo TAIL-OUT; echo TAIL-ERR >&2`)
	out, err := runBounded(t, context.Background(), ExecRunner{MaxOutput: limit}, Invocation{Binary: bin}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"stdout": out.Stdout, "stderr": out.Stderr} {
		if len(s) > limit+100 {
			t.Errorf("%s kept %d bytes, limit %d", name, len(s), limit)
		}
		if !strings.Contains(s, "bytes omitted") {
			t.Errorf("%s has no omission marker", name)
		}
	}
	if !strings.HasPrefix(out.Stdout, "HEAD-OUT\n") || !strings.HasSuffix(out.Stdout, "\nTAIL-OUT\n") {
		t.Errorf("stdout lost its ends: %q ... %q", out.Stdout[:20], out.Stdout[len(out.Stdout)-20:])
	}
	if !strings.HasPrefix(out.Stderr, "HEAD-ERR\n") || !strings.HasSuffix(out.Stderr, "\nTAIL-ERR\n") {
		t.Errorf("stderr lost its ends")
	}
	if out.StdoutDropped < 5000000-limit {
		t.Errorf("StdoutDropped = %d, want about %d", out.StdoutDropped, 5000000-limit)
	}
	// An invocation's own bound wins over the runner's.
	out, err = runBounded(t, context.Background(), ExecRunner{MaxOutput: limit}, Invocation{Binary: bin, MaxOutput: 16 << 20}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.StdoutDropped != 0 || strings.Contains(out.Stdout, "bytes omitted") || len(out.Stdout) < 5000000 {
		t.Errorf("with a 16 MiB bound: %d bytes kept, %d dropped", len(out.Stdout), out.StdoutDropped)
	}
}

// capBuffer against the obvious implementation, for random write sizes.
func TestCapBuffer(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, limit := range []int{2, 3, 10, 64, 1000} {
		for trial := 0; trial < 50; trial++ {
			b := newCapBuffer(limit)
			var all []byte
			n := rng.Intn(5 * limit)
			for len(all) < n {
				chunk := make([]byte, 1+rng.Intn(limit))
				for i := range chunk {
					chunk[i] = byte('a' + rng.Intn(26))
				}
				if w, err := b.Write(chunk); w != len(chunk) || err != nil {
					t.Fatalf("Write = %d, %v", w, err)
				}
				all = append(all, chunk...)
			}
			half := max(limit/2, 1)
			want := string(all)
			if len(all) > 2*half {
				dropped := len(all) - 2*half
				want = string(all[:half]) + fmt.Sprintf("\n[... %d bytes omitted ...]\n", dropped) + string(all[len(all)-half:])
			}
			if got := b.String(); got != want {
				t.Fatalf("limit %d, %d bytes written:\n got %q\nwant %q", limit, len(all), got, want)
			}
		}
	}
}

func TestBuildEnv(t *testing.T) {
	got := buildEnv([]string{"A=1", "LANG=C", "LC_ALL=C", "B=2", "DSM_DIR=/a"}, []string{"B=3", "LC_ALL=de", "C=4"})
	want := []string{"A=1", "DSM_DIR=/a", "B=3", "C=4", "LANG=en_US.UTF-8", "LC_ALL=en_US.UTF-8"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("buildEnv = %q, want %q", got, want)
	}
}
