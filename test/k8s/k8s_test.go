//go:build k8se2e

package k8s

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	volSize    = 16 << 20
	volSizeStr = "16Mi"
	// retainClass is a VolumeSnapshotClass the test adds: deletionPolicy Retain keeps the TSM
	// object when the VolumeSnapshot is deleted, for the disaster recovery step.
	retainClass = "e2e-retain"
	readyWait   = 3 * time.Minute
)

// TestKubernetes runs the driver under the real control plane and sidecars on two nodes, then
// recovers a backup into a second, fresh cluster.
func TestKubernetes(t *testing.T) {
	c := startCluster(t, filepath.Join(root, "c1"))
	_, cm := c.daemonSet()
	target, _ := field(cm, "data", "target-node").(string)
	srv := newServer(t, filepath.Join(root, "tsm"), target)
	a := startNode(t, c, srv, "node-a")
	b := startNode(t, c, srv, "node-b")
	if _, err := c.api.create(snapAPI+"/volumesnapshotclasses", obj{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
		"metadata": obj{"name": retainClass}, "driver": driverName, "deletionPolicy": "Retain",
		"parameters": obj{"mode": "image"},
	}); err != nil {
		t.Fatalf("create VolumeSnapshotClass %s: %v", retainClass, err)
	}

	t.Run("example site overlay", func(t *testing.T) {
		out := c.kubectl("kustomize", filepath.Join(repoRoot, "deploy", "overlays", "example-site"))
		for _, want := range []string{"image: registry.mysite.example/storage/tsm-csi-sidecar:v1.0.0", "target-node: PROD-K8S"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl kustomize deploy/overlays/example-site: no %q in the output", want)
			}
		}
		if strings.Contains(out, "registry.example.com/tsm-csi-sidecar") {
			t.Error("kubectl kustomize deploy/overlays/example-site: the base image is left in the output")
		}
	})

	for _, tc := range []struct {
		name  string
		block bool
		class string
	}{
		{"block", true, "tsm-image"},
		{"ext4-image", false, "tsm-image"},
		{"ext4-file", false, "tsm-file"},
	} {
		t.Run("roundtrip/"+tc.name, func(t *testing.T) { roundtrip(t, c, srv, a, b, tc.name, tc.block, tc.class) })
	}
	t.Run("driver SIGTERM during upload", func(t *testing.T) { sigtermDuringUpload(t, c, srv, a) })
	t.Run("upload failure then success keeps the creation-time data", func(t *testing.T) { failureThenSuccess(t, c, srv, a, b) })
	t.Run("restore slower than the provisioner timeout", func(t *testing.T) { slowRestore(t, c, srv, a, b) })
	t.Run("snapshot deleted during upload", func(t *testing.T) { deleteDuringUpload(t, c, srv, a) })

	var backup retained
	t.Run("retained backup", func(t *testing.T) { backup = retainBackup(t, c, a) })

	t.Run("everything deleted", func(t *testing.T) {
		for _, path := range []string{"/api/v1/persistentvolumes", "/api/v1/persistentvolumeclaims", snapAPI + "/volumesnapshots"} {
			list, err := c.api.get(path)
			if err != nil {
				t.Fatal(err)
			}
			if items, _ := list["items"].([]any); len(items) > 0 {
				t.Errorf("%s left: %d", path, len(items))
			}
		}
		var want []string
		if backup.handle != "" {
			// The backup, then its metadata object (objects are listed in the order stored), whose
			// name ends in the mode letter of the id ("tsm1:i:..." or "tsm1:f:...").
			want = []string{objectOf(backup.handle), "/" + filepath.Base(objectOf(backup.handle)) + "." + backup.handle[5:6] + ".json"}
		}
		if got := srv.objects(t); !sameObjects(got, want) {
			t.Errorf("TSM holds %v, want only the retained backup and its metadata %v", got, want)
		}
	})

	// The first cluster is gone: its nodes, its control plane, the drivers' state.
	b.stop()
	a.stop()
	c.stop()
	if backup.handle == "" {
		t.Fatal("disaster recovery: no retained backup to recover (the step before failed)")
	}
	t.Run("disaster recovery", func(t *testing.T) { disasterRecovery(t, srv, backup) })
	if got := srv.objects(t); len(got) != 0 {
		t.Errorf("TSM is not empty at the end: %v", got)
	}
}

func sameObjects(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.Contains(got[i], want[i]) {
			return false
		}
	}
	return true
}

