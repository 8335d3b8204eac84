package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// groupReady re-issues CreateVolumeGroupSnapshot until ready_to_use, as csi-snapshotter does.
func (n *node) groupReady(req *csi.CreateVolumeGroupSnapshotRequest) *csi.VolumeGroupSnapshot {
	n.t.Helper()
	var g *csi.VolumeGroupSnapshot
	eventually(n.t, "group snapshot "+req.Name+" ready", 3*time.Minute, func() (bool, error) {
		resp, err := n.d.GroupController().CreateVolumeGroupSnapshot(ctxT(n.t), req)
		if err != nil {
			return false, err
		}
		g = resp.GroupSnapshot
		return g.ReadyToUse, nil
	})
	return g
}

func (n *node) deleteGroupAtEnd(g *csi.VolumeGroupSnapshot) {
	n.t.Cleanup(func() {
		if n.d.Conn() == nil {
			return
		}
		if _, err := n.d.GroupController().DeleteVolumeGroupSnapshot(context.Background(), &csi.DeleteVolumeGroupSnapshotRequest{
			GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs(g),
		}); err != nil {
			n.t.Errorf("DeleteVolumeGroupSnapshot %s: %v", g.GroupSnapshotId, err)
		}
	})
}

func memberIDs(g *csi.VolumeGroupSnapshot) []string {
	var ids []string
	for _, s := range g.Snapshots {
		ids = append(ids, s.SnapshotId)
	}
	return ids
}

// freezesLogged counts the freezes the driver logged for volume id.
func (n *node) freezesLogged(id string) int {
	n.t.Helper()
	log, err := os.ReadFile(n.d.Log)
	if err != nil {
		n.t.Fatal(err)
	}
	c := 0
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "File system frozen for a cut") && strings.Contains(l, id) {
			c++
		}
	}
	return c
}

// TestGroupSnapshot: two ext4 volumes in use, written with data, are snapshotted as one group
// (both file systems frozen for the one cut), the sources change, and each member restores, on
// the node that took it and on one that never saw it, to the data of the cut. Get answers the
// group from its ids on the other node; Delete removes every member from TSM.
func TestGroupSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A", "NODE-B")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{stateOnXFS: true})
	b := startNode(t, srv, "node-b", "NODE-B", nodeOptions{})
	const size = 128 << 20
	c := capability(false, "ext4")
	type member struct {
		vol    *csi.Volume
		target string
		sums   map[string]string
	}
	members := map[string]*member{}
	var ids []string
	for _, name := range []string{"db", "log"} {
		vol := a.createVolume("grp-"+name, size, c, nil)
		m := &member{vol: vol, target: a.publish(vol.VolumeId, c)}
		writeTree(t, m.target, name+"-v1")
		m.sums = treeSums(t, m.target)
		members[vol.VolumeId] = m
		ids = append(ids, vol.VolumeId)
	}

	req := &csi.CreateVolumeGroupSnapshotRequest{Name: "grp-e2e", SourceVolumeIds: ids, Parameters: map[string]string{"mode": "image"}}
	first, err := a.d.GroupController().CreateVolumeGroupSnapshot(ctxT(t), req)
	if err != nil {
		t.Fatalf("CreateVolumeGroupSnapshot: %v", err)
	}
	a.deleteGroupAtEnd(first.GroupSnapshot)
	g := a.groupReady(req)
	if g.GroupSnapshotId != first.GroupSnapshot.GroupSnapshotId || !g.CreationTime.AsTime().Equal(first.GroupSnapshot.CreationTime.AsTime()) {
		t.Fatalf("retried CreateVolumeGroupSnapshot changed id or time: %v then %v", first.GroupSnapshot, g)
	}
	if len(g.Snapshots) != 2 {
		t.Fatalf("group of %d members, want 2: %v", len(g.Snapshots), g)
	}
	for _, s := range g.Snapshots {
		if members[s.SourceVolumeId] == nil || !s.CreationTime.AsTime().Equal(g.CreationTime.AsTime()) || s.GroupSnapshotId != g.GroupSnapshotId || s.SizeBytes != size {
			t.Fatalf("member %v does not belong to group %v", s, g)
		}
	}
	for _, id := range ids {
		if n := a.freezesLogged(id); n != 1 {
			t.Errorf("volume %s: %d freezes logged, want the one of the group cut", id, n)
		}
	}

	// The sources move on; the group must not.
	for _, m := range members {
		writeTree(t, m.target, "v2")
		if err := os.Remove(filepath.Join(m.target, "da", "f0")); err != nil {
			t.Fatal(err)
		}
	}

	for i, s := range g.Snapshots {
		n := []*node{a, b}[i%2] // one member restores where it was taken, the other elsewhere
		vol := n.createVolume("restored-"+s.SourceVolumeId, size, c, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: s.SnapshotId}}})
		got := treeSums(t, n.publish(vol.VolumeId, c))
		if want := members[s.SourceVolumeId].sums; !sameSums(want, got) {
			t.Fatalf("member of %s restored on %s: files differ from the cut:\nwant %v\ngot  %v", s.SourceVolumeId, n.d.Config.NodeID, want, got)
		}
	}

	// Node B never saw the group: it answers it from the ids alone.
	resp, err := b.d.GroupController().GetVolumeGroupSnapshot(ctxT(t), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs(g)})
	if err != nil {
		t.Fatalf("GetVolumeGroupSnapshot on node B: %v", err)
	}
	if got := resp.GroupSnapshot; !got.ReadyToUse || len(got.Snapshots) != 2 || !got.CreationTime.AsTime().Equal(g.CreationTime.AsTime()) {
		t.Fatalf("GetVolumeGroupSnapshot on node B: %v, want %v", got, g)
	}

	if _, err := a.d.GroupController().DeleteVolumeGroupSnapshot(ctxT(t), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs(g)}); err != nil {
		t.Fatalf("DeleteVolumeGroupSnapshot: %v", err)
	}
	for _, s := range g.Snapshots {
		list, err := b.d.Controller().ListSnapshots(ctxT(t), &csi.ListSnapshotsRequest{SnapshotId: s.SnapshotId})
		if err != nil || len(list.Entries) != 0 {
			t.Errorf("member %s after the delete: %v %v, want gone from TSM", s.SnapshotId, list.GetEntries(), err)
		}
	}
	if _, err := b.d.GroupController().GetVolumeGroupSnapshot(ctxT(t), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs(g)}); codeOf(err) != codes.NotFound {
		t.Errorf("GetVolumeGroupSnapshot after the delete: %v, want NotFound", err)
	}
}

