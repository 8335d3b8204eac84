// Package bench holds the project's speed and memory goals as Go benchmarks (run by
// `make bench`), each reporting its figures as custom metrics next to ns/op.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const gib = 1 << 30

func needRoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for loop devices")
	}
}

func randomName(prefix string) string {
	buf := make([]byte, 4)
	rand.Read(buf)
	return prefix + hex.EncodeToString(buf)
}

// loopWithData makes a loop device over a file of size bytes filled with incompressible,
// non-zero data, so that no zero-block shortcut helps either side of a comparison.
func loopWithData(b *testing.B, dir string, size int64) (file, dev string) {
	b.Helper()
	file = filepath.Join(dir, randomName("vol-")+".img")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 4<<20)
	rand.Read(chunk)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		chunk[0]++ // every chunk differs
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	_ = f.Close()
	dev, err = mount.AttachLoop(context.Background(), file)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mount.DetachLoop(context.Background(), dev) })
	return file, dev
}

func emptyLoop(b *testing.B, dir string, size int64) string {
	b.Helper()
	file := filepath.Join(dir, randomName("dst-")+".img")
	if err := mount.CreateSparseFile(file, size); err != nil {
		b.Fatal(err)
	}
	dev, err := mount.AttachLoop(context.Background(), file)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mount.DetachLoop(context.Background(), dev) })
	return dev
}

func dropCaches(b *testing.B) {
	b.Helper()
	_ = exec.Command("sync").Run()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		b.Fatalf("drop caches: %v", err)
	}
}

func timed(b *testing.B, what string, fn func() error) time.Duration {
	b.Helper()
	dropCaches(b)
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return time.Since(start)
}

func dd(in, out string) error {
	args := []string{"if=" + in, "of=" + out, "bs=4M", "conv=fsync", "status=none"}
	if out, err := exec.Command("dd", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("dd %s: %v %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// recordingRunner runs dsmc like production does (through exec) and keeps the largest peak
// resident set that the simulator reports for itself. ru_maxrss cannot be used: after Go's
// vfork+exec the kernel folds the parent's peak into the child's.
type recordingRunner struct {
	env     []string
	rssFile string
	maxRSS  int64 // KiB
}

func (r *recordingRunner) Run(ctx context.Context, inv tsm.Invocation) (tsm.Output, error) {
	_ = os.Remove(r.rssFile)
	out, err := tsm.ExecRunner{Env: append(r.env, "DSMSIM_PEAK_RSS_FILE="+r.rssFile)}.Run(ctx, inv)
	if data, rerr := os.ReadFile(r.rssFile); rerr == nil {
		if kib, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); perr == nil && kib > r.maxRSS {
			r.maxRSS = kib
		}
	}
	return out, err
}

// BenchmarkTSMRoundTrip1GiB backs up a 1 GiB loop device through pkg/tsm and the dsmc
// simulator and restores it into another device, against dd doing the same work: copying the
// device into a file on the same file system as the simulated server, and that file into the
// other device. Caches are dropped before every phase and both sides fsync their writes.
// Metrics: ratio (median over the iterations of tsm time / dd time; goal <= 1.5) and dsmc-peak-rss-MiB (goal <= 64).
func BenchmarkTSMRoundTrip1GiB(b *testing.B) {
	needRoot(b)
	dir := b.TempDir()
	bins, err := harness.Build(filepath.Join(dir, "bin"))
	if err != nil {
		b.Fatal(err)
	}
	server := filepath.Join(dir, "server")
	if err := os.MkdirAll(server, 0o750); err != nil {
		b.Fatal(err)
	}
	_, src := loopWithData(b, dir, gib)
	dst := emptyLoop(b, dir, gib)
	link, err := mount.CreateLink("/dev", randomName("benchtsm-"), src)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mount.RemoveLink("/dev", filepath.Base(link)) })

	runner := &recordingRunner{env: []string{"DSMSIM_ROOT=" + server, "DSMSIM_NODE=BENCH", "DSMSIM_FSYNC=1"}, rssFile: filepath.Join(dir, "rss")}
	client := tsm.NewClient(tsm.Config{Binary: bins.Dsmc}, runner)
	ctx := context.Background()
	var tsmTime, ddTime time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := timed(b, "backup", func() error { _, err := client.BackupImage(ctx, link); return err })
		t += timed(b, "restore", func() error { _, err := client.RestoreImage(ctx, link, dst); return err })
		copyFile := filepath.Join(server, "dd-copy.img")
		d := timed(b, "dd read", func() error { return dd(src, copyFile) })
		d += timed(b, "dd write", func() error { return dd(copyFile, dst) })
		_ = os.Remove(copyFile)
		if _, err := client.Delete(ctx, tsm.ModeImage, link); err != nil {
			b.Fatal(err)
		}
		tsmTime, ddTime = tsmTime+t, ddTime+d
		ratios = append(ratios, t.Seconds()/d.Seconds())
	}
	b.StopTimer()
	b.ReportMetric(tsmTime.Seconds()/float64(b.N), "tsm-s/op")
	b.ReportMetric(ddTime.Seconds()/float64(b.N), "dd-s/op")
	// The median of the per-iteration ratios: each pairs the two sides a few seconds apart, so
	// the VM disk's drift over a run (dd alone took 2.8 to 9.3 s on one day) does not tip it.
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(float64(runner.maxRSS)/1024, "dsmc-peak-rss-MiB")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
