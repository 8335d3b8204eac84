package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// The node service acts only on what it made itself (docs/node-trust.md). Each test here is a
// request that used to succeed and act on something that was not the named volume's.

const unknownVolume = "vol-00000000000000000000"

// mountedAt reports whether p is a mount point in this (the driver's) mount namespace.
func mountedAt(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && unescapeOctal(f[4]) == p {
			return true
		}
	}
	return false
}

func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// undoMounts unmounts whatever is still mounted at p when the test ends: the old code mounted
// where these tests ask it not to, and a failing test must still leave nothing behind.
func undoMounts(t *testing.T, p string) {
	t.Cleanup(func() {
		for range 16 {
			if !mountedAt(t, p) {
				return
			}
			if out, err := exec.Command("umount", p).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", p, err, out)
				return
			}
		}
	})
}

// tmpfsAt mounts a tmpfs on a new directory p with a file in it; unmounted at the end.
func tmpfsAt(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", p).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	undoMounts(t, p)
	if err := os.WriteFile(filepath.Join(p, "precious"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if codeOf(err) != want {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// stage stages a volume at staging and unstages it at the end.
func (n *node) stage(volID, staging string, c *csi.VolumeCapability) {
	n.t.Helper()
	if _, err := n.d.Node().NodeStageVolume(ctxT(n.t), &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: staging, VolumeCapability: c}); err != nil {
		n.t.Fatalf("NodeStageVolume %s: %v", volID, err)
	}
	n.t.Cleanup(func() { n.unstage(volID, staging) })
}

// stageAttempt is a NodeStageVolume that is expected to fail; should it succeed (as on the old
// code) its effects are undone at the end.
func (n *node) stageAttempt(volID, staging string, c *csi.VolumeCapability) error {
	undoMounts(n.t, staging)
	_, err := n.d.Node().NodeStageVolume(ctxT(n.t), &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: staging, VolumeCapability: c})
	if err == nil {
		n.t.Cleanup(func() { n.unstage(volID, staging) })
	}
	return err
}

func (n *node) publishAttempt(req *csi.NodePublishVolumeRequest) error {
	undoMounts(n.t, req.TargetPath)
	_, err := n.d.Node().NodePublishVolume(ctxT(n.t), req)
	if err == nil {
		n.t.Cleanup(func() { n.unpublish(req.VolumeId, req.TargetPath) })
	}
	return err
}

// TestPublishWithAnotherVolumesStagingPath: publishing A with B's staging path would show B's
// files to A's pod.
func TestPublishWithAnotherVolumesStagingPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	volA := a.createVolume("trust-a", 32<<20, c, nil)
	volB := a.createVolume("trust-b", 32<<20, c, nil)
	stagingA := filepath.Join(a.dir, "staging", "a")
	stagingB := filepath.Join(a.dir, "staging", "b")
	a.stage(volA.VolumeId, stagingA, c)
	a.stage(volB.VolumeId, stagingB, c)
	if err := os.WriteFile(filepath.Join(stagingB, "secret-of-b"), []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(a.dir, "target", "a")
	err := a.publishAttempt(&csi.NodePublishVolumeRequest{VolumeId: volA.VolumeId, StagingTargetPath: stagingB, TargetPath: target, VolumeCapability: c})
	wantCode(t, "NodePublishVolume of A with B's staging path", err, codes.FailedPrecondition)
	if mountedAt(t, target) {
		t.Fatal("the target was mounted")
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("the refused publish left its target behind: %v", err)
	}
	// The right staging path works.
	a.unpublishAtEnd(volA.VolumeId, target)
	if _, err := a.d.Node().NodePublishVolume(ctxT(t), &csi.NodePublishVolumeRequest{VolumeId: volA.VolumeId, StagingTargetPath: stagingA, TargetPath: target, VolumeCapability: c}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "secret-of-b")); !os.IsNotExist(err) {
		t.Fatalf("A's target shows B's files: %v", err)
	}
}

func (n *node) unpublishAtEnd(volID, target string) {
	n.t.Cleanup(func() { n.unpublish(volID, target) })
}

// TestUnpublishTouchesOnlyItsOwn: NodeUnpublishVolume of an unknown volume, of a path never
// published, or of another volume's target answers OK and removes and unmounts nothing.
func TestUnpublishTouchesOnlyItsOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	volA := a.createVolume("unpub-a", 32<<20, c, nil)
	volB := a.createVolume("unpub-b", 32<<20, c, nil)
	targetB := a.publish(volB.VolumeId, c)
	if err := os.WriteFile(filepath.Join(targetB, "data-of-b"), []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(a.dir, "somebodys-file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(a.dir, "foreign-tmpfs")
	tmpfsAt(t, foreign)

	for _, tc := range []struct {
		name, id, path string
	}{
		{"unknown volume, regular file", unknownVolume, file},
		{"unknown volume, foreign mount", unknownVolume, foreign},
		{"known volume, regular file", volA.VolumeId, file},
		{"known volume, foreign mount", volA.VolumeId, foreign},
		{"another volume's target", volA.VolumeId, targetB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.d.Node().NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: tc.id, TargetPath: tc.path}); err != nil {
				t.Fatalf("NodeUnpublishVolume: %v, want OK", err)
			}
		})
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Errorf("the regular file was touched: %q, %v", b, err)
	}
	if !mountedAt(t, foreign) {
		t.Error("the foreign tmpfs was unmounted")
	} else if _, err := os.Stat(filepath.Join(foreign, "precious")); err != nil {
		t.Errorf("the foreign tmpfs lost its file: %v", err)
	}
	if !mountedAt(t, targetB) {
		t.Error("B's target was unmounted by an unpublish of A")
	} else if _, err := os.Stat(filepath.Join(targetB, "data-of-b")); err != nil {
		t.Errorf("B's target lost its file: %v", err)
	}
}

