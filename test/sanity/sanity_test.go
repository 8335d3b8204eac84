// Package sanity runs csi-sanity against the real driver binary, started as a separate process
// with a fresh state directory, on real loop devices and mounts, with the dsmc simulator as TSM.
// One suite covers mount/ext4, mount/xfs and block; skips are listed in README.md.
package sanity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const volumeSize = 512 << 20 // large enough for xfs, small enough that uploads take a moment

var (
	root     string
	bins     harness.Binaries
	prefix   string
	before   harness.KernelState
	drivers  []*harness.Driver
	cleanups []func() error
	contexts []*sanity.TestContext
)

func TestSanity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("csi-sanity on real loop devices needs root")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "tsm-csi-sidecar csi-sanity")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

var _ = BeforeSuite(func() {
	var err error
	root, err = os.MkdirTemp("", "tsm-csi-sanity-")
	Expect(err).NotTo(HaveOccurred())
	prefix = "sanity" + randomHex(3)
	before, err = harness.Snapshot(root, prefix)
	Expect(err).NotTo(HaveOccurred())
	bins, err = harness.Build(filepath.Join(root, "bin"))
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	for _, c := range contexts {
		c.Finalize()
	}
	for _, d := range drivers {
		Expect(d.Stop()).To(Succeed(), d.Tail(30))
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		Expect(cleanups[i]()).To(Succeed())
	}
	after, err := harness.Snapshot(root, prefix)
	Expect(err).NotTo(HaveOccurred())
	Expect(before.Diff(after)).To(BeEmpty(), "the suite must leave no loop device, mount or link behind")
	Expect(os.RemoveAll(root)).To(Succeed())
})

// variant is one configuration of the driver under csi-sanity.
type variant struct {
	name       string
	accessType string
	fsType     string
	reflinkFS  bool // state directory on xfs, so snapshot cuts are reflinks
}

var variants = []variant{
	{name: "mount-ext4", accessType: "mount", fsType: "ext4"},
	{name: "mount-xfs", accessType: "mount", fsType: "xfs", reflinkFS: true},
	{name: "block", accessType: "block", fsType: "ext4", reflinkFS: true},
}

var _ = Describe("tsm-csi-sidecar", func() {
	for _, v := range variants {
		Context(v.name, Ordered, func() {
			cfg := sanity.NewTestConfig()
			cfg.TestVolumeSize = volumeSize
			cfg.TestVolumeAccessType = v.accessType
			cfg.IdempotentCount = 3

			BeforeAll(func() {
				dir := filepath.Join(root, v.name)
				Expect(os.MkdirAll(dir, 0o750)).To(Succeed())
				stateDir := filepath.Join(dir, "state")
				if v.reflinkFS {
					mnt, undo, err := harness.ScratchFS(dir, "xfs", 8<<30)
					Expect(err).NotTo(HaveOccurred())
					cleanups = append(cleanups, undo)
					stateDir = filepath.Join(mnt, "state")
				}
				cfg.TargetPath = filepath.Join(dir, "target")
				cfg.StagingPath = filepath.Join(dir, "staging")
				d, err := harness.Start(context.Background(), harness.DriverConfig{
					Bin:       bins,
					Dir:       dir,
					StateDir:  stateDir,
					NodeID:    "node-" + v.name,
					TSMNode:   "SANITY",
					ServerDir: filepath.Join(dir, "tsm-server"),
					Prefix:    prefix,
					Args:      []string{"--default-fstype=" + v.fsType, fmt.Sprintf("--max-volume-size=%d", 64<<30)},
				})
				Expect(err).NotTo(HaveOccurred())
				drivers = append(drivers, d)
				cfg.Address = d.Endpoint
			})

			contexts = append(contexts, sanity.GinkgoTest(&cfg))
		})
	}
})
