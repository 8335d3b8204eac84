//go:build k8se2e

package k8s

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster is a control plane run as local processes: etcd, kube-apiserver,
// kube-controller-manager (PV controllers only) and snapshot-controller, with the snapshot CRDs
// and the project's manifests applied. There is no kubelet and no scheduler: the test creates
// the Node objects and picks nodes with the selected-node annotation.
type cluster struct {
	t          *testing.T
	dir        string
	server     string // https://127.0.0.1:port
	adminToken string
	adminKC    string
	api        *api
	procs      []*proc // in start order
}

func startCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: dir}
	// Registered first so it runs last, after the nodes' cleanups.
	t.Cleanup(c.stop)
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("control plane: %s: %v", what, err)
		}
	}
	for _, d := range []string{"pki", "etcd", "certs", "logs"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o700), "mkdir")
	}
	must(writeSAKeys(filepath.Join(dir, "pki")), "service account keys")
	tok := make([]byte, 16)
	rand.Read(tok)
	c.adminToken = hex.EncodeToString(tok)
	must(os.WriteFile(filepath.Join(dir, "pki", "tokens.csv"), []byte(c.adminToken+",admin,admin-uid,system:masters\n"), 0o600), "token file")

	clientPort, err := freePort()
	must(err, "port")
	peerPort, err := freePort()
	must(err, "port")
	apiPort, err := freePort()
	must(err, "port")
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	c.server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.adminKC = filepath.Join(dir, "admin.kubeconfig")
	must(writeKubeconfig(c.adminKC, c.server, c.adminToken), "kubeconfig")
	c.api = newAPI(c.server, c.adminToken)

	c.start("etcd", "--name", "e2e", "--data-dir", filepath.Join(dir, "etcd"), "--unsafe-no-fsync",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL)
	c.waitHTTP("etcd", etcdURL+"/health", "")

	c.start("kube-apiserver", "--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+filepath.Join(dir, "pki", "tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "pki", "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "pki", "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
		// The DaemonSet's node plugin is privileged; its Pod objects are created by hand.
		"--allow-privileged=true")
	c.waitHTTP("kube-apiserver", c.server+"/readyz", c.adminToken)

	c.start("kube-controller-manager", "--kubeconfig="+c.adminKC,
		"--controllers=persistentvolume-binder-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller",
		"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false")

	// The six snapshot CRDs of external-snapshotter's client module, then the project's
	// kustomization exactly as a user applies it.
	c.kubectl("apply", "-k", filepath.Join(k8sCache, "crd"))
	c.kubectl("wait", "--for=condition=established", "--timeout=60s", "crd", "--all")
	c.kubectl("apply", "-k", filepath.Join(repoRoot, "deploy", "kubernetes"))
	// The cluster's snapshot-controller with upstream RBAC plus the project's
	// snapshot-controller-distributed.yaml (applied by the kustomization above): a missing rule
	// there shows up as "forbidden" in its log.
	c.kubectl("apply", "-f", filepath.Join(k8sCache, "rbac-snapshot-controller.yaml"))
	scKC := c.serviceAccountKubeconfig("kube-system", "snapshot-controller")
	c.start("snapshot-controller", "--kubeconfig="+scKC, "--leader-election=false", "--enable-distributed-snapshotting", "--v=4")
	return c
}

func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	p, err := startProc(name, filepath.Join(c.dir, "logs", name+".log"), filepath.Join(k8sCache, "bin", name), args, nil, false)
	if err != nil {
		c.t.Fatalf("control plane: %v", err)
	}
	c.procs = append(c.procs, p)
	return p
}

// waitHTTP polls url until it answers 200, the process exits or a minute passes.
func (c *cluster) waitHTTP(name, url, token string) {
	c.t.Helper()
	p := c.procs[len(c.procs)-1]
	api := newAPI("", token)
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := api.http.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if !p.running() {
			c.t.Fatalf("control plane: %s exited before it was ready:\n%s", name, p.tail(30))
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("control plane: %s not ready within a minute (%v):\n%s", name, err, p.tail(30))
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// stop ends the processes in reverse start order, waiting for each.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(15 * time.Second); err != nil {
			c.t.Errorf("control plane: %v", err)
		}
	}
	c.procs = nil
}

// kubectl runs the built kubectl as admin and returns its output.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) kubectlErr(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(k8sCache, "bin", "kubectl"), append([]string{"--kubeconfig=" + c.adminKC}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serviceAccountKubeconfig mints a token of a ServiceAccount (TokenRequest) and writes a
// kubeconfig that authenticates with it.
func (c *cluster) serviceAccountKubeconfig(namespace, name string) string {
	c.t.Helper()
	tok := strings.TrimSpace(c.kubectl("create", "token", name, "-n", namespace, "--duration=6h"))
	path := filepath.Join(c.dir, "pki", namespace+"-"+name+".kubeconfig")
	if err := writeKubeconfig(path, c.server, tok); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// createNode makes the Node object a kubelet would register, with the driver's topology label
// (snapshot-controller --enable-distributed-snapshotting matches PVs against it).
func (c *cluster) createNode(name string) {
	c.t.Helper()
	_, err := c.api.create("/api/v1/nodes", obj{
		"apiVersion": "v1", "kind": "Node",
		"metadata": obj{"name": name, "labels": obj{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
			topologyKey: name,
		}},
	})
	if err != nil {
		c.t.Fatalf("create Node %s: %v", name, err)
	}
}

func writeSAKeys(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func writeKubeconfig(path, server, token string) error {
	return os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: %s
contexts:
- name: c
  context:
    cluster: e2e
    user: u
current-context: c
`, server, token)), 0o600)
}
