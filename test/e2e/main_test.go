// Package e2e runs the driver binary against the dsmc simulator on real loop devices, file
// systems and mounts: snapshots into TSM, restores on the same and on another node, failures
// of dsmc, and the driver killed in the middle of an upload or a restore.
package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

var (
	bins   harness.Binaries
	root   string
	prefix string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipped, needs root for loop devices and mounts")
		return m.Run()
	}
	var err error
	// Short paths: file-mode snapshot ids carry the state directory and must fit 128 bytes.
	root, err = os.MkdirTemp("", "tce")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer func() { _ = os.RemoveAll(root) }()
	b := make([]byte, 3)
	rand.Read(b)
	prefix = "e2e" + hex.EncodeToString(b)
	before, err := harness.Snapshot(root, prefix)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if bins, err = harness.Build(root + "/bin"); err != nil {
		fmt.Println(err)
		return 1
	}
	rc := m.Run()
	after, err := harness.Snapshot(root, prefix)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if leak := before.Diff(after); leak != "" {
		fmt.Print("e2e: the tests left things behind:\n" + leak)
		return 1
	}
	return rc
}
