package csi

import (
	"path/filepath"
	"testing"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
)

func testDriverRecords(t *testing.T) *Driver {
	t.Helper()
	dir := t.TempDir()
	d := &Driver{}
	var err error
	if d.volumes, err = state.OpenDir(filepath.Join(dir, "volumes")); err != nil {
		t.Fatal(err)
	}
	if d.nodes, err = state.OpenDir(filepath.Join(dir, "node")); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNodeRecordLifecycle(t *testing.T) {
	d := testDriverRecords(t)
	const id = "vol-0123456789abcdef0123"
	if inUse, err := d.inUseOnNode(id); err != nil || inUse {
		t.Fatalf("inUseOnNode of a volume never staged = %v, %v", inUse, err)
	}
	r, err := d.loadNode(id)
	if err != nil {
		t.Fatal(err)
	}
	r.StagingPath, r.Access = "/var/lib/kubelet/x/globalmount", "mount"
	r.setTarget(nodeTarget{Path: "/var/lib/kubelet/pods/p/mount", Created: true})
	if err := d.saveNode(r); err != nil {
		t.Fatal(err)
	}
	if inUse, err := d.inUseOnNode(id); err != nil || !inUse {
		t.Fatalf("inUseOnNode of a staged volume = %v, %v", inUse, err)
	}
	got, err := d.loadNode(id)
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := got.target("/var/lib/kubelet/pods/p/mount"); !ok || !tg.Created {
		t.Fatalf("target not recorded: %+v", got)
	}
	got.dropTarget("/var/lib/kubelet/pods/p/mount")
	got.StagingPath = ""
	if err := d.saveNode(got); err != nil {
		t.Fatal(err)
	}
	if keys, err := d.nodes.Keys(); err != nil || len(keys) != 0 {
		t.Fatalf("an empty node record is kept: %v, %v", keys, err)
	}
}

// TestNodeRecordLegacy: paths an earlier version kept in the volume record count as staged and
// published, are never marked as made by the driver, and do not come back once cleared.
func TestNodeRecordLegacy(t *testing.T) {
	d := testDriverRecords(t)
	const id = "vol-0123456789abcdef0123"
	if err := d.volumes.Put(id, &volumeRecord{ID: id, Access: "mount", FSType: "ext4", StagingPath: "/s", Targets: []string{"/t"}}); err != nil {
		t.Fatal(err)
	}
	r, err := d.loadNode(id)
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := r.target("/t"); r.StagingPath != "/s" || !ok || tg.Created || r.StagingCreated {
		t.Fatalf("legacy record = %+v", r)
	}
	if inUse, _ := d.inUseOnNode(id); !inUse {
		t.Fatal("a volume staged by an earlier version is not in use")
	}
	r.dropTarget("/t")
	r.StagingPath = ""
	if err := d.saveNode(r); err != nil {
		t.Fatal(err)
	}
	if inUse, err := d.inUseOnNode(id); err != nil || inUse {
		t.Fatalf("after unstaging, inUseOnNode = %v, %v", inUse, err)
	}
}