// TestGroupSnapshotFailedMemberCut: the cut of the second member fails (its cut file is in the
// way) while both file systems are frozen. Nothing of the group is left: no cut, no freeze
// record, no record of the group or a member, both file systems take writes again; and the
// next call takes the group.
func TestGroupSnapshotFailedMemberCut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{}) // ext4: the cuts are copies
	const size = 64 << 20
	c := capability(false, "ext4")
	var ids, targets []string
	for _, name := range []string{"one", "two"} {
		vol := a.createVolume("grp-fail-"+name, size, c, nil)
		target := a.publish(vol.VolumeId, c)
		writeTree(t, target, name)
		ids = append(ids, vol.VolumeId)
		targets = append(targets, target)
	}
	req := &csi.CreateVolumeGroupSnapshotRequest{Name: "grp-fail", SourceVolumeIds: ids}
	sorted := slices.Clone(ids)
	slices.Sort(sorted) // members are cut in the order of their volume ids
	cuts := filepath.Join(a.d.StateDir, "cuts")
	if err := os.WriteFile(filepath.Join(cuts, memberKey(req.Name, sorted[1])+".img"), []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := a.d.GroupController().CreateVolumeGroupSnapshot(ctxT(t), req); err == nil {
		t.Fatal("a group whose member cut failed was answered")
	}
	for _, id := range ids {
		if n := a.freezesLogged(id); n != 1 {
			t.Errorf("volume %s: %d freezes logged, want 1: the failure must come while both are frozen", id, n)
		}
	}
	assertNoGroupLeft(t, a, targets)

	g := a.groupReady(req)
	a.deleteGroupAtEnd(g)
	if len(g.Snapshots) != 2 {
		t.Fatalf("the group after the failure: %v", g)
	}
}

// TestGroupSnapshotMaxFreeze: a group cut that needs its file systems frozen longer than
// --max-freeze (copies of 100 MiB on an ext4 state directory, 20 ms allowed) is abandoned with
// FAILED_PRECONDITION; both file systems are thawed and nothing of the group is left.
func TestGroupSnapshotMaxFreeze(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{args: []string{"--max-freeze=20ms"}})
	c := capability(false, "ext4")
	var ids, targets []string
	for _, name := range []string{"one", "two"} {
		vol := a.createVolume("grp-slow-"+name, 128<<20, c, nil)
		target := a.publish(vol.VolumeId, c)
		if err := os.WriteFile(filepath.Join(target, "big"), pattern(name, 100<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		syncFS(t, target)
		ids = append(ids, vol.VolumeId)
		targets = append(targets, target)
	}
	_, err := a.d.GroupController().CreateVolumeGroupSnapshot(ctxT(t), &csi.CreateVolumeGroupSnapshotRequest{Name: "grp-slow", SourceVolumeIds: ids})
	if codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--max-freeze") {
		t.Fatalf("a group cut longer than --max-freeze: %v, want FailedPrecondition naming --max-freeze", err)
	}
	assertNoGroupLeft(t, a, targets)
}

// assertNoGroupLeft checks that a failed group cut left no cut, freeze record, group or
// snapshot record, and that every file system takes writes again.
func assertNoGroupLeft(t *testing.T, n *node, targets []string) {
	t.Helper()
	for _, dir := range []string{filepath.Join(n.d.StateDir, "cuts"), filepath.Join(n.d.StateDir, "records", "freezes"),
		filepath.Join(n.d.StateDir, "records", "groups"), filepath.Join(n.d.StateDir, "records", "snapshots")} {
		if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
			t.Errorf("%s after the failed group cut: %v %v, want empty", dir, left, err)
		}
	}
	for _, target := range targets {
		writeWithin(t, filepath.Join(target, "after-failure"), 30*time.Second)
		if err := os.Remove(filepath.Join(target, "after-failure")); err != nil {
			t.Fatal(err)
		}
	}
}

// writeWithin writes and syncs a file and fails the test if that takes longer than limit: a
// file system left frozen would hold the write forever.
func writeWithin(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		f, err := os.Create(path)
		if err == nil {
			_, err = f.Write([]byte("thawed"))
			if serr := f.Sync(); err == nil {
				err = serr
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	case <-time.After(limit):
		t.Fatalf("write %s still blocked after %v: the file system was left frozen", path, limit)
	}
}

// memberKey is the driver's local key of a group member (pkg/csi: the snapshot key of the group
// key, NUL and the volume id, where the group key is "g" and the name's 16 hex digits), which
// names its cut file.
func memberKey(group, volumeID string) string {
	return snapshotKey("g" + snapshotKey(group)[1:] + "\x00" + volumeID)
}
