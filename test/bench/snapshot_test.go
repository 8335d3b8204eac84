package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

// BenchmarkCreateSnapshotCut measures CreateSnapshot from the call to its answer
// (ready_to_use=false: the point-in-time cut is made, the upload has only started) for a
// 64 MiB and a 4 GiB block volume, on a driver whose state directory is xfs (reflink cuts).
// Both volumes hold data every 64 MiB, so the larger one has more extents to clone. Each
// measured call waits for the previous upload to finish first, so uploads do not overlap the
// measurement. Metric: ratio (4 GiB / 64 MiB; goal <= 2).
func BenchmarkCreateSnapshotCut(b *testing.B) {
	dir, bins, mnt := xfsBench(b, "tcb")
	d, err := harness.Start(context.Background(), harness.DriverConfig{
		Bin: bins, Dir: dir, StateDir: filepath.Join(mnt, "state"), NodeID: "bench",
		TSMNode: "BENCH", ServerDir: filepath.Join(dir, "server"), Prefix: randomName("bench"),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop() })
	ctx := context.Background()
	ctl := d.Controller()
	block := &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
	}
	volume := func(name string, size int64) string {
		resp, err := ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name,
			CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapabilities: []*csi.VolumeCapability{block}})
		if err != nil {
			b.Fatal(err)
		}
		id := resp.Volume.VolumeId
		b.Cleanup(func() { _, _ = ctl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}) })
		f, err := os.OpenFile(filepath.Join(mnt, "state", "volumes", id+".img"), os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for off := int64(0); off < size; off += 64 << 20 {
			chunk[0]++
			if _, err := f.WriteAt(chunk, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
		return id
	}
	small, large := volume("bench-small", 64<<20), volume("bench-large", 4<<30)

	cut := func(vol string, i int) time.Duration {
		name := vol + "-" + randomName("s")
		start := time.Now()
		resp, err := ctl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: vol})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		poll := time.NewTicker(100 * time.Millisecond)
		defer poll.Stop()
		for !resp.Snapshot.ReadyToUse {
			<-poll.C
			if resp, err = ctl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: vol}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := ctl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: resp.Snapshot.SnapshotId}); err != nil {
			b.Fatal(err)
		}
		return took
	}
	var tSmall, tLarge time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tSmall += cut(small, i)
		tLarge += cut(large, i)
	}
	b.StopTimer()
	b.ReportMetric(float64(tSmall.Microseconds())/float64(b.N)/1000, "64MiB-ms")
	b.ReportMetric(float64(tLarge.Microseconds())/float64(b.N)/1000, "4GiB-ms")
	b.ReportMetric(float64(tLarge)/float64(tSmall), "ratio")
}

// xfsBench is the set-up of a benchmark with drivers: root, fresh binaries, and a 16 GiB scratch
// xfs (reflink cuts) mounted below a temporary directory; all undone when b ends.
func xfsBench(b *testing.B, name string) (dir string, bins harness.Binaries, mnt string) {
	needRoot(b)
	dir, err := os.MkdirTemp("", name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if bins, err = harness.Build(filepath.Join(dir, "bin")); err != nil {
		b.Fatal(err)
	}
	mnt, undo, err := harness.ScratchFS(dir, "xfs", 16<<30)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = undo() })
	return dir, bins, mnt
}
