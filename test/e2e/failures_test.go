package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// processesWith lists the pids whose command line contains s.
func processesWith(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// objectOf is the TSM object a snapshot id names.
func objectOf(snapshotID string) string { return snapshotID[strings.LastIndex(snapshotID, ":")+1:] }

// slowUpload injects fault (a slow backup), starts snapshot name of volume volID, registers its
// deletion at the end of the test and returns once dsmc is uploading it.
func (n *node) slowUpload(t *testing.T, srv *server, fault, name, volID string) (*csi.Snapshot, string) {
	t.Helper()
	srv.fault(t, fault)
	snap, err := n.createSnapshot(name, volID, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.deleteSnapshotAtEnd(snap.SnapshotId)
	object := objectOf(snap.SnapshotId)
	eventually(t, "dsmc uploads", time.Minute, func() (bool, error) { return len(processesWith(object)) > 0, nil })
	return snap, object
}

// killAndRestart kills the driver with SIGKILL while dsmc works on object, checks that dsmc
// dies with it, lifts the injected faults and starts the driver again.
func (n *node) killAndRestart(t *testing.T, srv *server, object string) {
	t.Helper()
	if err := n.d.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dsmc dies with the driver", 30*time.Second, func() (bool, error) { return len(processesWith(object)) == 0, nil })
	srv.clearFaults(t)
	if err := n.d.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (s *server) fault(t *testing.T, spec string) {
	t.Helper()
	if err := bins.Admin(s.dir, "fault", "add", spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bins.Admin(s.dir, "fault", "clear") })
}

func (s *server) clearFaults(t *testing.T) {
	t.Helper()
	if err := bins.Admin(s.dir, "fault", "clear"); err != nil {
		t.Fatal(err)
	}
}

// blockVolume makes a block volume full of known data and returns it and the data.
func blockVolume(t *testing.T, n *node, name string, size int64) (*csi.Volume, []byte) {
	t.Helper()
	c := capability(true, "")
	vol := n.createVolume(name, size, c, nil)
	target := n.publish(vol.VolumeId, c)
	data := pattern(name, int(size))
	writeAt(t, target, data, 0)
	return vol, data
}

// assertClean checks that nothing of a snapshot's upload is left on the node.
func assertClean(t *testing.T, n *node, snapshotID string) {
	t.Helper()
	// Ready is recorded (and may be answered) before the upload job releases the cut, so that
	// a crash in between never leaves a ready snapshot without its data; the job ends soon after.
	eventually(t, "the uploaded cut is released", 30*time.Second, func() (bool, error) {
		cuts, err := os.ReadDir(filepath.Join(n.d.StateDir, "cuts"))
		return err == nil && len(cuts) == 0, err
	})
	object := objectOf(snapshotID)
	if _, err := os.Lstat(object); !os.IsNotExist(err) {
		t.Errorf("link %s left behind (%v)", object, err)
	}
}

func restoreAndCompare(t *testing.T, n *node, name, snapshotID string, size int64, want []byte) {
	t.Helper()
	c := capability(true, "")
	vol := n.createVolume(name, size, c, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapshotID}}})
	got := readAt(t, n.publish(vol.VolumeId, c), len(want), 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("restored data of %s differs from the snapshot", name)
	}
}

