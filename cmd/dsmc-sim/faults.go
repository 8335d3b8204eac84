package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// Fault kinds.
const (
	faultAuth        = "auth"
	faultConnLost    = "connlost"
	faultNoSpace     = "nospace"
	faultSlow        = "slow"
	faultHang        = "hang"
	faultCrash       = "crash"
	faultRestartable = "restartable"
	faultBusy        = "busy"
	faultMountPoints = "mountpoints"
)

var faultAliases = map[string]string{
	"auth": faultAuth, "authfail": faultAuth, "authentication": faultAuth,
	"connlost": faultConnLost, "connectionlost": faultConnLost, "connection-lost": faultConnLost,
	"nospace": faultNoSpace, "outofspace": faultNoSpace, "out-of-space": faultNoSpace,
	"slow": faultSlow, "hang": faultHang, "crash": faultCrash,
	"restartable": faultRestartable, "pendingrestore": faultRestartable,
	"busy": faultBusy, "sessions": faultBusy, "mountpoints": faultMountPoints, "nummp": faultMountPoints,
}

// fault is one injected failure, written as "kind[,key=value...]".
type fault struct {
	kind     string
	cmds     []string // command kinds; empty = any
	node     string
	after    int64 // bytes into a transfer; -1 = not given
	rate     int64 // bytes/second for slow
	count    int   // uses left; 0 = unlimited
	signal   syscall.Signal
	rc       int // crash exit code when no signal; -1 = not given
	spec     string
	fromFile bool
}

var signalNames = map[string]syscall.Signal{
	"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "SEGV": syscall.SIGSEGV, "ABRT": syscall.SIGABRT,
	"BUS": syscall.SIGBUS, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP, "QUIT": syscall.SIGQUIT,
}

// parseBytes reads 1048576, 512K, 4M, 1G (binary multiples).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(u, suf.s) {
			mult = suf.m
			s = s[:len(s)-len(suf.s)]
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad byte count %q", s)
	}
	return n * mult, nil
}

func parseFault(spec string) (*fault, error) {
	fields := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return nil, errors.New("empty fault spec")
	}
	kind, ok := faultAliases[strings.ToLower(fields[0])]
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q", fields[0])
	}
	f := &fault{kind: kind, after: -1, rc: -1, spec: strings.TrimSpace(spec), signal: syscall.SIGKILL}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("fault %q: %q is not key=value", spec, kv)
		}
		var err error
		switch strings.ToLower(k) {
		case "cmd", "op":
			for _, c := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == '|' || r == '+' }) {
				switch c {
				case kindBackup, kindRestore, kindDelete, kindQuery, kindOther:
					f.cmds = append(f.cmds, c)
				case "any", "all", "*":
				default:
					return nil, fmt.Errorf("fault %q: unknown command kind %q", spec, c)
				}
			}
		case "node":
			f.node = strings.ToUpper(v)
		case "after":
			f.after, err = parseBytes(v)
		case "rate":
			f.rate, err = parseBytes(v)
			if err == nil && f.rate <= 0 {
				err = errors.New("rate must be positive")
			}
		case "count":
			f.count, err = strconv.Atoi(v)
			if err == nil && f.count < 1 {
				err = errors.New("count must be at least 1")
			}
		case "signal", "sig":
			s, ok := signalNames[strings.TrimPrefix(strings.ToUpper(v), "SIG")]
			if !ok {
				n, e := strconv.Atoi(v)
				if e != nil || n <= 0 {
					return nil, fmt.Errorf("fault %q: unknown signal %q", spec, v)
				}
				s = syscall.Signal(n)
			}
			f.signal = s
		case "rc", "exit":
			f.rc, err = strconv.Atoi(v)
			if err == nil {
				f.signal = 0
			}
		case "id":
		default:
			return nil, fmt.Errorf("fault %q: unknown key %q", spec, k)
		}
		if err != nil {
			return nil, fmt.Errorf("fault %q: %v", spec, err)
		}
	}
	if f.kind == faultSlow && f.rate == 0 {
		return nil, fmt.Errorf("fault %q: slow needs rate=BYTES_PER_SECOND", spec)
	}
	return f, nil
}

