//go:build k8se2e

package k8s

import (
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
			want = []string{objectOf(backup.handle)}
		}
		if got := srv.objects(t); !sameObjects(got, want) {
			t.Errorf("TSM holds %v, want only the retained backup %v", got, want)
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
	handle string
	size   string
	data   content
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
	return retained{handle: s.handle, size: str(vs, "status", "restoreSize"), data: want}
}

// disasterRecovery: a fresh control plane and fresh driver state; a VolumeSnapshotContent
// made by hand with the backup's snapshot handle (pre-provisioned, Retain) and a
// VolumeSnapshot bound to it become ready, and a PVC restored from it holds the data.
func disasterRecovery(t *testing.T, srv *server, backup retained) {
	c := startCluster(t, filepath.Join(root, "c2"))
	a := startNode(t, c, srv, "node-a")
	b := startNode(t, c, srv, "node-b")
	const vsc, vs = "recovered-content", "recovered"
	_, err := c.api.create(snapAPI+"/volumesnapshotcontents", obj{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
		"metadata": obj{"name": vsc, "labels": obj{
			// With distributed snapshotting only the node named here checks the content.
			"snapshot.storage.kubernetes.io/managed-by": b.name,
		}},
		"spec": obj{
			"deletionPolicy":          "Retain",
			"driver":                  driverName,
			"source":                  obj{"snapshotHandle": backup.handle},
			"volumeSnapshotClassName": "tsm-image",
			"volumeSnapshotRef":       obj{"name": vs, "namespace": ns},
		},
	})
	if err != nil {
		t.Fatalf("create the VolumeSnapshotContent: %v", err)
	}
	if _, err := c.api.create(snapAPI+"/namespaces/"+ns+"/volumesnapshots", obj{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": obj{"name": vs},
		"spec":     obj{"source": obj{"volumeSnapshotContentName": vsc}},
	}); err != nil {
		t.Fatalf("create the VolumeSnapshot: %v", err)
	}
	waitReady(t, c, vs, readyWait)
	createPVC(t, c, "dr-restore", a.name, false, volSizeStr, vs)
	waitBound(t, c, "dr-restore", 2*time.Minute)
	m := a.publish(t, "dr-restore")
	if got := read(t, m, volSize); !got.equal(backup.data) {
		t.Errorf("the recovered volume differs from the backup\n got  %v\n want %v", got, backup.data)
	}
	m.release(t)
	deletePVC(t, c, "dr-restore")
	// Done: let Kubernetes delete the backup from TSM.
	if _, err := c.api.patch(vscPath(vsc), obj{"spec": obj{"deletionPolicy": "Delete"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.api.delete(vsPath(vs)); err != nil {
		t.Fatal(err)
	}
	gone(t, c, "VolumeSnapshot "+vs, vsPath(vs))
	gone(t, c, "VolumeSnapshotContent "+vsc, vscPath(vsc))
}
