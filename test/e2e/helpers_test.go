package e2e

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const asNode = "K8S-CLUSTER"

// server is one simulated TSM server with a proxy target node that every agent may act as.
type server struct {
	dir string
}

func newServer(t *testing.T, agents ...string) *server {
	t.Helper()
	s := &server{dir: filepath.Join(t.TempDir(), "tsm-server")}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"register", "node", asNode, "target-secret"},
		{"update", "node", asNode, "backdelete=yes"},
	} {
		if err := bins.Admin(s.dir, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range agents {
		for _, args := range [][]string{
			{"register", "node", a, "agent-secret"},
			{"grant", "proxynode", "target=" + asNode, "agent=" + a},
		} {
			if err := bins.Admin(s.dir, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// node is one driver process, as on one Kubernetes node.
type node struct {
	t   *testing.T
	d   *harness.Driver
	dir string
}

type nodeOptions struct {
	stateOnXFS  bool
	scratchFS   string // the state directory on a file system of this type and scratchSize
	scratchSize int64
	args        []string
	env         []string
}

func startNode(t *testing.T, srv *server, name, tsmNode string, o nodeOptions) *node {
	t.Helper()
	dir, err := os.MkdirTemp(root, "n")
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	var d *harness.Driver
	if o.stateOnXFS && o.scratchFS == "" {
		o.scratchFS, o.scratchSize = "xfs", 8<<30
	}
	if o.scratchFS != "" {
		mnt, undo, err := harness.ScratchFS(dir, o.scratchFS, o.scratchSize)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := undo(); err != nil {
				t.Error(err)
			}
		})
		stateDir = filepath.Join(mnt, "state")
	}
	d, err = harness.Start(context.Background(), harness.DriverConfig{
		Bin: bins, Dir: dir, StateDir: stateDir, NodeID: name, TSMNode: tsmNode,
		ServerDir: srv.dir, Prefix: prefix,
		Args: append([]string{"--tsm-asnodename=" + asNode}, o.args...),
		Env:  o.env,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, d: d, dir: dir}
	t.Cleanup(func() {
		if err := n.d.Stop(); err != nil {
			t.Errorf("stopping %s: %v\n%s", name, err, n.d.Tail(30))
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, n.d.Tail(60))
		}
	})
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func capability(block bool, fsType string) *csi.VolumeCapability {
	c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	if block {
		c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
	} else {
		c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType}}
	}
	return c
}

// createVolume creates a volume and deletes it when the test ends.
func (n *node) createVolume(name string, size int64, c *csi.VolumeCapability, src *csi.VolumeContentSource) *csi.Volume {
	n.t.Helper()
	resp, err := n.d.Controller().CreateVolume(ctxT(n.t), &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{c}, VolumeContentSource: src,
	})
	if err != nil {
		n.t.Fatalf("CreateVolume %s: %v", name, err)
	}
	n.deleteVolumeAtEnd(resp.Volume.VolumeId)
	return resp.Volume
}

func (n *node) deleteVolumeAtEnd(id string) {
	n.t.Cleanup(func() {
		if n.d.Conn() == nil {
			return
		}
		if _, err := n.d.Controller().DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			n.t.Errorf("DeleteVolume %s: %v", id, err)
		}
	})
}

// publish stages and publishes a volume and returns the target path (a device file for block
// volumes, a directory for file systems); both are undone when the test ends.
func (n *node) publish(volID string, c *csi.VolumeCapability) string {
	n.t.Helper()
	ctx := ctxT(n.t)
	staging := filepath.Join(n.dir, "staging", volID)
	target := filepath.Join(n.dir, "target", volID)
	if _, err := n.d.Node().NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: staging, VolumeCapability: c}); err != nil {
		n.t.Fatalf("NodeStageVolume: %v", err)
	}
	n.t.Cleanup(func() { n.unstage(volID, staging) })
	if _, err := n.d.Node().NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: staging, TargetPath: target, VolumeCapability: c}); err != nil {
		n.t.Fatalf("NodePublishVolume: %v", err)
	}
	n.t.Cleanup(func() { n.unpublish(volID, target) })
	return target
}

func (n *node) unpublish(volID, target string) {
	if n.d.Conn() == nil {
		return
	}
	if _, err := n.d.Node().NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: volID, TargetPath: target}); err != nil {
		n.t.Errorf("NodeUnpublishVolume: %v", err)
	}
}

func (n *node) unstage(volID, staging string) {
	if n.d.Conn() == nil {
		return
	}
	if _, err := n.d.Node().NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: volID, StagingTargetPath: staging}); err != nil {
		n.t.Errorf("NodeUnstageVolume: %v", err)
	}
}

func (n *node) createSnapshot(name, volID string, params map[string]string) (*csi.Snapshot, error) {
	resp, err := n.d.Controller().CreateSnapshot(ctxT(n.t), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Parameters: params})
	if err != nil {
		return nil, err
	}
	return resp.Snapshot, nil
}

func (n *node) deleteSnapshotAtEnd(id string) {
	n.t.Cleanup(func() {
		if n.d.Conn() == nil {
			return
		}
		if _, err := n.d.Controller().DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
			n.t.Errorf("DeleteSnapshot %s: %v", id, err)
		}
	})
}

// eventually polls cond, the way the CO polls CreateSnapshot, until it is true or the
// deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, timeout)
		}
		<-tick.C
	}
}

// snapshotReady re-issues CreateSnapshot until ready_to_use, as the snapshotter does.
func (n *node) snapshotReady(name, volID string, params map[string]string) *csi.Snapshot {
	n.t.Helper()
	var snap *csi.Snapshot
	eventually(n.t, "snapshot "+name+" ready", 3*time.Minute, func() (bool, error) {
		s, err := n.createSnapshot(name, volID, params)
		if err != nil {
			return false, err
		}
		snap = s
		return s.ReadyToUse, nil
	})
	return snap
}

func codeOf(err error) codes.Code { return status.Code(err) }

// pattern is reproducible pseudo-random data.
func pattern(seed string, n int) []byte { return harness.Pattern(seed, n) }

func writeAt(t *testing.T, path string, data []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, path string, n int, off int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return buf
}

func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums, err := harness.TreeSums(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func writeTree(t *testing.T, dir, seed string) {
	t.Helper()
	for i, size := range []int{0, 1, 4095, 4096, 1 << 20, 7<<20 + 3} {
		sub := filepath.Join(dir, "d"+string(rune('a'+i%3)))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, "f"+string(rune('0'+i)))
		if err := os.WriteFile(p, pattern(seed+p, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	syncFS(t, dir)
}

func syncFS(t *testing.T, dir string) {
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func sameSums(a, b map[string]string) bool { return harness.SameSums(a, b) }

// in returns the node bound to a subtest, so that cleanups and failures land there.
func (n *node) in(t *testing.T) *node { return &node{t: t, d: n.d, dir: n.dir} }
