package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// freeAddr is a loopback address for --metrics-address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// scrape returns the driver's metrics as Prometheus reads them.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// sample is the value of one series in a scrape, and whether it is there.
func sample(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestMetrics: --metrics-address serves the driver's Prometheus metrics: the CSI calls just
// made, the upload and restore jobs with their bytes, the dsmc runs by command and return code,
// the time of the volume's newest backup, the slot gauges and the TSM session check.
func TestMetrics(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	addr := freeAddr(t)
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{args: []string{"--metrics-address=" + addr}})
	vol, data := blockVolume(t, a, "vol-metrics", 8<<20)
	snap := a.snapshotReady("snap-metrics", vol.VolumeId, nil)
	a.deleteSnapshotAtEnd(snap.SnapshotId)
	restoreAndCompare(t, a, "restored-metrics", snap.SnapshotId, 8<<20, data)
	eventually(t, "the first TSM session check", time.Minute, func() (bool, error) {
		v, ok := sample(scrape(t, addr), "tsmcsi_tsm_up")
		return ok && v == 1, nil
	})

	body := scrape(t, addr)
	for _, want := range []string{
		`tsmcsi_rpc_duration_seconds_count{code="OK",method="CreateSnapshot"}`,
		`tsmcsi_job_duration_seconds_count{job="upload",result="ok"} 1`,
		`tsmcsi_job_duration_seconds_count{job="restore",result="ok"} 1`,
		`tsmcsi_dsmc_runs_total{command="backup image",rc="0"} 1`,
		`tsmcsi_dsmc_runs_total{command="restore image",rc="0"} 1`,
		`tsmcsi_dsmc_slot_waiting{class="transfer"} 0`,
		`tsmcsi_dsmc_slot_waiting{class="short"} 0`,
		`tsmcsi_restore_verifications_total{result="mismatch"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, job := range []string{"upload", "restore"} {
		if v, _ := sample(body, `tsmcsi_job_bytes_total{job="`+job+`"}`); v < 8<<20 {
			t.Errorf("%s bytes counted %v, want at least the volume's %d", job, v, 8<<20)
		}
	}
	created := float64(snap.CreationTime.AsTime().UnixNano()) / 1e9
	if v, ok := sample(body, `tsmcsi_last_backup_timestamp_seconds{volume_id="`+vol.VolumeId+`"}`); !ok || v < created-1e-3 || v > created+1e-3 {
		t.Errorf("last backup of %s: %v (exported: %v), want the snapshot's creation time %v", vol.VolumeId, v, ok, created)
	}
	if v, ok := sample(body, "tsmcsi_tsm_last_check_timestamp_seconds"); !ok || v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last TSM check at %v (exported: %v)", v, ok)
	}
}

// TestTSMHealth: while dsmc cannot reach the server, tsmcsi_tsm_up turns 0 and the driver says
// so once in its log, with the ANS message, and Probe still answers ready; once the server is
// back the metric turns 1 and the log says so once.
func TestTSMHealth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	addr := freeAddr(t)
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{args: []string{"--metrics-address=" + addr, "--tsm-health-interval=1s"}})
	up := func(want float64) func() (bool, error) {
		return func() (bool, error) {
			v, ok := sample(scrape(t, addr), "tsmcsi_tsm_up")
			return ok && v == want, nil
		}
	}
	eventually(t, "TSM up", time.Minute, up(1))

	srv.fault(t, "connlost,cmd=query") // every query, query session included, loses its session
	eventually(t, "TSM down", time.Minute, up(0))
	probe, err := csi.NewIdentityClient(a.d.Conn()).Probe(ctxT(t), &csi.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Errorf("Probe while TSM is down: %v %v, want ready", probe, err)
	}
	// Two failed checks, one log line.
	eventually(t, "a second failed check", time.Minute, func() (bool, error) {
		v, _ := sample(scrape(t, addr), `tsmcsi_tsm_check_failures_total{kind="connection"}`)
		return v >= 2, nil
	})
	srv.clearFaults(t)
	eventually(t, "TSM up again", 2*time.Minute, up(1))

	log, err := os.ReadFile(a.d.Log)
	if err != nil {
		t.Fatal(err)
	}
	failed := regexp.MustCompile(`TSM session check failed.*kind="connection".*message="ANS1029E"`).FindAllString(string(log), -1)
	if len(failed) != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", len(failed), a.d.Tail(40))
	}
	if n := strings.Count(string(log), "TSM session check succeeded"); n != 2 {
		t.Errorf("%d lines say the session is up, want 2 (start, recovery):\n%s", n, a.d.Tail(40))
	}
}
