//go:build k8se2e

package k8s

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process of the cluster (etcd, kube-apiserver, a sidecar...). With restart set it
// is started again whenever it exits, as the kubelet restarts a container.
type proc struct {
	name    string
	log     string
	bin     string
	args    []string
	env     []string
	restart bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	stopping bool
	exits    []string // how each run ended
	stopped  chan struct{}
	wake     chan struct{}
}

func startProc(name, logPath, bin string, args, env []string, restart bool) (*proc, error) {
	p := &proc{name: name, log: logPath, bin: bin, args: args, env: env, restart: restart,
		stopped: make(chan struct{}), wake: make(chan struct{}, 1)}
	cmd, err := p.spawn()
	if err != nil {
		return nil, err
	}
	go p.supervise(cmd)
	return p, nil
}

func (p *proc) spawn() (*exec.Cmd, error) {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "=== %s start %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	return cmd, nil
}

// supervise waits for each run; a restarting process comes back after a short back-off (the
// kubelet's is longer), interrupted at once by stop.
func (p *proc) supervise(cmd *exec.Cmd) {
	defer close(p.stopped)
	for {
		err := cmd.Wait()
		p.mu.Lock()
		p.exits = append(p.exits, fmt.Sprint(err))
		stopping := p.stopping
		p.mu.Unlock()
		if stopping || !p.restart {
			return
		}
		select {
		case <-p.wake:
			return
		case <-time.After(time.Second):
		}
		p.mu.Lock()
		stopping = p.stopping
		p.mu.Unlock()
		if stopping {
			return
		}
		next, err := p.spawn()
		if err != nil {
			p.mu.Lock()
			p.exits = append(p.exits, err.Error())
			p.mu.Unlock()
			return
		}
		cmd = next
	}
}

// running says whether the process is alive now.
func (p *proc) running() bool {
	select {
	case <-p.stopped:
		return false
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.cmd.ProcessState == nil
}

// Exits is how many times the process ended on its own.
func (p *proc) Exits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.exits...)
}

// stop sends SIGTERM, waits up to grace, then SIGKILL, and waits for the process.
func (p *proc) stop(grace time.Duration) error {
	p.mu.Lock()
	p.stopping = true
	cmd := p.cmd
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.stopped:
		return nil
	case <-time.After(grace):
	}
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
	<-p.stopped
	return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.name, grace)
}

// tail is the end of the process's log.
func (p *proc) tail(n int) string { return tailFile(p.log, n) }

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepFile returns the lines of path that contain any of the needles.
func grepFile(path string, needles ...string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		for _, n := range needles {
			if strings.Contains(l, n) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
