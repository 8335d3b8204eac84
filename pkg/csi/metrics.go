package csi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// metrics are per driver (their own registry), so tests can run several drivers in one process.
type metrics struct {
	registry *prometheus.Registry
	rpc      *prometheus.HistogramVec
	jobs     *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	running  *prometheus.GaugeVec
	frozen   prometheus.Histogram
	skipped  prometheus.Counter

	dsmcRuns      *prometheus.CounterVec
	slotWaiting   *prometheus.GaugeVec
	verifications *prometheus.CounterVec
	tsmUp         prometheus.Gauge
	tsmChecked    prometheus.Gauge
	tsmFailures   *prometheus.CounterVec

	backupMu   sync.Mutex
	lastBackup map[string]time.Time // source volume id -> newest point in time TSM holds
	backups    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		rpc: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tsmcsi_rpc_duration_seconds",
			Help:    "Duration of CSI calls by method and gRPC code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"method", "code"}),
		jobs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tsmcsi_job_duration_seconds",
			Help:    "Duration of background TSM jobs (upload, restore) by result.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 12),
		}, []string{"job", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcsi_job_bytes_total",
			Help: "Bytes of volume data sent to or restored from TSM.",
		}, []string{"job"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tsmcsi_jobs_running",
			Help: "Background TSM jobs in progress.",
		}, []string{"job"}),
		frozen: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tsmcsi_freeze_duration_seconds",
			Help:    "How long a file system stayed frozen for a snapshot cut.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsmcsi_query_rows_skipped_total",
			Help: "Rows of dsmc query output that could not be parsed and were left out of a listing.",
		}),
	}
	m.registry.MustRegister(m.rpc, m.jobs, m.bytes, m.running, m.frozen, m.skipped)
	m.registerHealth()
	return m
}

// registerHealth adds what an operator watches: the TSM session, the dsmc runs and slots, the
// age of each volume's newest backup and the restore verifications.
func (m *metrics) registerHealth() {
	m.dsmcRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tsmcsi_dsmc_runs_total",
		Help: "dsmc processes run, by command and return code (-1: killed or not started).",
	}, []string{"command", "rc"})
	m.slotWaiting = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tsmcsi_dsmc_slot_waiting",
		Help: "Operations waiting for a --max-concurrent-dsmc slot, by class (transfer: uploads and restores; short: the rest).",
	}, []string{"class"})
	m.verifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tsmcsi_restore_verifications_total",
		Help: "Restores checked against the snapshot's digest, by result (ok, mismatch, unverified).",
	}, []string{"result"})
	m.tsmUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tsmcsi_tsm_up",
		Help: "1 if the last dsmc query session succeeded, 0 if it failed or none has finished yet.",
	})
	m.tsmChecked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tsmcsi_tsm_last_check_timestamp_seconds",
		Help: "Unix time the last TSM session check finished; 0 before the first.",
	})
	m.tsmFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tsmcsi_tsm_check_failures_total",
		Help: "Failed TSM session checks by error kind (connection, auth, no-password, busy, ...).",
	}, []string{"kind"})
	m.backups = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tsmcsi_last_backup_timestamp_seconds",
		Help: "Creation time (the point in time) of the newest snapshot of each volume that TSM holds.",
	}, []string{"volume_id"})
	m.lastBackup = map[string]time.Time{}
	for _, c := range []string{slotTransfer, slotShort} {
		m.slotWaiting.WithLabelValues(c)
	}
	for _, r := range []string{"ok", "mismatch", "unverified"} {
		m.verifications.WithLabelValues(r)
	}
	m.registry.MustRegister(m.dsmcRuns, m.slotWaiting, m.verifications, m.tsmUp, m.tsmChecked, m.tsmFailures, m.backups)
}

// Classes of dsmc slot, the label values of tsmcsi_dsmc_slot_waiting.
const (
	slotTransfer = "transfer"
	slotShort    = "short"
)

// observeVerification counts one restore's verification. result is "ok" (the restored data
// matches the snapshot's digest), "mismatch" (it does not: the restore is refused) or
// "unverified" (nothing to compare: a snapshot without a digest, or verification turned off).
func (m *metrics) observeVerification(result string) {
	m.verifications.WithLabelValues(result).Inc()
}

// observeDsmc counts one finished dsmc process; the tsm.Client calls it.
func (m *metrics) observeDsmc(r tsm.RunInfo) {
	m.dsmcRuns.WithLabelValues(r.Op, strconv.Itoa(r.RC)).Inc()
}

// observeBackup records that TSM holds volume id's data as of at. Uploads may finish out of
// order (a retried older cut after a newer one), so the gauge only moves forward.
func (m *metrics) observeBackup(id string, at time.Time) {
	m.backupMu.Lock()
	defer m.backupMu.Unlock()
	if prev, ok := m.lastBackup[id]; ok && !at.After(prev) {
		return
	}
	m.lastBackup[id] = at
	m.backups.WithLabelValues(id).Set(float64(at.UnixNano()) / 1e9)
}

// forgetVolume drops a deleted volume's series, so that an alert on backup age does not fire
// for a volume that no longer exists.
func (m *metrics) forgetVolume(id string) {
	m.backupMu.Lock()
	defer m.backupMu.Unlock()
	delete(m.lastBackup, id)
	m.backups.DeleteLabelValues(id)
}

func (m *metrics) observeRPC(method string, code codes.Code, d time.Duration) {
	m.rpc.WithLabelValues(method, code.String()).Observe(d.Seconds())
}

// MetricsHandler serves the driver's metrics in the Prometheus text format.
func (d *Driver) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{})
}
