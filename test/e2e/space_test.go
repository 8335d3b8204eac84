package e2e

import (
	"os"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startSmallNode runs a driver whose state directory is a 64 MiB ext4, so that a few small
// volumes can promise more than it holds.
func startSmallNode(t *testing.T, srv *server, name string, args ...string) *node {
	return startNodeOnScratch(t, srv, name, "ext4", 64<<20, args...)
}

func startNodeOnScratch(t *testing.T, srv *server, name, fsType string, size int64, args ...string) *node {
	t.Helper()
	return startNode(t, srv, name, "NODE-A", nodeOptions{scratchFS: fsType, scratchSize: size, args: args})
}

func (n *node) capacity() int64 {
	n.t.Helper()
	resp, err := n.d.Controller().GetCapacity(ctxT(n.t), &csi.GetCapacityRequest{})
	if err != nil {
		n.t.Fatalf("GetCapacity: %v", err)
	}
	return resp.AvailableCapacity
}

// TestSpaceIsPromisedNotHoped: on a state directory that holds one of two volumes, the second
// is refused (before, both were created and writes into both corrupted each other), GetCapacity
// shrinks by what the first may still write, and writing the first changes nothing.
func TestSpaceIsPromisedNotHoped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	n := startSmallNode(t, srv, "node-small")
	c := capability(true, "")
	const slack = 1 << 20 // records and file-system metadata written meanwhile

	free := n.capacity()
	size := free * 2 / 3 / 4096 * 4096
	a := n.createVolume("space-a", size, c, nil)
	left := n.capacity()
	if got := free - left; got < size || got > size+slack {
		t.Fatalf("GetCapacity went from %d to %d after a %d-byte volume", free, left, size)
	}

	resp, err := n.d.Controller().CreateVolume(ctxT(t), &csi.CreateVolumeRequest{
		Name: "space-b", CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{c},
	})
	if status.Code(err) != codes.ResourceExhausted {
		if err == nil {
			n.deleteVolumeAtEnd(resp.Volume.VolumeId)
		}
		t.Fatalf("a second %d-byte volume with %d bytes promisable: %v; want RESOURCE_EXHAUSTED", size, left, err)
	}
	_, err = n.d.Controller().ControllerExpandVolume(ctxT(t), &csi.ControllerExpandVolumeRequest{
		VolumeId: a.VolumeId, CapacityRange: &csi.CapacityRange{RequiredBytes: size + left + 4096}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("expanding past the promisable space: %v; want RESOURCE_EXHAUSTED", err)
	}

	// Written data turns debt into allocation: what can be promised stays.
	dev := n.publish(a.VolumeId, c)
	writeAt(t, dev, pattern("space-a", int(size)), 0)
	if after := n.capacity(); after > left || after < left-slack {
		t.Fatalf("GetCapacity %d after filling the volume, %d before", after, left)
	}

	// What is left can still be promised: a volume of that size fits.
	rest := n.capacity() / 4096 * 4096
	n.createVolume("space-c", rest, c, nil)
	if got := n.capacity(); got > slack {
		t.Fatalf("GetCapacity %d after promising everything", got)
	}
}

// With --overcommit-ratio=2 the operator opts into thin provisioning: the second volume fits.
func TestOvercommitRatio(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	n := startSmallNode(t, srv, "node-thin", "--overcommit-ratio=2")
	c := capability(true, "")
	size := n.capacity() / 3 / 4096 * 4096 // a third of twice the free space
	n.createVolume("thin-a", size, c, nil)
	n.createVolume("thin-b", size, c, nil)
}

// TestReflinkedBlocksAreOwed: a reflinked clone of a full volume takes no space today, but every
// block either of them overwrites needs a new one; the space that can be promised must drop by
// both volumes' sizes, not by nothing.
func TestReflinkedBlocksAreOwed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	n := startNodeOnScratch(t, srv, "node-reflink", "xfs", 512<<20)
	c := capability(true, "")
	const size, slack = 64 << 20, 1 << 20
	src := n.createVolume("shared-src", size, c, nil)
	writeAt(t, n.publish(src.VolumeId, c), pattern("shared", size), 0)
	before := n.capacity()
	n.createVolume("shared-clone", size, c, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.VolumeId}}})
	if after := n.capacity(); before-after < 2*size-slack {
		t.Fatalf("GetCapacity went from %d to %d after a reflinked clone of a full %d-byte volume; want a drop of about %d", before, after, size, 2*size)
	}
}
