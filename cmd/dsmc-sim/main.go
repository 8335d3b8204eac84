// Command dsmc-sim simulates the IBM Storage Protect backup-archive command line
// client (dsmc) against a server kept in a local directory, for tests and demos
// of code that drives dsmc. "dsmc-sim admin ..." administers that server.
package main

import (
	"bufio"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		os.Exit(runAdmin(os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	watchSignals()
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	c := newClient(os.Getenv, bufio.NewReader(os.Stdin), out, os.Stderr)
	rc := c.run(os.Args[1:])
	_ = out.Flush()
	if p := os.Getenv("DSMSIM_PEAK_RSS_FILE"); p != "" {
		writePeakRSS(p)
	}
	os.Exit(rc)
}

// writePeakRSS records this process's peak resident set (VmHWM) for tests.
// getrusage cannot be used for that: after a vfork+exec the kernel folds the
// parent's peak into the child's ru_maxrss.
func writePeakRSS(path string) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			_ = os.WriteFile(path, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))+"\n"), 0o644)
			return
		}
	}
}

// The upload in progress, removed when a terminating signal arrives so that no
// temporary data outlives the process (SIGKILL leaves it for the sweeper).
var (
	inflightMu sync.Mutex
	inflight   func()
)

func setInflight(cleanup func()) {
	inflightMu.Lock()
	inflight = cleanup
	inflightMu.Unlock()
}

var terminating = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}

func watchSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, terminating...)
	go func() {
		sig := <-ch
		inflightMu.Lock()
		if inflight != nil {
			inflight()
		}
		resetSignals()
		// Die by the same signal so the parent sees how the process ended.
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}()
}

func resetSignals() { signal.Reset(terminating...) }
