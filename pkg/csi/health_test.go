package csi

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// stepClock is the health checker's clock under the test's hand: every wait the checker asks
// for is reported on waits (buffered, so the checker never blocks there), and it ends only when
// the test sends on fire.
type stepClock struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newStepClock() *stepClock {
	return &stepClock{waits: make(chan time.Duration, 64), fire: make(chan time.Time)}
}

func (c *stepClock) after(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

// next returns the wait the checker asked for after its latest check, which has been recorded
// by then.
func (c *stepClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waits:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the health checker asked for no wait")
		return 0
	}
}

// logBuffer collects klog's output for one test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// captureKlog sends every klog line, once, to the returned buffer until the test ends.
func captureKlog(t *testing.T) *logBuffer {
	buf := &logBuffer{}
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	klog.SetOutputBySeverity("INFO", buf) // every severity also writes to INFO's output
	t.Cleanup(func() {
		klog.SetOutput(os.Stderr)
		klog.LogToStderr(true)
	})
	return buf
}

func dsmcFailure(kind tsm.Kind, id string) error {
	return &tsm.Error{Op: "query session", RC: 12, Kind: kind,
		Messages: []tsm.Message{{ID: "ANS0101I", Severity: 'I', Text: "an informational line first"}, {ID: id, Severity: id[7], Text: "text"}}}
}

// TestTSMHealthBackoffAndLogs drives the checker through an outage with its clock in hand: a
// minute between checks while TSM answers, 5 s doubling to 5 min while it does not, back to a
// minute after the first success; the metrics follow every check, and a log line is written
// once per change (up, down, down for another reason), not once per failed check.
func TestTSMHealthBackoffAndLogs(t *testing.T) {
	logs := captureKlog(t)
	conn, auth := dsmcFailure(tsm.KindConnection, "ANS1017E"), dsmcFailure(tsm.KindAuth, "ANS1352E")
	steps := []struct {
		err  error
		wait time.Duration
	}{
		{nil, time.Minute},
		{conn, 5 * time.Second}, {conn, 10 * time.Second}, {conn, 20 * time.Second}, {conn, 40 * time.Second},
		{conn, 80 * time.Second}, {conn, 160 * time.Second}, {conn, 5 * time.Minute}, {conn, 5 * time.Minute},
		{auth, 5 * time.Minute}, // the server is back but the password expired: still down, still backing off
		{nil, time.Minute},
		{conn, 5 * time.Second}, // a new outage starts the backoff afresh
	}
	m := newMetrics()
	clock := newStepClock()
	var calls int
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h := &tsmHealth{
		check: func(context.Context) (*tsm.Session, error) {
			err := steps[calls].err
			calls++
			if err != nil {
				return nil, err
			}
			return &tsm.Session{Server: "SRV1", Node: "N1"}, nil
		},
		after: clock.after, now: func() time.Time { return start.Add(time.Duration(calls) * time.Hour) },
		interval: time.Minute, metrics: m,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.run(ctx); close(done) }()

	for i, s := range steps {
		if got := clock.next(t); got != s.wait {
			t.Fatalf("step %d: waits %v, want %v", i, got, s.wait)
		}
		up := 0.0
		if s.err == nil {
			up = 1
		}
		checked := float64(start.Add(time.Duration(i+1) * time.Hour).Unix())
		if got := metricValue(t, m, "tsmcsi_tsm_up"); got != up {
			t.Errorf("step %d: tsmcsi_tsm_up = %v, want %v", i, got, up)
		}
		if got := metricValue(t, m, "tsmcsi_tsm_last_check_timestamp_seconds"); got != checked {
			t.Errorf("step %d: last check %v, want %v", i, got, checked)
		}
		h.mu.Lock()
		st := h.state
		h.mu.Unlock()
		if st.Up != (s.err == nil) || (s.err != nil && st.Kind != tsm.KindOf(s.err)) {
			t.Errorf("step %d: state %+v", i, st)
		}
		if i < len(steps)-1 {
			clock.fire <- time.Time{}
		}
	}
	cancel()
	<-done

	if got := metricValue(t, m, `tsmcsi_tsm_check_failures_total{kind="connection"}`); got != 9 {
		t.Errorf("connection failures counted %v, want 9", got)
	}
	if got := metricValue(t, m, `tsmcsi_tsm_check_failures_total{kind="auth"}`); got != 1 {
		t.Errorf("auth failures counted %v, want 1", got)
	}
	ups := logs.lines("TSM session check succeeded")
	downs := logs.lines("TSM session check failed")
	if len(ups) != 2 || len(downs) != 3 {
		t.Fatalf("logged %d successes and %d failures, want 2 and 3:\n%s\n%s", len(ups), len(downs), strings.Join(ups, "\n"), strings.Join(downs, "\n"))
	}
	for i, want := range []string{`kind="connection" message="ANS1017E"`, `kind="auth" message="ANS1352E"`, `kind="connection" message="ANS1017E"`} {
		if !strings.Contains(downs[i], want) {
			t.Errorf("failure line %d lacks %s: %s", i, want, downs[i])
		}
	}
	if !strings.Contains(ups[1], "downFor=") || strings.Contains(ups[0], "downFor=") {
		t.Errorf("only the recovery names the outage's length:\n%s\n%s", ups[0], ups[1])
	}
}

