//go:build k8se2e

package k8s

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

// server is the simulated TSM server: the cluster's target node (the ConfigMap's target-node)
// and one agent node per Kubernetes node with proxy authority, as docs/tsm-server-setup.md
// registers them.
type server struct {
	dir    string
	target string
	agents map[string]bool
}

func newServer(t *testing.T, dir, target string) *server {
	t.Helper()
	s := &server{dir: dir, target: target, agents: map[string]bool{}}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if target == "" {
		t.Fatal("TSM: the ConfigMap names no target-node")
	}
	s.admin(t, "register", "node", target, "target-secret")
	s.admin(t, "update", "node", target, "backdelete=yes")
	return s
}

func (s *server) agent(t *testing.T, name string) {
	t.Helper()
	if s.agents[name] {
		return
	}
	s.agents[name] = true
	s.admin(t, "register", "node", name, "agent-secret")
	s.admin(t, "grant", "proxynode", "target="+s.target, "agent="+name)
}

func (s *server) admin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bins.Dsmc, append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+s.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TSM: dsmc admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fault injects a dsmc fault that the running drivers' next dsmc picks up.
func (s *server) fault(t *testing.T, spec string) {
	t.Helper()
	s.admin(t, "fault", "add", spec)
	t.Cleanup(func() { s.admin(t, "fault", "clear") })
}

// objects lists every version the server holds (active and inactive).
func (s *server) objects(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(s.admin(t, "query", "objects"), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] >= '0' && l[0] <= '9' { // version lines start with the id
			out = append(out, l)
		}
	}
	return out
}

// poll checks cond every 100 ms until it holds or timeout passes; the failure names the step
// and the last state cond reported.
func poll(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last state: %s", what, timeout, state)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not synchronisation
	}
}

const selectedNode = "volume.kubernetes.io/selected-node"

// createPVC creates a claim of the StorageClass tsm-local with the scheduler's selected-node
// annotation (no scheduler runs), optionally restored from a VolumeSnapshot, and deletes it at
// the end of the test.
func createPVC(t *testing.T, c *cluster, name, node string, block bool, size, fromSnapshot string) {
	t.Helper()
	spec := obj{
		"storageClassName": "tsm-local",
		"accessModes":      []any{"ReadWriteOnce"},
		"resources":        obj{"requests": obj{"storage": size}},
	}
	if block {
		spec["volumeMode"] = "Block"
	}
	if fromSnapshot != "" {
		spec["dataSource"] = obj{"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": fromSnapshot}
	}
	_, err := c.api.create("/api/v1/namespaces/"+ns+"/persistentvolumeclaims", obj{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": obj{"name": name, "annotations": obj{selectedNode: node}},
		"spec":     spec,
	})
	if err != nil {
		t.Fatalf("create PVC %s: %v", name, err)
	}
	t.Cleanup(func() { deletePVC(t, c, name) })
}

// waitBound waits until the claim is Bound and returns how long that took.
func waitBound(t *testing.T, c *cluster, name string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	poll(t, "PVC "+name+" Bound", timeout, func() (bool, string) {
		o, err := c.api.get(pvcPath(name))
		if err != nil {
			return false, err.Error()
		}
		return str(o, "status", "phase") == "Bound", "phase " + str(o, "status", "phase") + " " + lastEvent(c, "PersistentVolumeClaim", name)
	})
	return time.Since(start)
}

// lastEvent is the newest event about an object, for failure messages.
func lastEvent(c *cluster, kind, name string) string {
	list, err := c.api.get("/api/v1/namespaces/" + ns + "/events?fieldSelector=involvedObject.name=" + name)
	if err != nil {
		return ""
	}
	items, _ := list["items"].([]any)
	if len(items) == 0 {
		return ""
	}
	e := items[len(items)-1].(map[string]any)
	return fmt.Sprintf("(event %s: %s)", str(e, "reason"), str(e, "message"))
}

// deletePVC deletes a claim and waits until it and its PV are gone (the provisioner has
// called DeleteVolume).
func deletePVC(t *testing.T, c *cluster, name string) {
	o, err := c.api.get(pvcPath(name))
	if isNotFound(err) {
		return
	}
	pv := str(o, "spec", "volumeName")
	if err := c.api.delete(pvcPath(name)); err != nil {
		t.Errorf("delete PVC %s: %v", name, err)
		return
	}
	gone(t, c, "PVC "+name, pvcPath(name))
	if pv != "" {
		gone(t, c, "PV "+pv+" of "+name, pvPath(pv))
	}
}

