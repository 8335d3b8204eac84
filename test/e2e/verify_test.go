package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestRestoreRefusesDamagedBackup takes a snapshot, restores it verified on another node, then
// damages one byte of the backup on the simulated server (which still reports a good backup)
// and shows that the restore is refused with DATA_LOSS naming the chunk, and that no volume is
// left behind.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A", "NODE-B")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	b := startNode(t, srv, "node-b", "NODE-B", nodeOptions{})
	const size = 64 << 20
	c := capability(true, "")
	src := a.createVolume("src-damage", size, c, nil)
	dev := a.publish(src.VolumeId, c)
	chunk1 := int64(5 << 20) // inside the second 4 MiB chunk of the digest
	for _, off := range []int64{0, chunk1, size - 4096} {
		writeAt(t, dev, pattern(fmt.Sprint("damage", off), 4096), off)
	}
	snap := a.snapshotReady("snap-damage", src.VolumeId, map[string]string{"mode": "image"})
	a.deleteSnapshotAtEnd(snap.SnapshotId)
	source := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}}

	good := b.createVolume("restore-intact", size, c, source)
	got := b.publish(good.VolumeId, c)
	if !bytes.Equal(readAt(t, got, 4096, chunk1), pattern(fmt.Sprint("damage", chunk1), 4096)) {
		t.Fatal("the intact restore does not hold the snapshot's data")
	}
	if !strings.Contains(b.d.Tail(400), "Restored data verified against the snapshot's digest") {
		t.Fatal("node-b did not log the verification of the intact restore")
	}

	object := snap.SnapshotId[strings.LastIndex(snap.SnapshotId, ":")+1:]
	if err := bins.Admin(srv.dir, "damage", "object", object, fmt.Sprint("offset=", chunk1+100), "node="+asNode, "type=image"); err != nil {
		t.Fatal(err)
	}
	_, err := b.d.Controller().CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
		Name: "restore-damaged", CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{c}, VolumeContentSource: source,
	})
	if codeOf(err) != codes.DataLoss || !strings.Contains(err.Error(), "first chunk 1 (bytes 4194304-8388607)") {
		t.Fatalf("restore of the damaged backup answered %v, want DATA_LOSS naming chunk 1", err)
	}
	vols, lerr := b.d.Controller().ListVolumes(ctxT(t), &csi.ListVolumesRequest{})
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, e := range vols.Entries {
		if e.Volume.VolumeId != good.VolumeId {
			t.Errorf("volume %s left after the refused restore", e.Volume.VolumeId)
		}
	}
}
