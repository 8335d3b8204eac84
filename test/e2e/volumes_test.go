package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestVolumesSurviveNodeRestart stops the driver, detaches the loop devices as a reboot would,
// and starts it again: the volumes are attached again from their records with their data.
func TestVolumesSurviveNodeRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	c := capability(true, "")
	vol := a.createVolume("survivor", 16<<20, c, nil)
	data := pattern("survivor", 1<<20)
	target := a.publish(vol.VolumeId, c)
	writeAt(t, target, data, 0)
	a.unpublish(vol.VolumeId, target)
	a.unstage(vol.VolumeId, filepath.Join(a.dir, "staging", vol.VolumeId))

	if err := a.d.Stop(); err != nil {
		t.Fatal(err)
	}
	backing := filepath.Join(a.d.StateDir, "volumes", vol.VolumeId+".img")
	out, err := exec.Command("losetup", "--associated", backing, "--noheadings", "--output", "NAME").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("volume not attached before the restart: %v %q", err, out)
	}
	if out, err := exec.Command("losetup", "-d", strings.TrimSpace(string(out))).CombinedOutput(); err != nil {
		t.Fatalf("detach: %v %s", err, out)
	}
	if err := a.d.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("losetup", "--associated", backing, "--noheadings").Output(); len(bytes.TrimSpace(out)) == 0 {
		t.Fatal("the restarted driver did not attach the volume again")
	}
	if got := readAt(t, a.publish(vol.VolumeId, c), len(data), 0); !bytes.Equal(got, data) {
		t.Fatal("the volume lost its data across the restart")
	}
	fi, err := os.Stat(a.d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o660 != 0 {
		t.Fatalf("socket mode %v is wider than 0660", perm)
	}
}

// TestCloneVolume clones a mounted ext4 volume: the clone holds the files of the moment of
// the clone, not what the source gets afterwards.
func TestCloneVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	for _, xfsState := range []bool{true, false} {
		name := map[bool]string{true: "reflink", false: "copy"}[xfsState]
		t.Run(name, func(t *testing.T) {
			a := startNode(t, srv, "node-"+name, "NODE-A", nodeOptions{stateOnXFS: xfsState})
			c := capability(false, "ext4")
			src := a.createVolume("clone-src-"+name, 64<<20, c, nil)
			mnt := a.publish(src.VolumeId, c)
			writeTree(t, mnt, "before")
			want := treeSums(t, mnt)
			clone := a.createVolume("clone-"+name, 64<<20, c, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
				Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.VolumeId}}})
			if clone.GetContentSource().GetVolume().GetVolumeId() != src.VolumeId {
				t.Fatalf("content source %v", clone.ContentSource)
			}
			writeTree(t, mnt, "after")
			if got := treeSums(t, a.publish(clone.VolumeId, c)); !sameSums(want, got) {
				t.Fatalf("clone differs from the source at the time of the clone")
			}
		})
	}
}

// TestListSnapshotsBadToken: a starting token the driver did not issue is ABORTED, as the spec asks.
func TestListSnapshotsBadToken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	for _, token := range []string{"garbage!", "dHNtMTppOjovZXRjL3Bhc3N3ZA"} {
		_, err := a.d.Controller().ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{StartingToken: token})
		if codeOf(err) != codes.Aborted {
			t.Errorf("token %q: %v, want Aborted", token, err)
		}
	}
}

// TestCapacityLimits: GetCapacity reports the state directory's free space and the maximum
// volume size; a volume over the maximum is OUT_OF_RANGE, one over the free space
// RESOURCE_EXHAUSTED (the provisioner then tries another node), and neither leaves a file.
func TestCapacityLimits(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{args: []string{"--max-volume-size=1Ti"}})
	capResp, err := a.d.Controller().GetCapacity(ctxT(t), &csi.GetCapacityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	free := capResp.AvailableCapacity
	if free <= 0 || capResp.GetMaximumVolumeSize().GetValue() != min(int64(1)<<40, free) {
		t.Fatalf("GetCapacity = %v", capResp)
	}
	if free >= 1<<40 {
		t.Skipf("%d bytes free: a volume over the free space would also be over the 1 TiB maximum", free)
	}
	for _, tc := range []struct {
		size int64
		code codes.Code
	}{
		{2 << 40, codes.OutOfRange},
		{(free/4096 + 1) * 4096, codes.ResourceExhausted},
	} {
		_, err := a.d.Controller().CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
			Name: "too-big", CapacityRange: &csi.CapacityRange{RequiredBytes: tc.size},
			VolumeCapabilities: []*csi.VolumeCapability{capability(true, "")},
		})
		if codeOf(err) != tc.code {
			t.Errorf("CreateVolume of %d bytes: %v, want %v", tc.size, err, tc.code)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(a.d.StateDir, "volumes", "*")); len(left) != 0 {
		t.Fatalf("refused volumes left files: %v", left)
	}
}
