//go:build k8se2e

package k8s

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const (
	driverName  = "tsm.csi.storage-protect.io"
	topologyKey = "topology." + driverName + "/node"
	dsNamespace = "tsm-csi"
	dsName      = "tsm-csi-node"
)

// provisionerTimeout replaces the manifest's --timeout of csi-provisioner so that a restore
// outlasting it takes seconds, not minutes. Every other argument is the manifest's.
const provisionerTimeout = 5 * time.Second

// kubeNode is one Kubernetes node: the driver process and the DaemonSet's csi-provisioner and
// csi-snapshotter in --node-deployment mode, authenticated as the manifests' ServiceAccount,
// plus a kubelet stand-in that stages and publishes volumes through the Node service.
type kubeNode struct {
	c        *cluster
	name     string
	dir      string
	driver   *harness.Driver
	sidecars []*proc
	stopped  bool
}

// daemonSet reads the applied DaemonSet and the ConfigMap it refers to from the API server.
func (c *cluster) daemonSet() (ds obj, cm obj) {
	c.t.Helper()
	ds, err := c.api.get("/apis/apps/v1/namespaces/" + dsNamespace + "/daemonsets/" + dsName)
	if err != nil {
		c.t.Fatalf("the kustomization installed no DaemonSet %s/%s: %v", dsNamespace, dsName, err)
	}
	cm, err = c.api.get("/api/v1/namespaces/" + dsNamespace + "/configmaps/tsm-csi-dsm-config")
	if err != nil {
		c.t.Fatalf("the kustomization installed no ConfigMap tsm-csi-dsm-config: %v", err)
	}
	return ds, cm
}