// TestUnpublishIdempotent: a target the driver published and that is no longer mounted (a
// retried call, or someone unmounted it) is removed and the call succeeds, twice.
func TestUnpublishIdempotent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	for _, block := range []bool{false, true} {
		c := capability(block, "ext4")
		name := map[bool]string{false: "idem-mount", true: "idem-block"}[block]
		t.Run(name, func(t *testing.T) {
			a := a.in(t)
			vol := a.createVolume(name, 32<<20, c, nil)
			target := a.publish(vol.VolumeId, c)
			if out, err := exec.Command("umount", target).CombinedOutput(); err != nil {
				t.Fatalf("umount: %v %s", err, out)
			}
			for i := range 2 {
				if _, err := a.d.Node().NodeUnpublishVolume(ctxT(t), &csi.NodeUnpublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: target}); err != nil {
					t.Fatalf("NodeUnpublishVolume #%d: %v", i+1, err)
				}
			}
			if _, err := os.Lstat(target); !os.IsNotExist(err) {
				t.Fatalf("the target the driver made is still there: %v", err)
			}
		})
	}
}

// TestUnstageWithAnotherVolumeID: NodeUnstageVolume of B at A's staging path leaves A mounted.
func TestUnstageWithAnotherVolumeID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	volA := a.createVolume("unstage-a", 32<<20, c, nil)
	volB := a.createVolume("unstage-b", 32<<20, c, nil)
	stagingA := filepath.Join(a.dir, "staging", "a")
	a.stage(volA.VolumeId, stagingA, c)
	a.stage(volB.VolumeId, filepath.Join(a.dir, "staging", "b"), c)
	for _, id := range []string{volB.VolumeId, unknownVolume} {
		if _, err := a.d.Node().NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: stagingA}); err != nil {
			t.Fatalf("NodeUnstageVolume of %s at A's staging path: %v, want OK", id, err)
		}
		if !mountedAt(t, stagingA) {
			t.Fatalf("NodeUnstageVolume of %s unmounted A", id)
		}
	}
	// A foreign mount at a path never staged is not touched either.
	foreign := filepath.Join(a.dir, "foreign-tmpfs")
	tmpfsAt(t, foreign)
	if _, err := a.d.Node().NodeUnstageVolume(ctxT(t), &csi.NodeUnstageVolumeRequest{VolumeId: volA.VolumeId, StagingTargetPath: foreign}); err != nil {
		t.Fatalf("NodeUnstageVolume at a foreign mount: %v, want OK", err)
	}
	if !mountedAt(t, foreign) {
		t.Fatal("the foreign tmpfs was unmounted")
	}
}

// TestPublishOnForeignMount: a target that is already a mount point of something else is
// refused and left as it is.
func TestPublishOnForeignMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	vol := a.createVolume("foreign-target", 32<<20, c, nil)
	staging := filepath.Join(a.dir, "staging", "v")
	a.stage(vol.VolumeId, staging, c)
	target := filepath.Join(a.dir, "foreign-tmpfs")
	tmpfsAt(t, target)
	err := a.publishAttempt(&csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging, TargetPath: target, VolumeCapability: c})
	wantCode(t, "NodePublishVolume on a foreign mount", err, codes.FailedPrecondition)
	if _, err := os.Stat(filepath.Join(target, "precious")); err != nil {
		t.Fatalf("the foreign mount is gone or hidden: %v", err)
	}
}