// TestTSMHealthThroughDriver: the driver starts the checker in Start, not in NewDriver; the
// check is `dsmc query session` in a short slot (never one of the transfer slots); its outcome
// is in the metrics; Probe answers ready at once while a check hangs and while TSM is down; and
// Stop ends the checker.
func TestTSMHealthThroughDriver(t *testing.T) {
	f := newFakeTSM()
	var d *Driver
	type slotsSeen struct{ short, transfer int }
	seen := make(chan slotsSeen, 8)
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	runner := runnerFunc(func(ctx context.Context, inv tsm.Invocation) (tsm.Output, error) {
		if inv.Args[0] == "query" && inv.Args[1] == "session" {
			seen <- slotsSeen{len(d.slots), len(d.longSlots)}
			select {
			case <-release:
			case <-ctx.Done():
				return tsm.Output{RC: -1}, ctx.Err()
			}
		}
		return f.Run(ctx, inv)
	})
	client := tsm.NewClient(tsm.Config{Binary: "dsmc", WorkDir: t.TempDir()}, runner)
	dir := shortDir(t)
	d, err := NewDriver(Options{DriverName: "test.tsm.csi", NodeID: "n1", StateDir: dir, VolumePrefix: "backup", MetaDir: filepath.Join(dir, "meta"),
		DefaultMode: tsm.ModeFile, MaxConcurrentDsmc: 3, TSMHealthInterval: 90 * time.Second}, client, mount.NewMounter())
	if err != nil {
		t.Fatal(err)
	}
	clock := newStepClock()
	d.health.after = clock.after
	d.loops = newFakeLoops()
	select {
	case <-seen:
		t.Fatal("NewDriver ran dsmc")
	default:
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		releaseOnce()
		d.Stop()
	})

	s := <-seen // the first check is running and holds its slot
	if s.short != 1 || s.transfer != 0 {
		t.Errorf("the check holds %d short and %d transfer slots, want 1 and 0", s.short, s.transfer)
	}
	probe := func(when string) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		r, err := d.Probe(ctx, &csi.ProbeRequest{})
		if err != nil || !r.GetReady().GetValue() {
			t.Errorf("Probe %s: %v %v, want ready", when, r, err)
		}
	}
	probe("while dsmc hangs")
	releaseOnce()
	if got := clock.next(t); got != 90*time.Second {
		t.Errorf("after a success the checker waits %v, want the interval", got)
	}
	for series, want := range map[string]float64{
		"tsmcsi_tsm_up": 1,
		`tsmcsi_dsmc_runs_total{command="query session",rc="0"}`: 1,
		`tsmcsi_dsmc_slot_waiting{class="short"}`:                0,
	} {
		if got := metricValue(t, d.metrics, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	f.mu.Lock()
	f.session = "ANS1017E Session rejected: TCP/IP connection failure.\n"
	f.mu.Unlock()
	clock.fire <- time.Time{}
	<-seen
	if got := clock.next(t); got != healthBackoffMin {
		t.Errorf("after a failure the checker waits %v, want %v", got, healthBackoffMin)
	}
	for series, want := range map[string]float64{
		"tsmcsi_tsm_up": 0,
		`tsmcsi_dsmc_runs_total{command="query session",rc="12"}`: 1,
		`tsmcsi_tsm_check_failures_total{kind="connection"}`:      1,
		`tsmcsi_dsmc_runs_total{command="query session",rc="0"}`:  1,
		`tsmcsi_dsmc_slot_waiting{class="short"}`:                 0,
	} {
		if got := metricValue(t, d.metrics, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	probe("while TSM is down")

	d.Stop() // returns only once the checker has ended
	if d.jobs.running("tsm-health") {
		t.Error("the checker outlived Stop")
	}
}
