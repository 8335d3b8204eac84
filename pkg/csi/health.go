package csi

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// How the TSM session is watched: a `dsmc query session` every interval while it succeeds, and
// while it fails after healthBackoffMin, doubling up to healthBackoffMax, so that an outage is
// noticed within a minute but a server that stays down for hours is not hammered.
const (
	healthBackoffMin = 5 * time.Second
	healthBackoffMax = 5 * time.Minute
	// healthCheckTimeout bounds one check once it holds a slot: a server that accepts the TCP
	// connection and then never answers must turn the state down, not freeze it.
	healthCheckTimeout = 2 * time.Minute
)

// tsmHealth watches the TSM session in the background. It only ever reports: Probe does not
// read it (see Probe), and no CSI call waits for it.
type tsmHealth struct {
	check    func(ctx context.Context) (*tsm.Session, error)
	after    func(time.Duration) <-chan time.Time // the clock between checks; tests drive it
	now      func() time.Time
	interval time.Duration
	metrics  *metrics

	mu    sync.Mutex
	state tsmState
}

// tsmState is the outcome of the last finished check.
type tsmState struct {
	Checked time.Time // zero before the first check finished
	Since   time.Time // the first check of the run of checks with this Up and Kind
	Up      bool
	Kind    tsm.Kind // why it is down
	Err     error
	Session *tsm.Session
}

// changed reports whether cur is news worth a log line after prev: up/down, or down for
// another reason (the server is back but the password expired). Repeated failures of one
// kind log once, however long the outage.
func (prev tsmState) changed(cur tsmState) bool {
	if prev.Checked.IsZero() || prev.Up != cur.Up {
		return true
	}
	return !cur.Up && prev.Kind != cur.Kind
}

// newTSMHealth builds the watcher of d's TSM session; it starts nothing.
func newTSMHealth(d *Driver, interval time.Duration) *tsmHealth {
	if interval <= 0 {
		interval = DefaultTSMHealthInterval
	}
	return &tsmHealth{check: d.checkTSMSession, after: time.After, now: time.Now, interval: interval, metrics: d.metrics}
}

// startMonitoring fills the backup-age gauge from the records and starts watching the TSM
// session until the driver stops; Start calls it once the state is recovered.
func (d *Driver) startMonitoring() {
	d.seedBackupMetrics()
	if d.health != nil {
		d.jobs.start("tsm-health", d.health.run)
	}
}

// seedBackupMetrics sets tsmcsi_last_backup_timestamp_seconds from the ready snapshots of the
// volumes that still exist, so that a restart does not blank the age of every volume's backup
// until its next upload.
func (d *Driver) seedBackupMetrics() {
	keys, err := d.snaps.keys()
	if err != nil {
		klog.ErrorS(err, "Reading snapshot records for the backup metrics failed")
		return
	}
	for _, k := range keys {
		s, err := d.loadSnapshot(k)
		if err != nil || s.Phase != snapReady {
			continue
		}
		if _, err := d.loadVolume(s.SourceVolumeID); err == nil {
			d.metrics.observeBackup(s.SourceVolumeID, s.CreatedAt)
		}
	}
}

// checkTSMSession runs one `dsmc query session` in a short slot, the one uploads and restores
// leave free, so the check never holds back a transfer; with --max-concurrent-dsmc=1 it waits
// its turn like any query.
func (d *Driver) checkTSMSession(ctx context.Context) (*tsm.Session, error) {
	var s *tsm.Session
	err := d.withSlot(ctx, false, func() error {
		cctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
		defer cancel()
		var err error
		s, err = d.tsm.QuerySession(cctx)
		return err
	})
	return s, err
}

// run checks at once, then after every wait the last result asks for, until ctx ends.
func (h *tsmHealth) run(ctx context.Context) {
	var backoff time.Duration
	for {
		up, ok := h.checkOnce(ctx)
		if !ok {
			return
		}
		wait := h.interval
		if up {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, healthBackoffMin), healthBackoffMax)
			wait = backoff
		}
		select {
		case <-ctx.Done():
			return
		case <-h.after(wait):
		}
	}
}

// checkOnce runs one check and records it; ok is false when ctx ended, which says nothing
// about TSM and is not recorded.
func (h *tsmHealth) checkOnce(ctx context.Context) (up, ok bool) {
	s, err := h.check(ctx)
	if ctx.Err() != nil {
		return false, false
	}
	cur := tsmState{Checked: h.now(), Up: err == nil, Err: err, Session: s}
	if err != nil {
		cur.Kind = tsm.KindOf(err)
	}
	h.mu.Lock()
	prev := h.state
	changed := prev.changed(cur)
	cur.Since = prev.Since
	if changed {
		cur.Since = cur.Checked
	}
	h.state = cur
	h.mu.Unlock()

	h.metrics.tsmChecked.Set(float64(cur.Checked.UnixNano()) / 1e9)
	if cur.Up {
		h.metrics.tsmUp.Set(1)
	} else {
		h.metrics.tsmUp.Set(0)
		h.metrics.tsmFailures.WithLabelValues(cur.Kind.String()).Inc()
	}
	if changed {
		logTSMState(prev, cur)
	}
	return cur.Up, true
}

func logTSMState(prev, cur tsmState) {
	if cur.Up {
		kv := []any{"server", cur.Session.Server, "node", cur.Session.Node, "serverVersion", cur.Session.ServerVersion}
		if cur.Session.AccessingAs != "" {
			kv = append(kv, "accessingAs", cur.Session.AccessingAs)
		}
		if !prev.Checked.IsZero() {
			kv = append(kv, "downSince", prev.Since, "downFor", cur.Checked.Sub(prev.Since).Round(time.Second))
		}
		klog.InfoS("TSM session check succeeded; snapshots and restores can reach the server", kv...)
		return
	}
	kv := []any{"kind", cur.Kind.String()}
	if id := firstMessage(cur.Err); id != "" {
		kv = append(kv, "message", id)
	}
	klog.ErrorS(cur.Err, "TSM session check failed; snapshot uploads and restores fail until it succeeds, volumes are still served", kv...)
}

// firstMessage names the first ANS message of a dsmc failure of error or severe level, the
// one docs/troubleshooting.md is looked up by; "" if there is none.
func firstMessage(err error) string {
	var first string
	var e *tsm.Error
	if errors.As(err, &e) {
		for _, m := range e.Messages {
			if m.Severity == 'E' || m.Severity == 'S' {
				return m.ID
			}
			if first == "" {
				first = m.ID
			}
		}
	}
	return first
}