// TestNodePathsRefused: symlinks anywhere in a staging or target path, relative or unclean
// paths, and paths inside the state or link directory are INVALID_ARGUMENT, and nothing is
// mounted or made at them or where they point.
func TestNodePathsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	vol := a.createVolume("paths", 32<<20, c, nil)

	elsewhere := filepath.Join(a.dir, "elsewhere")
	if err := os.MkdirAll(elsewhere, 0o750); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(a.dir, "link")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path string }{
		{"symlink", link},
		{"through a symlink", filepath.Join(link, "staging")},
		{"relative", "staging/rel"},
		{"unclean", filepath.Join(a.dir, "staging") + "/../staging/x"},
		{"inside the state directory", filepath.Join(a.d.StateDir, "records")},
		{"inside the link directory", filepath.Join("/dev", prefix+"-staging")},
	} {
		t.Run("stage "+tc.name, func(t *testing.T) {
			a := a.in(t)
			if strings.HasPrefix(tc.path, "/dev/") {
				t.Cleanup(func() { _ = os.Remove(tc.path) })
			}
			err := a.stageAttempt(vol.VolumeId, tc.path, c)
			wantCode(t, "NodeStageVolume", err, codes.InvalidArgument)
			if filepath.IsAbs(tc.path) && mountedAt(t, tc.path) {
				t.Fatal("mounted at the refused path")
			}
			if mountedAt(t, elsewhere) || mountedAt(t, filepath.Join(elsewhere, "staging")) {
				t.Fatal("mounted where the symlink points")
			}
			if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
				t.Fatalf("made %v where the symlink points", entries)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join("/dev", prefix+"-staging")); !os.IsNotExist(err) {
		t.Errorf("a directory was made in the link directory: %v", err)
	}

	staging := filepath.Join(a.dir, "staging", "ok")
	a.stage(vol.VolumeId, staging, c)
	for _, tc := range []struct{ name, path string }{
		{"symlink", link},
		{"through a symlink", filepath.Join(link, "target")},
		{"inside the state directory", filepath.Join(a.d.StateDir, "volumes", "target")},
		{"inside a volume's file system", filepath.Join(staging, "target")},
	} {
		t.Run("publish "+tc.name, func(t *testing.T) {
			a := a.in(t)
			err := a.publishAttempt(&csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging, TargetPath: tc.path, VolumeCapability: c})
			wantCode(t, "NodePublishVolume", err, codes.InvalidArgument)
			if mountedAt(t, elsewhere) || mountedAt(t, filepath.Join(elsewhere, "target")) {
				t.Fatal("mounted where the symlink points")
			}
			if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
				t.Fatalf("made %v where the symlink points", entries)
			}
		})
	}
	// A staging path given through a symlink to the real one is refused as well.
	stagingLink := filepath.Join(a.dir, "staging-link")
	if err := os.Symlink(staging, stagingLink); err != nil {
		t.Fatal(err)
	}
	err := a.publishAttempt(&csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: stagingLink, TargetPath: filepath.Join(a.dir, "target", "via-link"), VolumeCapability: c})
	wantCode(t, "NodePublishVolume with a symlinked staging path", err, codes.InvalidArgument)
}

// TestVolumeStatsOnlyOfItsPaths: NodeGetVolumeStats and NodeExpandVolume of a known volume
// answer only for the paths it is staged or published at; any other path is NOT_FOUND rather
// than the statistics (or the growth) of whatever file system holds that path.
func TestVolumeStatsOnlyOfItsPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	vol := a.createVolume("stats", 32<<20, c, nil)
	other := a.createVolume("stats-other", 32<<20, c, nil)
	target := a.publish(vol.VolumeId, c)
	otherTarget := a.publish(other.VolumeId, c)
	foreign := filepath.Join(a.dir, "foreign-tmpfs")
	tmpfsAt(t, foreign)
	for _, p := range []string{"/", foreign, a.dir, otherTarget} {
		_, err := a.d.Node().NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.VolumeId, VolumePath: p})
		wantCode(t, "NodeGetVolumeStats at "+p, err, codes.NotFound)
		// Growing acts on the file system at the path (xfs_growfs): only the volume's own will do.
		_, err = a.d.Node().NodeExpandVolume(ctxT(t), &csi.NodeExpandVolumeRequest{VolumeId: vol.VolumeId, VolumePath: p})
		wantCode(t, "NodeExpandVolume at "+p, err, codes.NotFound)
	}
	if _, err := a.d.Node().NodeExpandVolume(ctxT(t), &csi.NodeExpandVolumeRequest{VolumeId: vol.VolumeId, VolumePath: target}); err != nil {
		t.Fatalf("NodeExpandVolume at the volume's target: %v", err)
	}
	resp, err := a.d.Node().NodeGetVolumeStats(ctxT(t), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.VolumeId, VolumePath: target})
	if err != nil {
		t.Fatal(err)
	}
	if total := resp.Usage[0].Total; total <= 0 || total > 32<<20 {
		t.Fatalf("total %d bytes is not the volume's", total)
	}
}

