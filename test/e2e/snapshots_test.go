package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
)

// snapshotsRun is one run of `tsm-csi-sidecar snapshots ...` as a process, with the flags the
// DaemonSet would give it, on a machine that has never seen the snapshots: a state directory of
// its own and the dsmc of agent node NODE-C.
type snapshotsRun struct {
	stdout, stderr string
	rc             int
}

func runSnapshots(t *testing.T, srv *server, args ...string) snapshotsRun {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	flags := []string{
		"--dsmc=" + bins.Dsmc, "--tsm-asnodename=" + asNode, "--tsm-volume-prefix=" + prefix,
		"--state-dir=" + state, "--tsm-meta-dir=" + srv.dir + ".meta",
	}
	cmd := exec.Command(bins.Driver, append(append([]string{"snapshots"}, args...), flags...)...)
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+srv.dir, "DSMSIM_NODE=NODE-C", "NODE_NAME=node-c")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := snapshotsRun{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.rc = ee.ExitCode()
	case err != nil:
		t.Fatalf("tsm-csi-sidecar snapshots %v: %v", args, err)
	}
	return r
}

type listedBackup struct {
	ID             string `json:"id"`
	Mode           string `json:"mode"`
	Owner          string `json:"owner"`
	Object         string `json:"object"`
	SourceVolumeID string `json:"sourceVolumeID"`
	SizeBytes      int64  `json:"sizeBytes"`
	Meta           *struct {
		AccessType string           `json:"accessType"`
		FSType     string           `json:"fsType"`
		Node       string           `json:"node"`
		Kubernetes *catalog.KubeRef `json:"kubernetes"`
		Digest     string           `json:"digest"`
	} `json:"metadata"`
	InTSM          bool   `json:"inTSM"`
	RestoreCommand string `json:"restoreCommand"`
}