func container(t *testing.T, ds obj, name string) obj {
	t.Helper()
	list, _ := field(ds, "spec", "template", "spec", "containers").([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	t.Fatalf("daemonset.yaml has no container %q", name)
	return nil
}

// containerEnv resolves a container's env the way the kubelet does for the fields the
// manifests use: value, fieldRef (spec.nodeName, metadata.name, metadata.namespace) and
// configMapKeyRef.
func containerEnv(t *testing.T, ctr, cm obj, node, pod string) map[string]string {
	t.Helper()
	env := map[string]string{}
	list, _ := ctr["env"].([]any)
	for _, x := range list {
		e := x.(map[string]any)
		name := e["name"].(string)
		switch {
		case e["value"] != nil:
			env[name] = e["value"].(string)
		case field(e, "valueFrom", "fieldRef") != nil:
			switch p := str(e, "valueFrom", "fieldRef", "fieldPath"); p {
			case "spec.nodeName":
				env[name] = node
			case "metadata.name":
				env[name] = pod
			case "metadata.namespace":
				env[name] = dsNamespace
			default:
				t.Fatalf("env %s: fieldPath %s not handled by the test", name, p)
			}
		case field(e, "valueFrom", "configMapKeyRef") != nil:
			key := str(e, "valueFrom", "configMapKeyRef", "key")
			v, ok := field(cm, "data", key).(string)
			if !ok {
				t.Fatalf("env %s: ConfigMap has no key %q", name, key)
			}
			env[name] = v
		default:
			t.Fatalf("env %s: source not handled by the test", name)
		}
	}
	return env
}

// expand substitutes $(VAR) references in an argument, as the kubelet does.
func expand(arg string, env map[string]string) string {
	for k, v := range env {
		arg = strings.ReplaceAll(arg, "$("+k+")", v)
	}
	return arg
}

func containerArgs(t *testing.T, ctr obj, env map[string]string) []string {
	var out []string
	list, _ := ctr["args"].([]any)
	for _, a := range list {
		out = append(out, expand(a.(string), env))
	}
	return out
}

// startNode starts a node: creates its Node object and the DaemonSet's Pod object (the
// provisioner reads its own Pod for capacity ownership), the driver with the DaemonSet's
// arguments (paths replaced by the test's), and the two sidecars.
func startNode(t *testing.T, c *cluster, srv *server, name string) *kubeNode {
	t.Helper()
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	n := &kubeNode{c: c, name: name, dir: dir}
	ds, cm := c.daemonSet()
	pod := dsName + "-" + name
	c.createNode(name)
	c.createPod(ds, pod, name)

	drv := container(t, ds, "tsm-csi-sidecar")
	env := containerEnv(t, drv, cm, name, pod)
	var args []string
	for _, a := range containerArgs(t, drv, env) {
		switch {
		case strings.HasPrefix(a, "--endpoint="), strings.HasPrefix(a, "--node-id="),
			strings.HasPrefix(a, "--state-dir="), strings.HasPrefix(a, "--metrics-address="):
			// the harness sets the socket, node id and state directory; no metrics port
		case strings.HasPrefix(a, "--driver-name=") && a != "--driver-name="+driverName:
			t.Fatalf("daemonset.yaml: %s, but csidriver.yaml and the classes name %s", a, driverName)
		default:
			args = append(args, a)
		}
	}
	agent := field(cm, "data", "agent-prefix").(string) + name
	srv.agent(t, agent)
	d, err := harness.Start(context.Background(), harness.DriverConfig{
		Bin: bins, Dir: dir, StateDir: filepath.Join(dir, "state"), NodeID: name, TSMNode: agent,
		ServerDir: srv.dir, Prefix: prefix, Args: args,
	})
	if err != nil {
		t.Fatalf("node %s: driver: %v", name, err)
	}
	n.driver = d

	sa := c.serviceAccountKubeconfig(dsNamespace, str(ds, "spec", "template", "spec", "serviceAccountName"))
	for _, sc := range []string{"csi-provisioner", "csi-snapshotter"} {
		ctr := container(t, ds, sc)
		image := str(ctr, "image")
		if want := ":" + sidecarVersions[sc]; !strings.HasSuffix(image, want) {
			t.Errorf("daemonset.yaml: %s image %s, the e2e runs %s", sc, image, sidecarVersions[sc])
		}
		env := containerEnv(t, ctr, cm, name, pod)
		var args []string
		for _, a := range containerArgs(t, ctr, env) {
			switch {
			case strings.HasPrefix(a, "--csi-address="):
				a = "--csi-address=" + d.Socket
			case sc == "csi-provisioner" && strings.HasPrefix(a, "--timeout="):
				a = "--timeout=" + provisionerTimeout.String()
			}
			args = append(args, a)
		}
		args = append(args, "--kubeconfig="+sa)
		var envList []string
		for k, v := range env {
			envList = append(envList, k+"="+v)
		}
		p, err := startProc(name+"-"+sc, filepath.Join(dir, sc+".log"), filepath.Join(k8sCache, "bin", sc), args, envList, true)
		if err != nil {
			t.Fatal(err)
		}
		n.sidecars = append(n.sidecars, p)
	}
	t.Cleanup(n.stop)
	return n
}

// stop ends the sidecars, then the driver, and checks the sidecars' logs for what the
// manifests would get wrong: forbidden API calls, unknown flags, deprecated gates.
func (n *kubeNode) stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	t := n.c.t
	for i := len(n.sidecars) - 1; i >= 0; i-- {
		if err := n.sidecars[i].stop(15 * time.Second); err != nil {
			t.Errorf("node %s: %v", n.name, err)
		}
	}
	for _, p := range n.sidecars {
		if bad := grepFile(p.log, "forbidden", "unknown flag", "flag provided but not defined",
			"will be removed", "unknown service csi.v1.GroupController"); len(bad) > 0 {
			t.Errorf("node %s: %s logged what the manifests or the driver get wrong:\n%s", n.name, p.name, strings.Join(bad, "\n"))
		}
	}
	if n.driver != nil {
		if err := n.driver.Stop(); err != nil {
			t.Errorf("node %s: stopping the driver: %v\n%s", n.name, err, n.driver.Tail(30))
		}
		if t.Failed() {
			t.Logf("driver log of %s:\n%s", n.name, n.driver.Tail(80))
			for _, p := range n.sidecars {
				t.Logf("%s log:\n%s", p.name, p.tail(40))
			}
		}
	}
}

// createPod makes the Pod the DaemonSet controller would make for node: the template's spec
// with nodeName set, owned by the DaemonSet. No kubelet runs it; csi-provisioner reads it to
// find the owner of its CSIStorageCapacity objects.
func (c *cluster) createPod(ds obj, name, node string) {
	c.t.Helper()
	spec := field(ds, "spec", "template", "spec").(map[string]any)
	spec["nodeName"] = node
	_, err := c.api.create("/api/v1/namespaces/"+dsNamespace+"/pods", obj{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": obj{
			"name": name, "namespace": dsNamespace,
			"labels": field(ds, "spec", "template", "metadata", "labels"),
			"ownerReferences": []any{obj{
				"apiVersion": "apps/v1", "kind": "DaemonSet", "name": dsName,
				"uid": str(ds, "metadata", "uid"), "controller": true, "blockOwnerDeletion": true,
			}},
		},
		"spec": spec,
	})
	if err != nil {
		c.t.Fatalf("create the DaemonSet's Pod %s: %v", name, err)
	}
}

