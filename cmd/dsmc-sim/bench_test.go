package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkImageBackupRestore1GiB backs up a 1 GiB loop device full of
// non-zero data and restores it onto a second one, and does the same copy with
// dd (device to file, file to device) for comparison. It reports throughput,
// the simulator/dd time ratio and the simulator's peak RSS.
//
//	go test -run '^$' -bench ImageBackupRestore -benchtime 3x ./cmd/dsmc-sim
//
// DSMSIM_BENCH_DIR puts the scratch files elsewhere (e.g. a tmpfs to take the
// disk out of the measurement).
func BenchmarkImageBackupRestore1GiB(b *testing.B) {
	requireRoot(b)
	const size = 1 << 30
	scratch := b.TempDir()
	if d := os.Getenv("DSMSIM_BENCH_DIR"); d != "" {
		var err error
		if scratch, err = os.MkdirTemp(d, "dsmc-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(scratch) })
	}
	block := pattern(1<<20, 42)
	src := newLoopIn(b, scratch, "src.img", size, func(f *os.File) {
		for off := int64(0); off < size; off += int64(len(block)) {
			writeAt(b, f, off, block)
		}
	})
	dst := newLoopIn(b, scratch, "dst.img", size, nil)
	s := newSim(b)
	s.root = filepath.Join(scratch, "server")
	ddFile := filepath.Join(scratch, "dd.out")

	var simTime, ddTime time.Duration
	var peak, maxrss int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		unix.Sync()
		b.StartTimer()
		t0 := time.Now()
		r := s.run("backup", "image", "-snapshotproviderimage=none", src)
		if r.rc != 0 {
			b.Fatalf("backup\n%s", r)
		}
		peak, maxrss = max(peak, r.peakRSSKiB), max(maxrss, r.maxRSSKiB)
		r = s.run("restore", "image", "-noprompt", src, dst)
		if r.rc != 0 {
			b.Fatalf("restore\n%s", r)
		}
		peak, maxrss = max(peak, r.peakRSSKiB), max(maxrss, r.maxRSSKiB)
		simTime += time.Since(t0)
		b.StopTimer()
		s.must(0, "delete", "backup", "-noprompt", "-objtype=image", "-deltype=all", src)
		unix.Sync()
		t1 := time.Now()
		for _, args := range [][]string{{"if=" + src, "of=" + ddFile}, {"if=" + ddFile, "of=" + dst}} {
			if out, err := exec.Command("dd", append(args, "bs=4M", "status=none")...).CombinedOutput(); err != nil {
				b.Fatalf("dd: %v %s", err, out)
			}
		}
		ddTime += time.Since(t1)
		_ = os.Remove(ddFile)
		b.StartTimer()
	}
	b.StopTimer()
	mb := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/simTime.Seconds(), "sim-MB/s")
	b.ReportMetric(mb/ddTime.Seconds(), "dd-MB/s")
	b.ReportMetric(simTime.Seconds()/ddTime.Seconds(), "sim/dd")
	b.ReportMetric(float64(peak), "peak-RSS-KiB")
	// ru_maxrss of the child also counts the benchmark process's own peak,
	// which the kernel folds in at exec after vfork; VmHWM above is exact.
	b.ReportMetric(float64(maxrss), "ru_maxrss-KiB")
}

// newLoopIn is newLoop with the backing file in a chosen directory.
func newLoopIn(b *testing.B, dir, name string, size int64, fill func(*os.File)) string {
	b.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	if fill != nil {
		fill(f)
	}
	_ = f.Close()
	out, err := exec.Command("losetup", "--find", "--show", p).CombinedOutput()
	if err != nil {
		b.Fatalf("losetup: %v %s", err, out)
	}
	dev := string(out[:len(out)-1])
	b.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	return dev
}