// TestSnapshotsCommand takes snapshots with the driver (image and file mode, with and without
// the Kubernetes names csi-snapshotter passes, and one whose metadata object is gone as for a
// backup from before metadata objects), then runs `tsm-csi-sidecar snapshots list`, `import`
// and `show` as processes on another node: everything is listed with its metadata, the
// manifests name the originals, and the restore command show prints, run by hand, gives back
// the snapshot's bytes (their digest is the one the metadata holds).
func TestSnapshotsCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A", "NODE-C")
	a := startNode(t, srv, "node-a", "NODE-A", nodeOptions{})
	const size = 16 << 20
	k8s := func(ns, name, content string) map[string]string {
		return map[string]string{
			"csi.storage.k8s.io/volumesnapshot/name":        name,
			"csi.storage.k8s.io/volumesnapshot/namespace":   ns,
			"csi.storage.k8s.io/volumesnapshotcontent/name": content,
		}
	}
	with := func(p map[string]string, mode string) map[string]string { p["mode"] = mode; return p }

	blockCap := capability(true, "")
	blockVol := a.createVolume("cli-block", size, blockCap, nil)
	dev := a.publish(blockVol.VolumeId, blockCap)
	writeAt(t, dev, pattern("cli block", size), 0)
	db := a.snapshotReady("cli-db", blockVol.VolumeId, with(k8s("prod", "db-snap", "snapcontent-db"), "image"))
	a.deleteSnapshotAtEnd(db.SnapshotId)

	fsCap := capability(false, "ext4")
	fsVol := a.createVolume("cli-fs", size, fsCap, nil)
	writeTree(t, a.publish(fsVol.VolumeId, fsCap), "cli fs")
	web := a.snapshotReady("cli-web", fsVol.VolumeId, with(k8s("dev", "web-snap", "snapcontent-web"), "file"))
	a.deleteSnapshotAtEnd(web.SnapshotId)

	noNames := a.snapshotReady("cli-nonames", blockVol.VolumeId, map[string]string{"mode": "image"})
	a.deleteSnapshotAtEnd(noNames.SnapshotId)
	legacy := a.snapshotReady("cli-legacy", blockVol.VolumeId, with(k8s("prod", "legacy", "snapcontent-legacy"), "image"))
	a.deleteSnapshotAtEnd(legacy.SnapshotId)
	legacyMeta := filepath.Join(srv.dir+".meta", filepath.Base(objectOfID(legacy.SnapshotId))+".i.json")
	del := exec.Command(bins.Dsmc, "delete", "backup", "-noprompt", "-objtype=file", "-asnodename="+asNode, legacyMeta)
	del.Env = append(os.Environ(), "DSMSIM_ROOT="+srv.dir, "DSMSIM_NODE=NODE-A")
	if out, err := del.CombinedOutput(); err != nil {
		t.Fatalf("delete the metadata object of %s: %v\n%s", legacy.SnapshotId, err, out)
	}

	t.Run("list", func(t *testing.T) {
		r := runSnapshots(t, srv, "list", "-o", "json")
		if r.rc != 0 {
			t.Fatalf("rc %d\n%s", r.rc, r.stderr)
		}
		var list []listedBackup
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("list -o json: %v\n%s", err, r.stdout)
		}
		byID := map[string]listedBackup{}
		for _, b := range list {
			byID[b.ID] = b
		}
		if len(list) != 4 {
			t.Errorf("listed %d backups, want 4:\n%s", len(list), r.stdout)
		}
		for _, tc := range []struct {
			id, access, fs, ns, name, content string
		}{
			{db.SnapshotId, "block", "", "prod", "db-snap", "snapcontent-db"},
			{web.SnapshotId, "mount", "ext4", "dev", "web-snap", "snapcontent-web"},
			{noNames.SnapshotId, "block", "", "", "", ""},
		} {
			b, ok := byID[tc.id]
			switch {
			case !ok || b.Meta == nil:
				t.Errorf("%s: not listed with metadata: %+v", tc.id, b)
			case b.Meta.AccessType != tc.access || b.Meta.FSType != tc.fs || b.Meta.Node != "node-a" || b.Owner != asNode || b.SizeBytes != size:
				t.Errorf("%s: %+v %+v", tc.id, b, *b.Meta)
			case !strings.HasPrefix(b.Meta.Digest, catalog.Algorithm+":"):
				t.Errorf("%s: no digest: %q", tc.id, b.Meta.Digest)
			case tc.ns == "" && b.Meta.Kubernetes != nil:
				t.Errorf("%s: Kubernetes names %+v, want none", tc.id, b.Meta.Kubernetes)
			case tc.ns != "" && (b.Meta.Kubernetes == nil || *b.Meta.Kubernetes != catalog.KubeRef{VolumeSnapshotName: tc.name, VolumeSnapshotNamespace: tc.ns, VolumeSnapshotContent: tc.content}):
				t.Errorf("%s: Kubernetes names %+v", tc.id, b.Meta.Kubernetes)
			}
		}
		if b, ok := byID[legacy.SnapshotId]; !ok || b.Meta != nil {
			t.Errorf("the backup without metadata: %+v (listed %v)", b, ok)
		}
		if !strings.Contains(r.stderr, "1 backup(s) without readable metadata") {
			t.Errorf("no warning about the backup without metadata:\n%s", r.stderr)
		}

		table := runSnapshots(t, srv, "list")
		for _, want := range []string{"NAMESPACE", "prod", "db-snap", "dev", "web-snap", "ext4", "block", legacy.SnapshotId} {
			if !strings.Contains(table.stdout, want) {
				t.Errorf("the table lacks %q:\n%s", want, table.stdout)
			}
		}
	})

	t.Run("import", func(t *testing.T) {
		r := runSnapshots(t, srv, "import")
		if r.rc != 0 {
			t.Fatalf("rc %d\n%s", r.rc, r.stderr)
		}
		docs := yamlDocs(t, r.stdout)
		var got []string
		for _, d := range docs {
			got = append(got, describeDoc(d))
		}
		want := []string{
			"VolumeSnapshotContent snapcontent-web managed-by=node-c handle=" + web.SnapshotId + " mode=Filesystem ref=dev/web-snap",
			"VolumeSnapshot dev/web-snap content=snapcontent-web",
			"VolumeSnapshotContent snapcontent-db managed-by=node-c handle=" + db.SnapshotId + " mode=Block ref=prod/db-snap",
			"VolumeSnapshot prod/db-snap content=snapcontent-db",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("import printed\n%s\nwant\n%s\n(stdout:\n%s)", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout)
		}
		for _, want := range []string{"skipped: " + legacy.SnapshotId + ": no metadata object", "skipped: " + noNames.SnapshotId + ": the metadata names no VolumeSnapshot"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		prod := runSnapshots(t, srv, "import", "--namespace=prod")
		if docs := yamlDocs(t, prod.stdout); prod.rc != 0 || len(docs) != 2 || describeDoc(docs[1]) != "VolumeSnapshot prod/db-snap content=snapcontent-db" {
			t.Errorf("import --namespace=prod: rc %d\n%s\n%s", prod.rc, prod.stdout, prod.stderr)
		}
		if sel := runSnapshots(t, srv, "import", "--selector=name=web-*,mode=file"); !strings.Contains(sel.stdout, "dev") || strings.Contains(sel.stdout, "prod") {
			t.Errorf("import --selector=name=web-*,mode=file:\n%s", sel.stdout)
		}
	})

	t.Run("show and restore by hand", func(t *testing.T) {
		for _, snap := range []string{db.SnapshotId, web.SnapshotId} {
			dest := filepath.Join(t.TempDir(), "by-hand.img")
			r := runSnapshots(t, srv, "show", snap, "--dest="+dest, "-o", "json")
			var b listedBackup
			if err := json.Unmarshal([]byte(r.stdout), &b); r.rc != 0 || err != nil {
				t.Fatalf("show %s: rc %d %v\n%s\n%s", snap, r.rc, err, r.stdout, r.stderr)
			}
			if !b.InTSM || b.Meta == nil || b.Object != objectOfID(snap) {
				t.Fatalf("show %s: %+v", snap, b)
			}
			want := "dsmc restore image -imagetofile -noprompt -asnodename=" + asNode + " " + b.Object + " " + dest
			if b.Mode == "file" {
				want = "dsmc restore -replace=yes -asnodename=" + asNode + " " + b.Object + " " + dest
			}
			if b.RestoreCommand != want {
				t.Errorf("show %s: restore command\n%s\nwant\n%s", snap, b.RestoreCommand, want)
			}
			// The administrator's shell, with the client (here the simulator) on the PATH.
			sh := exec.Command("sh", "-c", b.RestoreCommand)
			sh.Env = append(os.Environ(), "PATH="+bins.Dir+":"+os.Getenv("PATH"), "DSMSIM_ROOT="+srv.dir, "DSMSIM_NODE=NODE-C")
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", b.RestoreCommand, err, out)
			}
			d, err := catalog.Sum(context.Background(), dest, size, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Algorithm + ":" + d.Root; got != b.Meta.Digest {
				t.Errorf("%s restored by hand: digest %s, the metadata says %s", snap, got, b.Meta.Digest)
			}
		}
		table := runSnapshots(t, srv, "show", legacy.SnapshotId)
		for _, want := range []string{"none in TSM", "restores are not verified", "dsmc restore image -imagetofile -noprompt -asnodename=" + asNode} {
			if table.rc != 0 || !strings.Contains(table.stdout, want) {
				t.Errorf("show of the backup without metadata: rc %d, lacks %q:\n%s", table.rc, want, table.stdout)
			}
		}
		gone := strings.Replace(db.SnapshotId, "-"+strings.TrimPrefix(blockVol.VolumeId, "vol-")+"-", "-"+strings.Repeat("0", 20)+"-", 1)
		if r := runSnapshots(t, srv, "show", gone); r.rc != 1 || !strings.Contains(r.stdout, "NO: TSM holds no active backup") {
			t.Errorf("show of an id TSM does not hold: rc %d\n%s\n%s", r.rc, r.stdout, r.stderr)
		}
	})
}

