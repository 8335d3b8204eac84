package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

// TestSnapshotAndRestore writes known data, snapshots it into TSM, overwrites the source and
// restores the snapshot into new volumes on the node that took it (state directory on xfs:
// reflink cuts) and on another node that never saw it (state directory on ext4: copied cuts),
// then compares byte for byte (block) and file checksums (ext4, xfs).
func TestSnapshotAndRestore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A", "NODE-B")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{stateOnXFS: true})
	b := startNode(t, srv, "node-b", "NODE-B", nodeOptions{})

	for _, tc := range []struct {
		name  string
		block bool
		fs    string
		size  int64
		mode  string
	}{
		{"block", true, "", 256 << 20, "image"},
		{"ext4", false, "ext4", 256 << 20, "image"},
		{"xfs", false, "xfs", 320 << 20, "image"},
		{"block-file-mode", true, "", 128 << 20, "file"},
		{"ext4-file-mode", false, "ext4", 256 << 20, "file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := a.in(t), b.in(t)
			c := capability(tc.block, tc.fs)
			src := a.createVolume("src-"+tc.name, tc.size, c, nil)
			target := a.publish(src.VolumeId, c)

			offsets := []int64{0, 100 << 20, tc.size - 64<<10}
			var sums map[string]string
			if tc.block {
				for _, off := range offsets {
					writeAt(t, target, pattern(tc.name+"v1", 64<<10), off)
				}
			} else {
				writeTree(t, target, "v1")
				sums = treeSums(t, target)
			}

			params := map[string]string{"mode": tc.mode}
			first, err := a.createSnapshot("snap-"+tc.name, src.VolumeId, params)
			if err != nil {
				t.Fatalf("CreateSnapshot: %v", err)
			}
			a.deleteSnapshotAtEnd(first.SnapshotId)
			snap := a.snapshotReady("snap-"+tc.name, src.VolumeId, params)
			if snap.SnapshotId != first.SnapshotId || !snap.CreationTime.AsTime().Equal(first.CreationTime.AsTime()) {
				t.Fatalf("retried CreateSnapshot changed id or time: %v / %v", first, snap)
			}
			if snap.SizeBytes != src.CapacityBytes || snap.SourceVolumeId != src.VolumeId {
				t.Fatalf("snapshot %v does not describe volume %v", snap, src)
			}

			// The source moves on; the snapshot must not.
			if tc.block {
				for _, off := range offsets {
					writeAt(t, target, pattern(tc.name+"v2", 64<<10), off)
				}
			} else {
				writeTree(t, target, "v2")
				if err := os.Remove(filepath.Join(target, "da", "f0")); err != nil {
					t.Fatal(err)
				}
			}

			source := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}}
			var sameSize int64
			for _, r := range []struct {
				n    *node
				name string
				size int64
			}{{a, "restore-a-" + tc.name, tc.size}, {b, "restore-b-" + tc.name, tc.size + 64<<20}} {
				vol := r.n.createVolume(r.name, r.size, c, source)
				if vol.GetContentSource().GetSnapshot().GetSnapshotId() != snap.SnapshotId {
					t.Fatalf("%s: content source %v", r.name, vol.ContentSource)
				}
				if vol.CapacityBytes != r.size {
					t.Fatalf("%s: capacity %d, want %d", r.name, vol.CapacityBytes, r.size)
				}
				got := r.n.publish(vol.VolumeId, c)
				if tc.block {
					for _, off := range offsets {
						if !bytes.Equal(readAt(t, got, 64<<10, off), pattern(tc.name+"v1", 64<<10)) {
							t.Fatalf("%s: data at offset %d differs from the snapshot", r.name, off)
						}
					}
					continue
				}
				if restored := treeSums(t, got); !sameSums(sums, restored) {
					t.Fatalf("%s: files differ from the snapshot:\nwant %v\ngot  %v", r.name, sums, restored)
				}
				st, err := mount.StatFS(got)
				if err != nil {
					t.Fatal(err)
				}
				// The second restore is 64 MiB larger: its file system must have grown by about that.
				if r.size == tc.size {
					sameSize = st.TotalBytes
				} else if st.TotalBytes < sameSize+(48<<20) {
					t.Fatalf("%s: file system not grown to the larger volume: %d bytes, %d at the snapshot's size", r.name, st.TotalBytes, sameSize)
				}
			}

			// Node B never saw the snapshot; it finds it in TSM from the id alone.
			resp, err := b.d.Controller().ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{SnapshotId: snap.SnapshotId})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Entries) != 1 || !resp.Entries[0].Snapshot.ReadyToUse || resp.Entries[0].Snapshot.SourceVolumeId != src.VolumeId || resp.Entries[0].Snapshot.SizeBytes != snap.SizeBytes {
				t.Fatalf("ListSnapshots on node B: %v", resp.Entries)
			}
			// Image backups are found in TSM by a listing of everything too (file-mode ones only
			// under the node's own state directory, which node B does not share).
			if tc.mode == "image" {
				resp, err = b.d.Controller().ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{SourceVolumeId: src.VolumeId})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Entries) != 1 || resp.Entries[0].Snapshot.SnapshotId != snap.SnapshotId {
					t.Fatalf("ListSnapshots by source volume on node B: %v", resp.Entries)
				}
			}
		})
	}
}
