package csi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
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
	return m
}

func (m *metrics) observeRPC(method string, code codes.Code, d time.Duration) {
	m.rpc.WithLabelValues(method, code.String()).Observe(d.Seconds())
}

// MetricsHandler serves the driver's metrics in the Prometheus text format.
func (d *Driver) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{})
}