// restartDriver ends the driver with SIGTERM (as the kubelet does on a rollout) and starts it
// again. The sidecars lose their connection meanwhile; they are restarted if they exit.
func (n *kubeNode) restartDriver(t *testing.T) {
	t.Helper()
	if err := n.driver.Stop(); err != nil {
		t.Fatalf("node %s: SIGTERM of the driver: %v\n%s", n.name, err, n.driver.Tail(30))
	}
	if err := n.driver.Restart(context.Background()); err != nil {
		t.Fatalf("node %s: driver restart: %v", n.name, err)
	}
}

// mounted is a volume staged and published by the kubelet stand-in.
type mounted struct {
	n       *kubeNode
	volID   string
	cap     *csi.VolumeCapability
	staging string
	target  string // the device file (block) or the directory (file system)
	done    bool
}

// publish stages and publishes the volume of a bound PVC on its node, as the kubelet does for
// a pod; release (or the test's end) undoes it.
func (n *kubeNode) publish(t *testing.T, pvc string) *mounted {
	t.Helper()
	claim, err := n.c.api.get(pvcPath(pvc))
	if err != nil {
		t.Fatalf("kubelet: PVC %s: %v", pvc, err)
	}
	pv, err := n.c.api.get(pvPath(str(claim, "spec", "volumeName")))
	if err != nil {
		t.Fatalf("kubelet: PV of %s: %v", pvc, err)
	}
	if got := str(pv, "spec", "csi", "driver"); got != driverName {
		t.Fatalf("kubelet: PV of %s has driver %q", pvc, got)
	}
	if got := str(pv, "spec", "nodeAffinity", "required", "nodeSelectorTerms"); !strings.Contains(got, `"`+n.name+`"`) {
		t.Fatalf("kubelet: PV of %s is not pinned to node %s: nodeAffinity %s", pvc, n.name, got)
	}
	m := &mounted{n: n, volID: str(pv, "spec", "csi", "volumeHandle")}
	m.cap = &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	if str(pv, "spec", "volumeMode") == "Block" {
		m.cap.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
	} else {
		m.cap.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: str(pv, "spec", "csi", "fsType")}}
	}
	m.staging = filepath.Join(n.dir, "kubelet", "staging", m.volID)
	m.target = filepath.Join(n.dir, "kubelet", "pods", pvc, m.volID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := n.driver.Node().NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: m.volID, StagingTargetPath: m.staging, VolumeCapability: m.cap}); err != nil {
		t.Fatalf("kubelet: NodeStageVolume %s on %s: %v", pvc, n.name, err)
	}
	t.Cleanup(func() { m.release(t) })
	if _, err := n.driver.Node().NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: m.volID, StagingTargetPath: m.staging, TargetPath: m.target, VolumeCapability: m.cap}); err != nil {
		t.Fatalf("kubelet: NodePublishVolume %s on %s: %v", pvc, n.name, err)
	}
	return m
}

// release unpublishes and unstages the volume (the pod is gone).
func (m *mounted) release(t *testing.T) {
	if m.done {
		return
	}
	m.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := m.n.driver.Node().NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: m.volID, TargetPath: m.target}); err != nil {
		t.Errorf("kubelet: NodeUnpublishVolume %s: %v", m.volID, err)
	}
	if _, err := m.n.driver.Node().NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: m.volID, StagingTargetPath: m.staging}); err != nil {
		t.Errorf("kubelet: NodeUnstageVolume %s: %v", m.volID, err)
	}
}

func (m *mounted) String() string { return fmt.Sprintf("%s on %s", m.volID, m.n.name) }