func gone(t *testing.T, c *cluster, what, path string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		o, err := c.api.get(path)
		if isNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still exists 2 minutes after its deletion: %s %v", what, str(o, "status"), err)
			return
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// createVS creates a VolumeSnapshot of a claim and deletes it at the end of the test.
func createVS(t *testing.T, c *cluster, name, class, pvc string) {
	t.Helper()
	_, err := c.api.create(snapAPI+"/namespaces/"+ns+"/volumesnapshots", obj{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": obj{"name": name},
		"spec":     obj{"volumeSnapshotClassName": class, "source": obj{"persistentVolumeClaimName": pvc}},
	})
	if err != nil {
		t.Fatalf("create VolumeSnapshot %s: %v", name, err)
	}
	t.Cleanup(func() { deleteVS(t, c, name) })
}

func deleteVS(t *testing.T, c *cluster, name string) {
	o, err := c.api.get(vsPath(name))
	if isNotFound(err) {
		return
	}
	content := str(o, "status", "boundVolumeSnapshotContentName")
	if err := c.api.delete(vsPath(name)); err != nil {
		t.Errorf("delete VolumeSnapshot %s: %v", name, err)
		return
	}
	gone(t, c, "VolumeSnapshot "+name, vsPath(name))
	if content != "" && str(o, "spec", "volumeSnapshotClassName") != retainClass {
		gone(t, c, "VolumeSnapshotContent "+content, vscPath(content))
	}
}

// snapState is what the test saw of a VolumeSnapshot while waiting for it.
type snapState struct {
	sawNotReady  bool
	errors       []string
	handle       string
	creationTime string
	content      string
}

// waitReady waits until the VolumeSnapshot is readyToUse, noting whether it was false first
// and every error it reported on the way.
func waitReady(t *testing.T, c *cluster, name string, timeout time.Duration) snapState {
	t.Helper()
	var s snapState
	poll(t, "VolumeSnapshot "+name+" readyToUse", timeout, func() (bool, string) {
		o, err := c.api.get(vsPath(name))
		if err != nil {
			return false, err.Error()
		}
		if r, ok := field(o, "status", "readyToUse").(bool); ok && !r {
			s.sawNotReady = true
		}
		if e := str(o, "status", "error", "message"); e != "" && (len(s.errors) == 0 || s.errors[len(s.errors)-1] != e) {
			s.errors = append(s.errors, e)
		}
		s.content = str(o, "status", "boundVolumeSnapshotContentName")
		s.creationTime = str(o, "status", "creationTime")
		state := "status " + str(o, "status") + " " + lastEvent(c, "VolumeSnapshot", name)
		if field(o, "status", "readyToUse") != true {
			return false, state
		}
		vsc, err := c.api.get(vscPath(s.content))
		if err != nil {
			return false, err.Error()
		}
		s.handle = str(vsc, "status", "snapshotHandle")
		return true, state
	})
	return s
}

// contentOf waits until the VolumeSnapshot's content has a snapshot handle (CreateSnapshot has
// answered: the cut exists) and returns the content.
func contentOf(t *testing.T, c *cluster, name string) obj {
	t.Helper()
	var vsc obj
	poll(t, "VolumeSnapshot "+name+" has a snapshot handle", time.Minute, func() (bool, string) {
		o, err := c.api.get(vsPath(name))
		if err != nil {
			return false, err.Error()
		}
		content := str(o, "status", "boundVolumeSnapshotContentName")
		if content == "" {
			return false, "no content bound " + str(o, "status")
		}
		vsc, err = c.api.get(vscPath(content))
		if err != nil {
			return false, err.Error()
		}
		return str(vsc, "status", "snapshotHandle") != "" && str(vsc, "status", "creationTime") != "", "content status " + str(vsc, "status")
	})
	return vsc
}

// objectOf is the TSM object a snapshot handle names.
func objectOf(handle string) string { return handle[strings.LastIndex(handle, ":")+1:] }

// Data the steps write and compare.

func pattern(seed string, n int) []byte { return harness.Pattern(seed, n) }

func writeDevice(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readDevice(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return buf
}

// writeTree replaces the content of a mounted file system with files derived from seed.
func writeTree(t *testing.T, dir, seed string) map[string]string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "lost+found" {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	for i, size := range []int{0, 1, 4095, 4096, 1 << 20, 3<<20 + 3} {
		sub := filepath.Join(dir, "d"+string(rune('a'+i%3)))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, "f"+string(rune('0'+i)))
		if err := os.WriteFile(p, pattern(seed+p[len(dir):], size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec.Command("sync", "-f", dir).Run(); err != nil {
		t.Fatal(err)
	}
	return treeSums(t, dir)
}

func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums, err := harness.TreeSums(dir)
	if err != nil {
		t.Fatal(err)
	}
	delete(sums, "lost+found")
	return sums
}

func describeSums(s map[string]string) string {
	var keys []string
	for k, v := range s {
		keys = append(keys, k+"="+v[:8])
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

// volume data, either a block device's bytes or a file tree's checksums.
type content struct {
	raw  []byte
	sums map[string]string
}

func (a content) equal(b content) bool {
	if a.sums != nil || b.sums != nil {
		return harness.SameSums(a.sums, b.sums)
	}
	return bytes.Equal(a.raw, b.raw)
}

func (a content) String() string {
	if a.sums != nil {
		return describeSums(a.sums)
	}
	sum := sha256.Sum256(a.raw)
	return fmt.Sprintf("%d bytes sha256 %x", len(a.raw), sum[:8])
}

// fill writes data derived from seed into a published volume.
func fill(t *testing.T, m *mounted, seed string, size int) content {
	t.Helper()
	if m.cap.GetBlock() != nil {
		d := pattern(seed, size)
		writeDevice(t, m.target, d)
		return content{raw: d}
	}
	return content{sums: writeTree(t, m.target, seed)}
}

func read(t *testing.T, m *mounted, size int) content {
	t.Helper()
	if m.cap.GetBlock() != nil {
		return content{raw: readDevice(t, m.target, size)}
	}
	return content{sums: treeSums(t, m.target)}
}