// TestMountFlagsRefused: mount flags that are not plain options are INVALID_ARGUMENT before
// anything is made or mounted.
func TestMountFlagsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	c := capability(false, "ext4")
	vol := a.createVolume("flags", 32<<20, c, nil)
	withFlags := func(flags ...string) *csi.VolumeCapability {
		f := capability(false, "ext4")
		f.GetMount().MountFlags = flags
		return f
	}
	for i, flags := range [][]string{{"bind"}, {"rbind"}, {"remount"}, {"move"}, {"make-shared"}, {"noatime,remount"}, {"noatime;bind"}, {"noatime bind"}, {"noatime\nro"}} {
		staging := filepath.Join(a.dir, "staging", "flags"+strconv.Itoa(i))
		err := a.stageAttempt(vol.VolumeId, staging, withFlags(flags...))
		wantCode(t, "NodeStageVolume with "+strconv.Quote(strings.Join(flags, "|")), err, codes.InvalidArgument)
		if _, err := os.Lstat(staging); !os.IsNotExist(err) {
			t.Fatalf("flags %q: the refused stage made its staging path: %v", flags, err)
		}
	}
	staging := filepath.Join(a.dir, "staging", "good")
	a.stage(vol.VolumeId, staging, c)
	target := filepath.Join(a.dir, "target", "flags")
	err := a.publishAttempt(&csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging, TargetPath: target, VolumeCapability: withFlags("bind")})
	wantCode(t, "NodePublishVolume with bind", err, codes.InvalidArgument)
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("the refused publish made its target: %v", err)
	}
}

// TestStageKeepsWhatTheVolumeIs: a block volume holding raw data staged or published with a
// mount capability (or an ext4 volume with xfs) is refused: the old code formatted it.
func TestStageKeepsWhatTheVolumeIs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	a := startNode(t, newServer(t, "NODE-A"), "node-a", "NODE-A", nodeOptions{})
	blockCap := capability(true, "")
	vol := a.createVolume("raw", 32<<20, blockCap, nil)
	data := pattern("raw data", 1<<20)
	target := a.publish(vol.VolumeId, blockCap)
	writeAt(t, target, data, 0)
	a.unpublish(vol.VolumeId, target)
	a.unstage(vol.VolumeId, filepath.Join(a.dir, "staging", vol.VolumeId))

	staging := filepath.Join(a.dir, "staging", "as-ext4")
	err := a.stageAttempt(vol.VolumeId, staging, capability(false, "ext4"))
	wantCode(t, "NodeStageVolume of a block volume as ext4", err, codes.FailedPrecondition)
	if mountedAt(t, staging) {
		t.Fatal("the block volume was mounted")
	}

	if got := readAt(t, a.publish(vol.VolumeId, blockCap), len(data), 0); !bytes.Equal(got, data) {
		t.Fatal("the block volume lost its data")
	}

	ext4 := capability(false, "ext4")
	fsVol := a.createVolume("fs", 32<<20, ext4, nil)
	err = a.stageAttempt(fsVol.VolumeId, filepath.Join(a.dir, "staging", "as-xfs"), capability(false, "xfs"))
	wantCode(t, "NodeStageVolume of an ext4 volume as xfs", err, codes.FailedPrecondition)
	fsStaging := filepath.Join(a.dir, "staging", "fs")
	a.stage(fsVol.VolumeId, fsStaging, ext4)
	err = a.publishAttempt(&csi.NodePublishVolumeRequest{VolumeId: fsVol.VolumeId, StagingTargetPath: fsStaging, TargetPath: filepath.Join(a.dir, "target", "fs-as-block"), VolumeCapability: blockCap})
	wantCode(t, "NodePublishVolume of an ext4 volume as block", err, codes.FailedPrecondition)
}
