// Command demo shows the driver's main job on one machine, with the dsmc simulator as the TSM
// server: a volume on node-1 gets files, a snapshot turns into a TSM image backup, and the
// snapshot comes back as a new volume on node-2, file for file. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const target = "K8S-DEMO"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }
func (c cleanup) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "tsm-demo")
	if err != nil {
		return err
	}
	var undo cleanup
	defer func() { undo.run(); _ = os.RemoveAll(dir) }()
	ctx := context.Background()

	step("building tsm-csi-sidecar and the dsmc simulator")
	bins, err := harness.Build(filepath.Join(dir, "bin"))
	if err != nil {
		return err
	}
	server := filepath.Join(dir, "tsm-server")
	if err := os.MkdirAll(server, 0o750); err != nil {
		return err
	}
	step("setting up the simulated TSM server: target node %s, one agent node per Kubernetes node", target)
	for _, args := range [][]string{
		{"register", "node", target, "secret"}, {"update", "node", target, "backdelete=yes"},
		{"register", "node", "NODE-1", "secret"}, {"register", "node", "NODE-2", "secret"},
		{"grant", "proxynode", "target=" + target, "agent=NODE-1,NODE-2"},
	} {
		fmt.Printf("    dsmc-sim admin %s\n", strings.Join(args, " "))
		if err := bins.Admin(server, args...); err != nil {
			return err
		}
	}

	nodes := map[string]*harness.Driver{}
	for _, n := range []string{"node-1", "node-2"} {
		step("starting the driver for %s", n)
		d, err := harness.Start(ctx, harness.DriverConfig{
			Bin: bins, Dir: filepath.Join(dir, n), NodeID: n, TSMNode: strings.ToUpper(n),
			ServerDir: server, Prefix: "demo", Args: []string{"--tsm-asnodename=" + target},
		})
		if err != nil {
			return err
		}
		undo.add(func() { _ = d.Stop() })
		nodes[n] = d
	}
	one, two := nodes["node-1"], nodes["node-2"]
	capab := &csi.VolumeCapability{
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
	}

	step("node-1: CreateVolume pvc-demo (256 MiB, ext4), stage and publish")
	vol, err := one.Controller().CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-demo",
		CapacityRange: &csi.CapacityRange{RequiredBytes: 256 << 20}, VolumeCapabilities: []*csi.VolumeCapability{capab}})
	if err != nil {
		return err
	}
	undo.add(func() {
		_, _ = one.Controller().DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol.Volume.VolumeId})
	})
	mnt, err := publish(ctx, one, vol.Volume.VolumeId, capab, &undo)
	if err != nil {
		return err
	}
	fmt.Printf("    volume %s mounted at %s\n", vol.Volume.VolumeId, mnt)
	for i := 0; i < 5; i++ {
		data := []byte(strings.Repeat(fmt.Sprintf("line %d of the demo\n", i), 1000*(i+1)))
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("file-%d.txt", i)), data, 0o644); err != nil {
			return err
		}
	}
	before, err := harness.TreeSums(mnt)
	if err != nil {
		return err
	}
	fmt.Printf("    wrote %d files\n", len(before))

	step("node-1: CreateSnapshot snap-demo (freeze, reflink or copy cut, then dsmc backup image in the background)")
	start := time.Now()
	snap, err := one.Controller().CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-demo", SourceVolumeId: vol.Volume.VolumeId})
	if err != nil {
		return err
	}
	fmt.Printf("    answered in %v: ready_to_use=%v\n    snapshot id: %s\n", time.Since(start).Round(time.Millisecond), snap.Snapshot.ReadyToUse, snap.Snapshot.SnapshotId)
	undo.add(func() {
		_, _ = one.Controller().DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.Snapshot.SnapshotId})
	})
	for !snap.Snapshot.ReadyToUse {
		time.Sleep(200 * time.Millisecond) // the snapshotter's retry interval, shortened
		if snap, err = one.Controller().CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-demo", SourceVolumeId: vol.Volume.VolumeId}); err != nil {
			return err
		}
	}
	fmt.Printf("    ready_to_use=true after %v\n", time.Since(start).Round(time.Millisecond))

	step("what the TSM server holds (dsmc query image -asnodename=%s)", target)
	q := exec.Command(bins.Dsmc, "query", "image", "-asnodename="+target)
	q.Env = append(os.Environ(), "DSMSIM_ROOT="+server, "DSMSIM_NODE=NODE-1")
	out, _ := q.CombinedOutput()
	fmt.Println(indent(string(out)))

	step("node-1: the source volume changes after the snapshot")
	if err := os.WriteFile(filepath.Join(mnt, "file-0.txt"), []byte("overwritten\n"), 0o644); err != nil {
		return err
	}

	step("node-2: ListSnapshots finds the backup in TSM, though node-2 never saw it")
	list, err := two.Controller().ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: vol.Volume.VolumeId})
	if err != nil {
		return err
	}
	for _, e := range list.Entries {
		fmt.Printf("    %s ready=%v size=%d\n", e.Snapshot.SnapshotId, e.Snapshot.ReadyToUse, e.Snapshot.SizeBytes)
	}

	step("node-2: CreateVolume pvc-restored from the snapshot (dsmc restore image), stage and publish")
	restored, err := two.Controller().CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-restored",
		CapacityRange: &csi.CapacityRange{RequiredBytes: 256 << 20}, VolumeCapabilities: []*csi.VolumeCapability{capab},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.Snapshot.SnapshotId}}}})
	if err != nil {
		return err
	}
	undo.add(func() {
		_, _ = two.Controller().DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: restored.Volume.VolumeId})
	})
	mnt2, err := publish(ctx, two, restored.Volume.VolumeId, capab, &undo)
	if err != nil {
		return err
	}
	after, err := harness.TreeSums(mnt2)
	if err != nil {
		return err
	}
	if !harness.SameSums(before, after) {
		return fmt.Errorf("the restored files differ from the snapshot:\n%v\n%v", before, after)
	}
	fmt.Printf("    %d files restored on node-2, every checksum matches the snapshot\n", len(after))
	verified := ""
	for _, line := range strings.Split(two.Tail(200), "\n") {
		if i := strings.Index(line, "\"Restored data verified"); i >= 0 {
			verified = line[i:]
		}
	}
	if verified == "" {
		return fmt.Errorf("node-2 did not log the verification of the restore against the snapshot's digest")
	}
	fmt.Println("    the driver verified the restore before handing it out (BLAKE3 digest stored with the snapshot):")
	fmt.Println("    " + verified)
	step("cleaning up: unpublish, unstage, delete volumes and the TSM backup")
	return nil
}

func publish(ctx context.Context, d *harness.Driver, id string, c *csi.VolumeCapability, undo *cleanup) (string, error) {
	staging := filepath.Join(filepath.Dir(d.Socket), "staging", id)
	tgt := filepath.Join(filepath.Dir(d.Socket), "pods", id)
	if _, err := d.Node().NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: c}); err != nil {
		return "", err
	}
	undo.add(func() {
		_, _ = d.Node().NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
	})
	if _, err := d.Node().NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging, TargetPath: tgt, VolumeCapability: c}); err != nil {
		return "", err
	}
	undo.add(func() {
		_, _ = d.Node().NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: tgt})
	})
	return tgt, nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