// roundtrip: PVC -> data -> VolumeSnapshot readyToUse (false first) -> source overwritten ->
// restore on the same node and on the other node, data equal to the snapshot's.
func roundtrip(t *testing.T, c *cluster, srv *server, a, b *kubeNode, name string, block bool, class string) {
	src := "src-" + name
	createPVC(t, c, src, a.name, block, volSizeStr, "")
	waitBound(t, c, src, time.Minute)
	m := a.publish(t, src)
	want := fill(t, m, "before "+name, volSize)
	// A paced upload, so that readyToUse=false is observable before true.
	srv.fault(t, "slow,cmd=backup,rate=8M,count=1")
	snap := "snap-" + name
	createVS(t, c, snap, class, src)
	s := waitReady(t, c, snap, readyWait)
	if !s.sawNotReady {
		t.Errorf("VolumeSnapshot %s was never readyToUse=false before true", snap)
	}
	if len(s.errors) > 0 {
		t.Errorf("VolumeSnapshot %s reported errors on the way: %v", snap, s.errors)
	}
	if wantMode := map[string]string{"tsm-image": ":i:", "tsm-file": ":f:"}[class]; !strings.Contains(s.handle, wantMode) {
		t.Errorf("snapshot handle %s is not of the class's mode (%s)", s.handle, wantMode)
	}
	if after := fill(t, m, "after "+name, volSize); after.equal(want) {
		t.Fatal("the overwrite did not change the source")
	}
	for _, n := range []*kubeNode{a, b} {
		r := "restore-" + name + "-" + n.name
		createPVC(t, c, r, n.name, block, volSizeStr, snap)
		waitBound(t, c, r, 2*time.Minute)
		got := read(t, n.publish(t, r), volSize)
		if !got.equal(want) {
			t.Errorf("restore of %s on %s: data differs from the snapshot's\n got  %v\n want %v", snap, n.name, got, want)
		}
	}
}

// sigtermDuringUpload: the driver gets SIGTERM (a rollout) while dsmc uploads; the restarted
// driver finishes the upload, the snapshot becomes ready and holds the snapshot-time data.
func sigtermDuringUpload(t *testing.T, c *cluster, srv *server, a *kubeNode) {
	createPVC(t, c, "src-sigterm", a.name, true, volSizeStr, "")
	waitBound(t, c, "src-sigterm", time.Minute)
	m := a.publish(t, "src-sigterm")
	want := fill(t, m, "before sigterm", volSize)
	srv.fault(t, "slow,cmd=backup,rate=2M")
	createVS(t, c, "snap-sigterm", "tsm-image", "src-sigterm")
	vsc := contentOf(t, c, "snap-sigterm")
	object := objectOf(str(vsc, "status", "snapshotHandle"))
	poll(t, "dsmc uploads "+object, time.Minute, func() (bool, string) { return len(processesWith(object)) > 0, "no dsmc" })
	fill(t, m, "after the cut", volSize)
	srv.admin(t, "fault", "clear")
	a.restartDriver(t)
	s := waitReady(t, c, "snap-sigterm", readyWait)
	if s.creationTime == "" || s.handle != str(vsc, "status", "snapshotHandle") {
		t.Errorf("the snapshot changed across the restart: handle %s -> %s", str(vsc, "status", "snapshotHandle"), s.handle)
	}
	createPVC(t, c, "restore-sigterm", a.name, true, volSizeStr, "snap-sigterm")
	waitBound(t, c, "restore-sigterm", 2*time.Minute)
	if got := read(t, a.publish(t, "restore-sigterm"), volSize); !got.equal(want) {
		t.Errorf("after a SIGTERM during the upload the snapshot holds other data than at its creation\n got  %v\n want %v", got, want)
	}
}

