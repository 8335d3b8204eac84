package csi

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricValues scrapes m as Prometheus does and returns every sample by its series as printed
// (`name{label="value",...}`).
func metricValues(t *testing.T, m *metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metricValue is one sample of m; the test fails if the series is not exported.
func metricValue(t *testing.T, m *metrics, series string) float64 {
	t.Helper()
	v, ok := metricValues(t, m)[series]
	if !ok {
		t.Fatalf("no series %s", series)
	}
	return v
}

// TestMetricsOfABackupAndItsRestore: an upload turned ready sets the age of its volume's backup
// and counts its bytes and dsmc runs, a restore counts its bytes, a restarted driver shows the
// backup age from its records, and DeleteVolume drops the volume's series.
func TestMetricsOfABackupAndItsRestore(t *testing.T) {
	f := newFakeTSM()
	dir := shortDir(t)
	d := testDriver(t, dir, f)
	data := []byte(strings.Repeat("count me ", 500))
	snap := readySnapshot(t, d, "snap-m", data)
	src := snap.SourceVolumeId
	backup := `tsmcsi_last_backup_timestamp_seconds{volume_id="` + src + `"}`
	created := float64(snap.CreationTime.AsTime().UnixNano()) / 1e9
	vol, err := createUntilDone(t, d, restoreRequest("pvc-m", snap.SnapshotId, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	d.jobs.wait(t.Context(), "restore:"+vol.VolumeId)
	got := metricValues(t, d.metrics)
	for series, want := range map[string]float64{
		`tsmcsi_job_bytes_total{job="upload"}`:                    float64(len(data)),
		`tsmcsi_job_bytes_total{job="restore"}`:                   float64(len(data)),
		`tsmcsi_dsmc_runs_total{command="selective",rc="0"}`:      2, // the cut and its metadata object
		`tsmcsi_dsmc_runs_total{command="restore",rc="0"}`:        2,
		`tsmcsi_dsmc_slot_waiting{class="transfer"}`:              0,
		`tsmcsi_dsmc_slot_waiting{class="short"}`:                 0,
		`tsmcsi_restore_verifications_total{result="ok"}`:         1,
		`tsmcsi_restore_verifications_total{result="mismatch"}`:   0,
		`tsmcsi_restore_verifications_total{result="unverified"}`: 0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", series, v, ok, want)
		}
	}
	if v := got[backup]; v < created-1e-3 || v > created+1e-3 {
		t.Errorf("%s = %v, want the snapshot's creation time %v", backup, v, created)
	}
	if v := got[`tsmcsi_dsmc_runs_total{command="query backup",rc="0"}`]; v < 1 {
		t.Errorf("the upload's verifying query was not counted: %v", v)
	}
	if _, ok := got[`tsmcsi_last_backup_timestamp_seconds{volume_id="`+vol.VolumeId+`"}`]; ok {
		t.Error("a restored volume has a backup age without any snapshot of its own")
	}

	d.Stop()
	d = testDriver(t, dir, f)
	if v := metricValue(t, d.metrics, backup); v < created-1e-3 || v > created+1e-3 {
		t.Errorf("after a restart %s = %v, want %v", backup, v, created)
	}
	if _, err := d.DeleteVolume(t.Context(), &csi.DeleteVolumeRequest{VolumeId: src}); err != nil {
		t.Fatal(err)
	}
	if _, ok := metricValues(t, d.metrics)[backup]; ok {
		t.Errorf("%s outlived DeleteVolume", backup)
	}
	d.Stop()
	d = testDriver(t, dir, f)
	if _, ok := metricValues(t, d.metrics)[backup]; ok {
		t.Errorf("%s came back at a restart for a deleted volume", backup)
	}
}

// TestObserveBackupOnlyMovesForward: an older cut whose upload finishes last does not make the
// volume's backup look older than it is.
func TestObserveBackupOnlyMovesForward(t *testing.T) {
	m := newMetrics()
	t0 := time.Unix(1_900_000_000, 0)
	series := `tsmcsi_last_backup_timestamp_seconds{volume_id="v1"}`
	for _, step := range []struct {
		at   time.Time
		want time.Time
	}{
		{t0, t0},
		{t0.Add(time.Hour), t0.Add(time.Hour)},
		{t0.Add(time.Minute), t0.Add(time.Hour)},
		{t0.Add(2 * time.Hour), t0.Add(2 * time.Hour)},
	} {
		m.observeBackup("v1", step.at)
		if got := metricValue(t, m, series); got != float64(step.want.Unix()) {
			t.Errorf("after %v: %v, want %v", step.at, got, step.want.Unix())
		}
	}
	m.forgetVolume("v1")
	if _, ok := metricValues(t, m)[series]; ok {
		t.Error("forgetVolume left the series")
	}
	m.observeBackup("v1", t0) // a new volume under a reused id starts afresh
	if got := metricValue(t, m, series); got != float64(t0.Unix()) {
		t.Errorf("after forgetVolume: %v, want %v", got, t0.Unix())
	}
}

func TestObserveVerification(t *testing.T) {
	m := newMetrics()
	for _, r := range []string{"ok", "ok", "mismatch", "ok", "unverified", "unverified"} {
		m.observeVerification(r)
	}
	for result, want := range map[string]float64{"ok": 3, "mismatch": 1, "unverified": 2} {
		if got := metricValue(t, m, `tsmcsi_restore_verifications_total{result="`+result+`"}`); got != want {
			t.Errorf("%s: %v, want %v", result, got, want)
		}
	}
}

// TestSlotWaitingGauge: a call counts as waiting from the moment it asks for a dsmc slot until
// it holds one or gives up, in its class.
func TestSlotWaitingGauge(t *testing.T) {
	d := &Driver{metrics: newMetrics(), slots: make(chan struct{}, 1), longSlots: make(chan struct{}, 1)}
	waiting := func() (transfer, short float64) {
		v := metricValues(t, d.metrics)
		return v[`tsmcsi_dsmc_slot_waiting{class="transfer"}`], v[`tsmcsi_dsmc_slot_waiting{class="short"}`]
	}
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 3)
	go func() {
		done <- d.withSlot(t.Context(), false, func() error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	if tr, sh := waiting(); tr != 0 || sh != 0 {
		t.Fatalf("a call holding its slot counts as waiting: transfer %v short %v", tr, sh)
	}
	for _, long := range []bool{true, false} {
		go func() { done <- d.withSlot(t.Context(), long, func() error { return nil }) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if tr, sh := waiting(); tr == 1 && sh == 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("waiting calls counted: transfer %v short %v, want 1 and 1", tr, sh)
		}
		time.Sleep(time.Millisecond) // polling the gauge, the only sign that a call waits
	}
	close(release)
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if tr, sh := waiting(); tr != 0 || sh != 0 {
		t.Errorf("after all calls ran: transfer %v short %v, want 0", tr, sh)
	}

	// A call that gives up while waiting stops counting too.
	d.slots <- struct{}{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.withSlot(ctx, true, func() error { return nil }); err == nil {
		t.Error("a cancelled call ran without a slot")
	}
	if tr, sh := waiting(); tr != 0 || sh != 0 {
		t.Errorf("after a cancelled wait: transfer %v short %v, want 0", tr, sh)
	}
}
