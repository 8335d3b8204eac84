package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// simBin is the simulator built once for the whole test run; the tests execute
// it exactly as the driver's tests will.
var simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dsmc-sim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	simBin = filepath.Join(dir, "dsmc")
	build := exec.Command("go", "build", "-o", simBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the simulator:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// sim is one simulated server plus the environment its clients run with.
type sim struct {
	t    testing.TB
	root string
	env  map[string]string
}

func newSim(t testing.TB) *sim {
	t.Helper()
	return &sim{t: t, root: filepath.Join(t.TempDir(), "server"), env: map[string]string{
		"DSMSIM_NODE": "NODEA",
		"LANG":        "en_US.UTF-8",
		"LC_ALL":      "en_US.UTF-8",
	}}
}

// result is one finished client process.
type result struct {
	stdout, stderr string
	rc             int
	signal         syscall.Signal // set when the process died by a signal
	maxRSSKiB      int64          // ru_maxrss: includes the test process's own peak (vfork)
	peakRSSKiB     int64          // the simulator's own VmHWM
}

func (r result) String() string {
	return fmt.Sprintf("rc=%d signal=%v\n--- stdout\n%s--- stderr\n%s", r.rc, r.signal, r.stdout, r.stderr)
}

// runOpts tweaks one invocation.
type runOpts struct {
	stdin string
	env   map[string]string // overrides; "" removes a variable
}

func (s *sim) environ(extra map[string]string) []string {
	merged := map[string]string{"DSMSIM_ROOT": s.root, "PATH": os.Getenv("PATH")}
	for k, v := range s.env {
		merged[k] = v
	}
	for k, v := range extra {
		merged[k] = v
	}
	var out []string
	for k, v := range merged {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func (s *sim) command(o runOpts, args ...string) *exec.Cmd {
	cmd := exec.Command(simBin, args...)
	cmd.Env = s.environ(o.env)
	cmd.Stdin = strings.NewReader(o.stdin)
	cmd.Dir = filepath.Dir(s.root)
	return cmd
}

func finish(cmd *exec.Cmd, stdout, stderr *bytes.Buffer, err error) result {
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.maxRSSKiB = ru.Maxrss
		}
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.signal = ws.Signal()
			r.rc = -1
		} else {
			r.rc = ws.ExitStatus()
		}
	} else if err != nil {
		r.rc = -2
		r.stderr += err.Error()
	}
	return r
}

// runWith runs the client to completion.
func (s *sim) runWith(o runOpts, args ...string) result {
	s.t.Helper()
	rssFile := filepath.Join(filepath.Dir(s.root), fmt.Sprintf("rss-%d", time.Now().UnixNano()))
	env := map[string]string{"DSMSIM_PEAK_RSS_FILE": rssFile}
	for k, v := range o.env {
		env[k] = v
	}
	o.env = env
	cmd := s.command(o, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := finish(cmd, &stdout, &stderr, err)
	if b, err := os.ReadFile(rssFile); err == nil {
		r.peakRSSKiB, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		_ = os.Remove(rssFile)
	}
	return r
}

func (s *sim) run(args ...string) result {
	s.t.Helper()
	return s.runWith(runOpts{}, args...)
}

// must runs the client and fails the test unless it returns want.
func (s *sim) must(want int, args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.rc != want {
		s.t.Fatalf("dsmc %s: want rc %d\n%s", strings.Join(args, " "), want, r)
	}
	return r
}

func (s *sim) mustWith(o runOpts, want int, args ...string) result {
	s.t.Helper()
	r := s.runWith(o, args...)
	if r.rc != want {
		s.t.Fatalf("dsmc %s: want rc %d\n%s", strings.Join(args, " "), want, r)
	}
	return r
}

// admin runs an administrative command that must succeed.
func (s *sim) admin(args ...string) string {
	s.t.Helper()
	r := s.run(append([]string{"admin"}, args...)...)
	if r.rc != 0 {
		s.t.Fatalf("admin %s failed\n%s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// background starts the client with stdout on a pipe, for tests that watch a
// transfer in flight.
type bgProc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	done   chan struct{}
	res    result
	out    bytes.Buffer
}

func (s *sim) start(o runOpts, args ...string) *bgProc {
	s.t.Helper()
	cmd := s.command(o, args...)
	pr, pw := io.Pipe()
	p := &bgProc{cmd: cmd, lines: make(chan string, 1024), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = pw
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		var line []byte
		for {
			n, err := pr.Read(buf)
			for _, b := range buf[:n] {
				p.out.WriteByte(b)
				line = append(line, b)
				if b == '\n' {
					p.lines <- string(line)
					line = nil
				}
			}
			if err != nil {
				close(p.lines)
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		_ = pw.Close()
		var so bytes.Buffer
		p.res = finish(cmd, &so, p.stderr, err)
		close(p.done)
	}()
	s.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine blocks until a stdout line containing want arrives.
func (p *bgProc) waitLine(t testing.TB, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("stdout closed before %q; got:\n%s", want, p.out.String())
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q within %v; got:\n%s", want, timeout, p.out.String())
		}
	}
}

// wait returns the result once the process ended.
func (p *bgProc) wait(t testing.TB, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("process did not end within %v", timeout)
	}
	for range p.lines {
	}
	r := p.res
	r.stdout = p.out.String()
	return r
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// writeFile creates a file with the given content in dir.
func writeFile(t testing.TB, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// pattern returns n bytes of a deterministic non-zero pattern seeded by seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x) | 1
	}
	return b
}

// statLine returns the value text of a statistics line ("" if absent).
func statValue(out, label string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, label) {
			return strings.TrimSpace(strings.TrimPrefix(l, label))
		}
	}
	return ""
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices)")
	}
}