// failureThenSuccess: the first upload fails (connection lost), the snapshotter's retries make
// it succeed; the VolumeSnapshot must hold the data of its creationTime, not data written
// after it.
func failureThenSuccess(t *testing.T, c *cluster, srv *server, a, b *kubeNode) {
	createPVC(t, c, "src-retry", a.name, true, volSizeStr, "")
	waitBound(t, c, "src-retry", time.Minute)
	m := a.publish(t, "src-retry")
	want := fill(t, m, "at creationTime", volSize)
	srv.fault(t, "connlost,cmd=backup,after=1M,count=1")
	createVS(t, c, "snap-retry", "tsm-image", "src-retry")
	vsc := contentOf(t, c, "snap-retry")
	// creationTime is set: everything written from now on is after it.
	late := fill(t, m, "after creationTime", volSize)
	s := waitReady(t, c, "snap-retry", readyWait)
	if faults := srv.admin(t, "fault", "list"); strings.Contains(faults, "connlost") {
		t.Fatalf("the injected upload failure never fired (fault list: %s)", faults)
	}
	if s.creationTime != str(vsc, "status", "creationTime") && s.creationTime == "" {
		t.Errorf("creationTime lost: %s", s.creationTime)
	}
	t.Logf("errors reported while the upload failed and was retried: %v", s.errors)
	createPVC(t, c, "restore-retry", b.name, true, volSizeStr, "snap-retry")
	waitBound(t, c, "restore-retry", 2*time.Minute)
	got := read(t, b.publish(t, "restore-retry"), volSize)
	switch {
	case got.equal(want):
	case got.equal(late):
		t.Errorf("DATA SAFETY: after a failed upload the VolumeSnapshot (creationTime %s) holds data written after its creationTime: the retry backed up a new cut instead of the one taken at creation", s.creationTime)
	default:
		t.Errorf("the restored snapshot holds neither the creation-time data nor the later data\n got  %v\n want %v", got, want)
	}
}

// slowRestore: a restore that outlasts csi-provisioner's --timeout; the provisioner calls
// again until the driver has finished, and the PVC binds with the right data.
func slowRestore(t *testing.T, c *cluster, srv *server, a, b *kubeNode) {
	createPVC(t, c, "src-slow", a.name, true, volSizeStr, "")
	waitBound(t, c, "src-slow", time.Minute)
	want := fill(t, a.publish(t, "src-slow"), "slow restore", volSize)
	createVS(t, c, "snap-slow", "tsm-image", "src-slow")
	waitReady(t, c, "snap-slow", readyWait)
	// 16 MiB at 1.5 MiB/s: about 11 s, more than twice the provisioner's timeout.
	srv.fault(t, "slow,cmd=restore,rate=1536K")
	createPVC(t, c, "restore-slow", b.name, true, volSizeStr, "snap-slow")
	took := waitBound(t, c, "restore-slow", 3*time.Minute)
	if took < provisionerTimeout {
		t.Errorf("the restore took %v, not longer than the provisioner's timeout %v: the step tests nothing", took, provisionerTimeout)
	}
	srv.admin(t, "fault", "clear")
	if got := read(t, b.publish(t, "restore-slow"), volSize); !got.equal(want) {
		t.Errorf("slow restore: data differs\n got  %v\n want %v", got, want)
	}
}

// deleteDuringUpload: the VolumeSnapshot is deleted while dsmc uploads it; dsmc stops, the
// objects go away and TSM keeps nothing of it.
func deleteDuringUpload(t *testing.T, c *cluster, srv *server, a *kubeNode) {
	createPVC(t, c, "src-del", a.name, true, volSizeStr, "")
	waitBound(t, c, "src-del", time.Minute)
	fill(t, a.publish(t, "src-del"), "deleted during upload", volSize)
	srv.fault(t, "slow,cmd=backup,rate=1M")
	createVS(t, c, "snap-del", "tsm-image", "src-del")
	vsc := contentOf(t, c, "snap-del")
	object := objectOf(str(vsc, "status", "snapshotHandle"))
	poll(t, "dsmc uploads "+object, time.Minute, func() (bool, string) { return len(processesWith(object)) > 0, "no dsmc" })
	deleteVS(t, c, "snap-del")
	gone(t, c, "VolumeSnapshotContent "+str(vsc, "metadata", "name"), vscPath(str(vsc, "metadata", "name")))
	poll(t, "dsmc of the deleted snapshot stops", time.Minute, func() (bool, string) {
		p := processesWith(object)
		return len(p) == 0, "pids " + strings.Join(p, " ")
	})
	for _, o := range srv.objects(t) {
		if strings.Contains(o, object) {
			t.Errorf("TSM keeps the deleted snapshot: %s", o)
		}
	}
}

type retained struct {
	handle  string
	content string // the VolumeSnapshotContent's name in the first cluster
	size    string
	data    content
}

