//go:build k8se2e

// Package k8s runs the driver under the real Kubernetes control plane and CSI sidecars:
// etcd, kube-apiserver and kube-controller-manager, snapshot-controller, and on each of two
// nodes the driver with csi-provisioner and csi-snapshotter in --node-deployment mode, with
// the project's manifests (deploy/kubernetes) applied and the dsmc simulator as the TSM server.
// The components are built by hack/k8s-bins.sh into a cache outside the module; `make e2e-k8s`
// builds them and runs this package (build tag k8se2e, so `go test ./...` skips it).
package k8s

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

// The versions hack/k8s-bins.sh builds; the DaemonSet's sidecar images must match.
var sidecarVersions = map[string]string{
	"csi-provisioner": "v6.4.0",
	"csi-snapshotter": "v8.7.0",
}

var (
	bins     harness.Binaries
	root     string // short temporary directory: file-mode snapshot ids carry the state path
	prefix   string // --tsm-volume-prefix, unique per run because /dev is shared
	k8sCache string // hack/k8s-bins.sh's cache: bin/, crd/
	repoRoot string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("k8s e2e: needs root (loop devices, mounts, /dev links); run `make e2e-k8s` as root")
		return 1
	}
	k8sCache = os.Getenv("TSM_CSI_K8S_CACHE")
	if k8sCache == "" {
		k8sCache = "/var/cache/tsm-csi-k8s"
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "snapshot-controller", "csi-snapshotter", "csi-provisioner"} {
		if _, err := os.Stat(filepath.Join(k8sCache, "bin", b)); err != nil {
			fmt.Printf("k8s e2e: %s is missing from %s: build the components with hack/k8s-bins.sh (make e2e-k8s does)\n", b, k8sCache)
			return 1
		}
	}
	var err error
	if repoRoot, err = harness.ModuleRoot(); err != nil {
		fmt.Println(err)
		return 1
	}
	if root, err = os.MkdirTemp("", "tck"); err != nil {
		fmt.Println(err)
		return 1
	}
	defer func() { _ = os.RemoveAll(root) }()
	b := make([]byte, 3)
	rand.Read(b)
	prefix = "k8s" + hex.EncodeToString(b)
	before, err := harness.Snapshot(root, prefix)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if bins, err = harness.Build(filepath.Join(root, "bin")); err != nil {
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
		fmt.Print("k8s e2e: the tests left things behind:\n" + leak)
		return 1
	}
	if pids := processesWith(root); len(pids) > 0 {
		fmt.Printf("k8s e2e: processes left running: %s\n", strings.Join(pids, " "))
		return 1
	}
	return rc
}

// processesWith lists the pids whose command line contains s.
func processesWith(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	self := fmt.Sprint(os.Getpid())
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' || e.Name() == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
