package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestRestoreAndCloneKeepTheSourceFS: a restore or clone of an xfs volume requested without a
// file system (the class names none) is an xfs volume, not one of the default ext4 that would
// fail to mount; asking for ext4 explicitly is refused.
func TestRestoreAndCloneKeepTheSourceFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-fs", "NODE-A", nodeOptions{stateOnXFS: true})
	xfs, anyFS, ext4 := capability(false, "xfs"), capability(false, ""), capability(false, "ext4")
	src := a.createVolume("fs-src", 320<<20, xfs, nil)
	writeTree(t, a.publish(src.VolumeId, xfs), "v1")
	snap, err := a.createSnapshot("fs-snap", src.VolumeId, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.deleteSnapshotAtEnd(snap.SnapshotId)
	snap = a.snapshotReady("fs-snap", src.VolumeId, nil)

	for _, source := range []*csi.VolumeContentSource{
		{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}},
		{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.VolumeId}}},
	} {
		kind := "restore"
		if source.GetVolume() != nil {
			kind = "clone"
		}
		_, err := a.d.Controller().CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
			Name: "fs-ext4-" + kind, CapacityRange: &csi.CapacityRange{RequiredBytes: 320 << 20},
			VolumeCapabilities: []*csi.VolumeCapability{ext4}, VolumeContentSource: source,
		})
		if codeOf(err) != codes.InvalidArgument {
			t.Errorf("%s of xfs as ext4: %v; want INVALID_ARGUMENT", kind, err)
		}

		vol := a.createVolume("fs-"+kind, 320<<20, anyFS, source)
		for _, tc := range []struct {
			c    *csi.VolumeCapability
			want bool
		}{{xfs, true}, {ext4, false}} {
			resp, err := a.d.Controller().ValidateVolumeCapabilities(ctxT(t), &csi.ValidateVolumeCapabilitiesRequest{
				VolumeId: vol.VolumeId, VolumeCapabilities: []*csi.VolumeCapability{tc.c}})
			if err != nil {
				t.Fatal(err)
			}
			if (resp.GetConfirmed() != nil) != tc.want {
				t.Errorf("%s: %s confirmed = %v (%q), want %v", kind, tc.c.GetMount().GetFsType(), resp.GetConfirmed() != nil, resp.GetMessage(), tc.want)
			}
		}
		target := a.publish(vol.VolumeId, anyFS)
		out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE", "--target", target).Output()
		if err != nil || strings.TrimSpace(string(out)) != "xfs" {
			t.Errorf("%s mounted as %q (%v), want xfs", kind, out, err)
		}
	}
}