// retainBackup takes a snapshot with deletionPolicy Retain and deletes the VolumeSnapshot and
// the volume: the backup stays in TSM only.
func retainBackup(t *testing.T, c *cluster, a *kubeNode) retained {
	createPVC(t, c, "src-dr", a.name, false, volSizeStr, "")
	waitBound(t, c, "src-dr", time.Minute)
	m := a.publish(t, "src-dr")
	want := fill(t, m, "disaster recovery", volSize)
	createVS(t, c, "snap-dr", retainClass, "src-dr")
	s := waitReady(t, c, "snap-dr", readyWait)
	vs, err := c.api.get(vsPath("snap-dr"))
	if err != nil {
		t.Fatal(err)
	}
	m.release(t)
	deleteVS(t, c, "snap-dr")
	deletePVC(t, c, "src-dr")
	return retained{handle: s.handle, content: str(vs, "status", "boundVolumeSnapshotContentName"), size: str(vs, "status", "restoreSize"), data: want}
}

// disasterRecovery: a fresh control plane and fresh driver state; `tsm-csi-sidecar snapshots
// import`, run as in node-b's driver container, piped into `kubectl apply -f -`, brings the
// backup back under its original VolumeSnapshot and VolumeSnapshotContent names (read from its
// metadata object in TSM); the VolumeSnapshot becomes ready, and a PVC restored from it holds
// the data, verified against the snapshot's digest.
func disasterRecovery(t *testing.T, srv *server, backup retained) {
	c := startCluster(t, filepath.Join(root, "c2"))
	a := startNode(t, c, srv, "node-a")
	b := startNode(t, c, srv, "node-b")
	const vs = "snap-dr"
	manifests := importBackups(t, c, srv, b)
	apply := exec.Command(filepath.Join(k8sCache, "bin", "kubectl"), "--kubeconfig="+c.adminKC, "apply", "-f", "-")
	apply.Stdin = strings.NewReader(manifests)
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("snapshots import | kubectl apply -f -: %v\n%s\nmanifests:\n%s", err, out, manifests)
	}
	content, err := c.api.get(vscPath(backup.content))
	if err != nil {
		t.Fatalf("the import did not bring back VolumeSnapshotContent %s: %v\n%s", backup.content, err, manifests)
	}
	if got := str(content, "spec", "source", "snapshotHandle"); got != backup.handle {
		t.Errorf("the imported content's handle is %s, want %s", got, backup.handle)
	}
	waitReady(t, c, vs, readyWait)
	createPVC(t, c, "dr-restore", a.name, false, volSizeStr, vs)
	waitBound(t, c, "dr-restore", 2*time.Minute)
	m := a.publish(t, "dr-restore")
	if got := read(t, m, volSize); !got.equal(backup.data) {
		t.Errorf("the recovered volume differs from the backup\n got  %v\n want %v", got, backup.data)
	}
	if lines := grepFile(a.driver.Log, "Restored data verified against the snapshot's digest"); !strings.Contains(strings.Join(lines, "\n"), "verified") {
		t.Errorf("node-a did not verify the recovered volume against the snapshot's digest")
	}
	m.release(t)
	deletePVC(t, c, "dr-restore")
	// Done: let Kubernetes delete the backup from TSM.
	if _, err := c.api.patch(vscPath(backup.content), obj{"spec": obj{"deletionPolicy": "Delete"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.api.delete(vsPath(vs)); err != nil {
		t.Fatal(err)
	}
	gone(t, c, "VolumeSnapshot "+vs, vsPath(vs))
	gone(t, c, "VolumeSnapshotContent "+backup.content, vscPath(backup.content))
}

// importBackups runs `tsm-csi-sidecar snapshots import` as an administrator runs it with
// `kubectl exec` in node n's driver container: the container's arguments as they are (the
// harness's paths replaced as for the driver) and its NODE_NAME, and returns what it printed.
func importBackups(t *testing.T, c *cluster, srv *server, n *kubeNode) string {
	t.Helper()
	ds, cm := c.daemonSet()
	ctr := container(t, ds, "tsm-csi-sidecar")
	env := containerEnv(t, ctr, cm, n.name, dsName+"-"+n.name)
	args := []string{"snapshots", "import"}
	for _, a := range containerArgs(t, ctr, env) {
		if !strings.HasPrefix(a, "--state-dir=") {
			args = append(args, a)
		}
	}
	args = append(args, "--state-dir="+n.driver.StateDir, "--dsmc="+bins.Dsmc, "--tsm-volume-prefix="+prefix, "--tsm-meta-dir="+srv.dir+".meta")
	cmd := exec.Command(bins.Driver, args...)
	agent := field(cm, "data", "agent-prefix").(string) + n.name
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+srv.dir, "DSMSIM_NODE="+agent, "NODE_NAME="+env["NODE_NAME"])
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tsm-csi-sidecar %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	t.Logf("snapshots import: %s", strings.TrimSpace(errb.String()))
	return out.String()
}
