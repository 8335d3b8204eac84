package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

// BenchmarkDigestRoundTrip1GiB measures what digests cost: a 1 GiB block volume full of
// incompressible data, snapshot from the call to ready_to_use plus a restore from it into a new
// volume, on a driver that hashes each cut while dsmc uploads it and verifies each restore
// (the default), and on one started with --snapshot-digests=false --verify-restores=false, in
// the same run, alternating. Metrics: digest-s, plain-s (per round trip), ratio (goal <= 1.15).
func BenchmarkDigestRoundTrip1GiB(b *testing.B) {
	dir, bins, mnt := xfsBench(b, "tdb")
	const size = 1 << 30
	type side struct {
		name string
		d    *harness.Driver
		vol  string
		took time.Duration
	}
	start := func(name string, args ...string) *side {
		state := filepath.Join(mnt, name)
		d, err := harness.Start(context.Background(), harness.DriverConfig{
			Bin: bins, Dir: filepath.Join(dir, name), StateDir: state, NodeID: name,
			TSMNode: "BENCH", ServerDir: filepath.Join(dir, "server"), Prefix: randomName(name), Args: args,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = d.Stop() })
		s := &side{name: name, d: d}
		s.vol = filledVolume(b, d, state, name+"-src", size)
		return s
	}
	sides := []*side{start("digest"), start("plain", "--snapshot-digests=false", "--verify-restores=false")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range sides {
			s := sides[(i+j)%2] // alternate who goes first
			s.took += roundTrip(b, s.d, s.vol, size)
		}
	}
	b.StopTimer()
	b.ReportMetric(sides[0].took.Seconds()/float64(b.N), "digest-s")
	b.ReportMetric(sides[1].took.Seconds()/float64(b.N), "plain-s")
	b.ReportMetric(float64(sides[0].took)/float64(sides[1].took), "ratio")
}

var blockCap = &csi.VolumeCapability{
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
}

// filledVolume creates a block volume whose every byte is data that does not compress and
// no two chunks of which are equal.
func filledVolume(b *testing.B, d *harness.Driver, state, name string, size int64) string {
	ctl := d.Controller()
	resp, err := ctl.CreateVolume(context.Background(), &csi.CreateVolumeRequest{Name: name,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapabilities: []*csi.VolumeCapability{blockCap}})
	if err != nil {
		b.Fatal(err)
	}
	id := resp.Volume.VolumeId
	b.Cleanup(func() { _, _ = ctl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}) })
	f, err := os.OpenFile(filepath.Join(state, "volumes", id+".img"), os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 4<<20)
	_, _ = rand.Read(buf)
	for off := int64(0); off < size; off += int64(len(buf)) {
		binary.LittleEndian.PutUint64(buf, uint64(off))
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return id
}

// roundTrip takes a snapshot of vol until it is ready and restores it into a new volume,
// timing both; what it made is deleted afterwards, untimed.
func roundTrip(b *testing.B, d *harness.Driver, vol string, size int64) time.Duration {
	ctx := context.Background()
	ctl := d.Controller()
	name := randomName("rt")
	start := time.Now()
	req := &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: vol}
	resp, err := ctl.CreateSnapshot(ctx, req)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for err == nil && !resp.Snapshot.ReadyToUse {
		<-poll.C
		resp, err = ctl.CreateSnapshot(ctx, req)
	}
	if err != nil {
		b.Fatal(err)
	}
	src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: resp.Snapshot.SnapshotId}}}
	var restored *csi.CreateVolumeResponse
	for {
		restored, err = ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name + "-r",
			CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapabilities: []*csi.VolumeCapability{blockCap},
			VolumeContentSource: src})
		if status.Code(err) != codes.Aborted {
			break
		}
	}
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	defer b.StartTimer()
	if _, err := ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: restored.Volume.VolumeId}); err != nil {
		b.Fatal(err)
	}
	if _, err := ctl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: resp.Snapshot.SnapshotId}); err != nil {
		b.Fatal(err)
	}
	return took
}