// TestUploadFailures injects each dsmc failure into an upload: the next CreateSnapshot reports
// it with the code the CSI spec and the sidecars expect and with dsmc's message, the call after
// that starts a clean upload that succeeds, and nothing is left behind.
func TestUploadFailures(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	for _, tc := range []struct {
		fault string
		code  codes.Code
		msg   string
	}{
		{"connlost,cmd=backup,after=1M,count=1", codes.Unavailable, "ANS1029E"},
		{"auth,cmd=backup,count=1", codes.FailedPrecondition, "ANS1025E"},
		{"nospace,cmd=backup,after=1M,count=1", codes.ResourceExhausted, "ANS"},
		{"crash,cmd=backup,after=1M,count=1", codes.Internal, "signal"},
	} {
		kind := tc.fault[:strings.Index(tc.fault, ",")]
		t.Run(kind, func(t *testing.T) {
			a := a.in(t)
			vol, data := blockVolume(t, a, "vol-"+kind, 16<<20)
			srv.fault(t, tc.fault)
			name := "snap-" + kind
			first, err := a.createSnapshot(name, vol.VolumeId, nil)
			if err != nil {
				t.Fatalf("CreateSnapshot: %v", err)
			}
			a.deleteSnapshotAtEnd(first.SnapshotId)
			var failure error
			eventually(t, "the failure is reported", time.Minute, func() (bool, error) {
				s, err := a.createSnapshot(name, vol.VolumeId, nil)
				if err != nil {
					failure = err
					return true, nil
				}
				if s.ReadyToUse {
					t.Fatal("the snapshot became ready despite the fault")
				}
				return false, nil
			})
			if codeOf(failure) != tc.code || !strings.Contains(failure.Error(), tc.msg) {
				t.Fatalf("failure reported as %v, want code %v with %q", failure, tc.code, tc.msg)
			}
			// The cut answered at creation is kept for the retry; what is written to the volume
			// afterwards must never reach this snapshot.
			if _, err := os.Stat(filepath.Join(a.d.StateDir, "cuts", snapshotKey(name)+".img")); err != nil {
				t.Fatalf("the cut was not kept for the retry: %v", err)
			}
			dev := a.publish(vol.VolumeId, capability(true, ""))
			writeAt(t, dev, pattern("after-"+kind, 1<<20), 0)
			snap := a.snapshotReady(name, vol.VolumeId, nil)
			if !snap.CreationTime.AsTime().Equal(first.CreationTime.AsTime()) {
				t.Fatalf("the retry moved the point in time: %v -> %v", first.CreationTime.AsTime(), snap.CreationTime.AsTime())
			}
			if snap.SnapshotId != first.SnapshotId {
				t.Fatalf("retry changed the id: %s -> %s", first.SnapshotId, snap.SnapshotId)
			}
			assertClean(t, a, snap.SnapshotId)
			restoreAndCompare(t, a, "restored-"+kind, snap.SnapshotId, 16<<20, data)
		})
	}
}

// TestKillDuringUpload kills the driver with SIGKILL while dsmc uploads: dsmc must die with it,
// and the restarted driver resumes the upload from the same cut and cleans up.
func TestKillDuringUpload(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{stateOnXFS: true})
	vol, data := blockVolume(t, a, "vol-kill-upload", 32<<20)
	first, object := a.slowUpload(t, srv, "slow,cmd=backup,rate=4M", "snap-kill-upload", vol.VolumeId)

	// The data changes after the cut; the snapshot must still hold the data of the cut.
	writeAt(t, filepath.Join(a.dir, "target", vol.VolumeId), pattern("after the cut", 1<<20), 0)
	a.killAndRestart(t, srv, object)
	snap := a.snapshotReady("snap-kill-upload", vol.VolumeId, nil)
	if snap.SnapshotId != first.SnapshotId || !snap.CreationTime.AsTime().Equal(first.CreationTime.AsTime()) {
		t.Fatalf("the resumed upload changed the snapshot: %v -> %v", first, snap)
	}
	assertClean(t, a, snap.SnapshotId)
	restoreAndCompare(t, a, "restored-kill-upload", snap.SnapshotId, 32<<20, data)
}

// TestKillDuringRestore kills the driver with SIGKILL while dsmc restores: the restarted driver
// restores again, the repeated CreateVolume converges on a complete volume, and a second
// restore is never started for the same name.
func TestKillDuringRestore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{stateOnXFS: true})
	vol, data := blockVolume(t, a, "vol-kill-restore", 32<<20)
	snap := a.snapshotReady("snap-kill-restore", vol.VolumeId, nil)
	a.deleteSnapshotAtEnd(snap.SnapshotId)

	srv.fault(t, "slow,cmd=restore,rate=4M")
	req := &csi.CreateVolumeRequest{
		Name: "restored-kill", CapacityRange: &csi.CapacityRange{RequiredBytes: 32 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{capability(true, "")},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}},
	}
	// A provisioner-like deadline: the call answers ABORTED while dsmc still runs.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := a.d.Controller().CreateVolume(ctx, req)
	cancel()
	if codeOf(err) != codes.Aborted {
		t.Fatalf("CreateVolume during the restore: %v, want Aborted", err)
	}
	object := objectOf(snap.SnapshotId)
	if n := len(processesWith(object)); n != 1 {
		t.Fatalf("%d dsmc processes restore %s, want 1", n, object)
	}
	a.killAndRestart(t, srv, object)
	resp, err := a.d.Controller().CreateVolume(ctxT(t), req)
	if err != nil {
		t.Fatalf("CreateVolume after the restart: %v", err)
	}
	a.deleteVolumeAtEnd(resp.Volume.VolumeId)
	got := readAt(t, a.publish(resp.Volume.VolumeId, capability(true, "")), len(data), 0)
	if !bytes.Equal(got, data) {
		t.Fatal("the volume restored after the restart differs from the snapshot")
	}
}