func objectOfID(id string) string { return id[strings.LastIndex(id, ":")+1:] }

func yamlDocs(t *testing.T, s string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(s))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("not YAML: %v\n%s", err, s)
		}
		docs = append(docs, d)
	}
}

// describeDoc is one line per manifest with the fields an import must get right.
func describeDoc(d map[string]any) string {
	get := func(keys ...string) string {
		var v any = d
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		s, _ := v.(string)
		return s
	}
	if get("kind") == "VolumeSnapshot" {
		return "VolumeSnapshot " + get("metadata", "namespace") + "/" + get("metadata", "name") + " content=" + get("spec", "source", "volumeSnapshotContentName")
	}
	return get("kind") + " " + get("metadata", "name") + " managed-by=" + get("metadata", "labels", "snapshot.storage.kubernetes.io/managed-by") +
		" handle=" + get("spec", "source", "snapshotHandle") + " mode=" + get("spec", "sourceVolumeMode") +
		" ref=" + get("spec", "volumeSnapshotRef", "namespace") + "/" + get("spec", "volumeSnapshotRef", "name") +
		map[bool]string{true: "", false: " driver=" + get("spec", "driver")}[get("spec", "driver") == "tsm.csi.storage-protect.io" && get("spec", "deletionPolicy") == "Retain" && get("apiVersion") == "snapshot.storage.k8s.io/v1"]
}
