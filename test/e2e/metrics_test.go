package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestMetrics: --metrics-address serves the driver's Prometheus metrics, among them the
// duration of the CSI calls just made and of the upload job.
func TestMetrics(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{args: []string{"--metrics-address=" + addr}})
	vol, _ := blockVolume(t, a, "vol-metrics", 8<<20)
	snap := a.snapshotReady("snap-metrics", vol.VolumeId, nil)
	a.deleteSnapshotAtEnd(snap.SnapshotId)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tsmcsi_rpc_duration_seconds_count{code="OK",method="CreateSnapshot"}`,
		`tsmcsi_job_duration_seconds_count{job="upload",result="ok"} 1`,
		`tsmcsi_job_bytes_total{job="upload"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