// TestDeleteDuringUpload deletes a snapshot while dsmc uploads it: the upload is cancelled,
// dsmc ends, TSM keeps nothing under the name, and nothing is left on the node.
func TestDeleteDuringUpload(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	vol, _ := blockVolume(t, a, "vol-delete-upload", 32<<20)
	snap, object := a.slowUpload(t, srv, "slow,cmd=backup,rate=1M", "snap-delete-upload", vol.VolumeId)
	if _, err := a.d.Controller().DeleteSnapshot(ctxT(t), &csi.DeleteSnapshotRequest{SnapshotId: snap.SnapshotId}); err != nil {
		t.Fatalf("DeleteSnapshot during the upload: %v", err)
	}
	if n := len(processesWith(object)); n != 0 {
		t.Fatalf("%d dsmc processes still work on %s after DeleteSnapshot returned", n, object)
	}
	assertClean(t, a, snap.SnapshotId)
	resp, err := a.d.Controller().ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{SnapshotId: snap.SnapshotId})
	if err != nil || len(resp.Entries) != 0 {
		t.Fatalf("ListSnapshots after the delete: %v %v", resp.GetEntries(), err)
	}
	if _, err := a.d.Controller().DeleteSnapshot(ctxT(t), &csi.DeleteSnapshotRequest{SnapshotId: snap.SnapshotId}); err != nil {
		t.Fatalf("second DeleteSnapshot: %v", err)
	}
}

// TestRecoveryLeavesOtherDriversLinks: two drivers share /dev and the link prefix (as two
// test instances on one machine do). A restart of one must not take the links of the other's
// uploads for orphans, while it does remove its own orphans.
func TestRecoveryLeavesOtherDriversLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A", "NODE-B")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	b := startNode(t, srv, "node-b", "NODE-B", nodeOptions{})
	vol, data := blockVolume(t, a, "vol-shared-dev", 16<<20)
	_, object := a.slowUpload(t, srv, "slow,cmd=backup,rate=2M,node=NODE-A", "snap-shared-dev", vol.VolumeId)

	// An orphan of node B: a cut file that no upload owns.
	orphanFile := filepath.Join(b.d.StateDir, "cuts", "sdeadbeefdeadbeef.img")
	if err := os.WriteFile(orphanFile, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphanFile); !os.IsNotExist(err) {
		t.Errorf("node B kept its orphaned cut: %v", err)
	}
	if _, err := os.Lstat(object); err != nil {
		t.Fatalf("node B's recovery removed node A's link %s: %v", object, err)
	}
	srv.clearFaults(t)
	snap := a.snapshotReady("snap-shared-dev", vol.VolumeId, nil)
	restoreAndCompare(t, a, "restored-shared-dev", snap.SnapshotId, 16<<20, data)
}

// snapshotKey is the driver's local key of a snapshot name (pkg/csi: "s" and 16 hex digits
// of the name's SHA-256), which names its cut file.
func snapshotKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "s" + hex.EncodeToString(sum[:8])
}

// TestExcludedUploadIsNoBackup: an include-exclude rule pushed from the server's client option
// set skips the file of a file-mode backup with only a warning; the snapshot must not turn
// ready with nothing on the server. Once the rule is gone, the retry stores the same cut.
func TestExcludedUploadIsNoBackup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	vol, data := blockVolume(t, a, "vol-excluded", 4<<20)
	rule := filepath.Join(srv.dir, "cloptset")
	if err := os.WriteFile(rule, []byte("EXCLUDE "+filepath.Join(a.d.StateDir, "tsm")+"/*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	params := map[string]string{"mode": "file"}
	first, err := a.createSnapshot("snap-excluded", vol.VolumeId, params)
	if err != nil {
		t.Fatal(err)
	}
	a.deleteSnapshotAtEnd(first.SnapshotId)
	var failure error
	eventually(t, "the excluded upload is reported", time.Minute, func() (bool, error) {
		s, err := a.createSnapshot("snap-excluded", vol.VolumeId, params)
		if err != nil {
			failure = err
			return true, nil
		}
		if s.ReadyToUse {
			t.Fatal("the snapshot became ready although the server stored nothing")
		}
		return false, nil
	})
	if !strings.Contains(failure.Error(), "unverified") && !strings.Contains(failure.Error(), "ANS1115W") {
		t.Fatalf("failure %v does not say that the backup is missing", failure)
	}
	if err := os.Remove(rule); err != nil {
		t.Fatal(err)
	}
	snap := a.snapshotReady("snap-excluded", vol.VolumeId, params)
	restoreAndCompare(t, a, "restored-excluded", snap.SnapshotId, 4<<20, data)
}