// splitFaultSpecs splits DSMSIM_FAULT (';' or newlines) or the fault file (one
// per line, '#' comments).
func splitFaultSpecs(text string) []string {
	var out []string
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ';' }) {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// loadFaults collects the faults that apply to this command and node.
func (c *client) loadFaults() {
	add := func(text string, fromFile bool) {
		for _, s := range splitFaultSpecs(text) {
			f, err := parseFault(s)
			if err != nil {
				c.diag("ignoring fault: %v", err)
				continue
			}
			f.fromFile = fromFile
			c.faults = append(c.faults, f)
		}
	}
	add(c.getenv("DSMSIM_FAULT"), false)
	if c.store != nil {
		if b, err := os.ReadFile(c.store.Path(store.FaultFile)); err == nil {
			add(string(b), true)
		}
	}
}

func (f *fault) appliesTo(kind, node, target string) bool {
	if f.node != "" && !strings.EqualFold(f.node, node) && !strings.EqualFold(f.node, target) {
		return false
	}
	if len(f.cmds) == 0 {
		return true
	}
	for _, k := range f.cmds {
		if k == kind {
			return true
		}
	}
	return false
}

// pending returns the applicable faults of one kind.
func (c *client) pending(kind string) []*fault {
	var out []*fault
	for _, f := range c.faults {
		if f.kind == kind && f.appliesTo(c.kind(), c.node, c.owner) {
			out = append(out, f)
		}
	}
	return out
}

var countRE = regexp.MustCompile(`(?i)\bcount=\d+`)

// fire uses up one use of f (count=N), atomically across processes; it returns
// false when another process took the last use.
func (c *client) fire(f *fault) bool {
	if f.count == 0 {
		return true
	}
	if c.store == nil {
		return true
	}
	fired := false
	if f.fromFile {
		err := c.store.WithFileLocked(func() error {
			b, err := os.ReadFile(c.store.Path(store.FaultFile))
			if err != nil {
				return nil
			}
			lines := strings.Split(string(b), "\n")
			for i, l := range lines {
				body := l
				if j := strings.Index(body, "#"); j >= 0 {
					body = body[:j]
				}
				if strings.TrimSpace(body) != f.spec {
					continue
				}
				g, err := parseFault(f.spec)
				if err != nil {
					return nil
				}
				fired = true
				if g.count <= 1 {
					lines = append(lines[:i], lines[i+1:]...)
				} else {
					lines[i] = countRE.ReplaceAllString(l, fmt.Sprintf("count=%d", g.count-1))
				}
				return c.store.WriteFileAtomic(store.FaultFile, []byte(strings.Join(lines, "\n")))
			}
			return nil
		})
		if err != nil {
			c.diag("fault file: %v", err)
		}
		return fired
	}
	err := c.store.Update(func(st *store.State) error {
		if st.FaultUses[f.spec] >= f.count {
			return errNoChange
		}
		st.FaultUses[f.spec]++
		fired = true
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		c.diag("fault counter: %v", err)
	}
	return fired
}

var errNoChange = errors.New("no change")

// firstFiring fires the first applicable fault of a kind that still has uses.
func (c *client) firstFiring(kind string, pred func(*fault) bool) *fault {
	for _, f := range c.pending(kind) {
		if pred != nil && !pred(f) {
			continue
		}
		if c.fire(f) {
			return f
		}
	}
	return nil
}

// hangForever blocks until the process is killed.
func hangForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// crash ends the process the way a crashing client would: stdout flushed as far
// as it got, then a signal (default SIGKILL) or a bare exit code.
func (c *client) crash(f *fault) {
	_ = c.out.Flush()
	if f.signal != 0 {
		resetSignals()
		// A simulated crash leaves no core file behind.
		_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
		defaultDisposition(f.signal)
		_ = syscall.Kill(os.Getpid(), f.signal)
		time.Sleep(time.Second) // delivery is asynchronous
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	rc := f.rc
	if rc < 0 {
		rc = 139
	}
	os.Exit(rc)
}

// faultErr is returned by the transfer gate when a fault fires mid-stream.
type faultErr struct{ f *fault }

func (e *faultErr) Error() string { return "injected fault " + e.f.kind }

// transferGate applies the transfer faults: slow pacing, and faults that fire
// once the stream reaches their "after" offset.
type transferGate struct {
	c       *client
	start   time.Time
	rate    int64
	base    int64 // offset at which pacing started
	waiting []*fault
}

func (c *client) newGate(transferKinds ...string) *transferGate {
	g := &transferGate{c: c, start: time.Now()}
	if f := c.firstFiring(faultSlow, nil); f != nil {
		g.rate = f.rate
	}
	for _, k := range transferKinds {
		g.waiting = append(g.waiting, c.pending(k)...)
	}
	for _, k := range []string{faultHang, faultCrash} {
		for _, f := range c.pending(k) {
			if f.after >= 0 {
				g.waiting = append(g.waiting, f)
			}
		}
	}
	return g
}

// step is the largest piece the gate lets through at once while pacing, so that
// a slow transfer advances visibly (about ten steps a second).
func (g *transferGate) step() int64 {
	if g.rate == 0 {
		return 1 << 62
	}
	return max(4096, g.rate/10)
}

func (g *transferGate) Pass(off, n int64) (int64, error) {
	n = min(n, g.step())
	for i := 0; i < len(g.waiting); {
		f := g.waiting[i]
		at := max(f.after, 0)
		if at >= off+n {
			i++
			continue
		}
		if !g.c.fire(f) {
			g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
			continue
		}
		return max(0, at-off), &faultErr{f: f}
	}
	if g.rate > 0 {
		due := g.start.Add(time.Duration(float64(off+n-g.base) / float64(g.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
	return n, nil
}

// bufSize picks the copy buffer: large for throughput, small under pacing.
func (g *transferGate) bufSize() int {
	if g.rate == 0 {
		return 4 << 20
	}
	return int(min(4<<20, max(64<<10, g.rate/10)))
}

func readFaultFile(c *client) ([]byte, error) {
	return os.ReadFile(c.store.Path(store.FaultFile))
}
