package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestCutFallbacks runs the two other answers to a state directory that cannot reflink (the
// test's ext4): "live" backs up the live device, which cannot be deleted until the upload is
// done, and "fail" refuses the snapshot.
func TestCutFallbacks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	t.Run("live", func(t *testing.T) {
		a := startNode(t, srv, "node-live", "NODE-A", nodeOptions{args: []string{"--cut-fallback=live"}})
		vol, data := blockVolume(t, a, "vol-live", 16<<20)
		a.slowUpload(t, srv, "slow,cmd=backup,rate=2M,count=1", "snap-live", vol.VolumeId)
		// Unused by pods, the volume would be deletable but for the upload reading it.
		a.unpublish(vol.VolumeId, filepath.Join(a.dir, "target", vol.VolumeId))
		a.unstage(vol.VolumeId, filepath.Join(a.dir, "staging", vol.VolumeId))
		_, err := a.d.Controller().DeleteVolume(ctxT(t), &csi.DeleteVolumeRequest{VolumeId: vol.VolumeId})
		if codeOf(err) != codes.FailedPrecondition {
			t.Fatalf("DeleteVolume during a live upload: %v, want FailedPrecondition", err)
		}
		snap := a.snapshotReady("snap-live", vol.VolumeId, nil)
		restoreAndCompare(t, a, "restored-live", snap.SnapshotId, 16<<20, data)
	})
	t.Run("fail", func(t *testing.T) {
		a := startNode(t, srv, "node-fail", "NODE-A", nodeOptions{args: []string{"--cut-fallback=fail"}})
		vol, _ := blockVolume(t, a, "vol-fail", 16<<20)
		_, err := a.createSnapshot("snap-fail", vol.VolumeId, nil)
		if codeOf(err) != codes.FailedPrecondition {
			t.Fatalf("CreateSnapshot without reflink and --cut-fallback=fail: %v, want FailedPrecondition", err)
		}
		assertClean(t, a, "tsm1:i::/dev/none")
	})
}
