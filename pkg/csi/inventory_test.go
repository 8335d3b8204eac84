package csi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// simServer is a dsmc simulator (cmd/dsmc-sim) with a server directory of its own.
type simServer struct{ bin, root string }

func newSimServer(t *testing.T) simServer {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "dsmc")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dsmc-sim")
	build.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dsmc-sim: %v\n%s", err, msg)
	}
	return simServer{bin: bin, root: t.TempDir()}
}

// client is a dsmc client of agent node agent, working as asNode when it is set.
func (s simServer) client(t *testing.T, agent, asNode string) *tsm.Client {
	return tsm.NewClient(tsm.Config{Binary: s.bin, AsNodeName: asNode, WorkDir: t.TempDir(), Timeout: time.Minute},
		tsm.ExecRunner{Env: []string{"DSMSIM_ROOT=" + s.root, "DSMSIM_NODE=" + agent}})
}

func (s simServer) admin(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+s.root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dsmc admin %v: %v\n%s", args, err, out)
	}
}

// seeder makes backups in the driver's naming, file mode, as the driver would leave them.
type seeder struct {
	t      *testing.T
	codec  handleCodec
	client *tsm.Client
	owner  string
}

// backup stores a file backup of size bytes for snapshot name of volume vol under fileDir,
// and, when k is not nil, its metadata object naming k.
func (s seeder) backup(fileDir, name, vol string, size int64, k *catalog.KubeRef, access string) snapshotRef {
	t := s.t
	t.Helper()
	c := s.codec
	c.fileDir = fileDir
	ref := c.ref(tsm.ModeFile, s.owner, snapshotKeyFor(name), volumeIDFor(vol), size)
	if err := os.MkdirAll(fileDir, 0o700); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte(name[:1]), int(size))
	if err := os.WriteFile(ref.Object, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.BackupFile(t.Context(), ref.Object); err != nil {
		t.Fatal(err)
	}
	if k != nil {
		s.meta(ref, k, access)
	}
	return ref
}

func (s seeder) meta(ref snapshotRef, k *catalog.KubeRef, access string) {
	t := s.t
	t.Helper()
	id, err := s.codec.encode(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := catalog.Sum(t.Context(), ref.Object, ref.SizeBytes, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := &catalog.Meta{
		Version: catalog.Version, SnapshotID: id, SourceVolumeID: ref.VolumeID, SizeBytes: ref.SizeBytes,
		AccessType: access, Mode: "file", CreationTime: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Node: "node-a", DriverName: "test.tsm.csi", DriverVersion: "v9", Kubernetes: k, Digest: d,
	}
	if access == "mount" {
		m.FSType = "ext4"
	}
	if err := storeMeta(t.Context(), s.client, s.codec.metaObject(ref), m); err != nil {
		t.Fatal(err)
	}
}

func mustID(t *testing.T, c handleCodec, r snapshotRef) string {
	t.Helper()
	id, err := c.encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestInventory lists, shows and imports backups a simulated TSM server holds: with and
// without metadata, unreadable metadata, metadata without a backup, a file backup from a
// node with another --state-dir, another program's object and another TSM node's backup.
func TestInventory(t *testing.T) {
	srv := newSimServer(t)
	srv.admin(t, "grant", "proxynode", "target=CLUSTER", "agent=AGENT1")
	srv.admin(t, "grant", "proxynode", "target=OTHER", "agent=AGENT1")
	dir := shortDir(t)
	stateDir, otherState := filepath.Join(dir, "s"), filepath.Join(dir, "o")
	metaDir := filepath.Join(dir, "meta")
	if err := os.MkdirAll(metaDir, 0o700); err != nil {
		t.Fatal(err)
	}
	const prefix = "inv"
	codec, err := newHandleCodec(prefix, "/dev", filepath.Join(stateDir, "tsm"), metaDir)
	if err != nil {
		t.Fatal(err)
	}
	client := srv.client(t, "AGENT1", "CLUSTER")
	s := seeder{t: t, codec: codec, client: client, owner: "CLUSTER"}

	kA := &catalog.KubeRef{VolumeSnapshotName: "db", VolumeSnapshotNamespace: "prod", VolumeSnapshotContent: "snapcontent-a"}
	a := s.backup(codec.fileDir, "snap-a", "pvc-a", 4096, kA, "mount")
	noMeta := s.backup(codec.fileDir, "snap-b", "pvc-b", 2048, nil, "")
	kC := &catalog.KubeRef{VolumeSnapshotName: "raw", VolumeSnapshotNamespace: "dev", VolumeSnapshotContent: "snapcontent-c"}
	c := s.backup(filepath.Join(otherState, "tsm"), "snap-c", "pvc-c", 1024, kC, "block")
	// Unreadable metadata object.
	bad := s.backup(codec.fileDir, "snap-d", "pvc-d", 512, nil, "")
	if err := os.WriteFile(codec.metaObject(bad), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BackupFile(t.Context(), codec.metaObject(bad)); err != nil {
		t.Fatal(err)
	}
	// Metadata whose backup is gone.
	gone := s.backup(codec.fileDir, "snap-e", "pvc-e", 256, &catalog.KubeRef{VolumeSnapshotName: "old", VolumeSnapshotNamespace: "prod"}, "mount")
	if err := client.DeleteAll(t.Context(), tsm.ModeFile, gone.Object); err != nil {
		t.Fatal(err)
	}
	// An unreadable metadata object whose backup is gone.
	orphanBad := filepath.Join(metaDir, codec.linkName(snapshotKeyFor("snap-f"), volumeIDFor("pvc-f"), 64)+".f.json")
	if err := os.WriteFile(orphanBad, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BackupFile(t.Context(), orphanBad); err != nil {
		t.Fatal(err)
	}
	// Of a longer prefix, which "<prefix>-*.json" matches too: neither a backup's nor a warning.
	longer := filepath.Join(metaDir, codec.prefix+"-x-"+codec.objectSuffix(snapshotKeyFor("snap-g"), volumeIDFor("pvc-g"), 64)+".f.json")
	if err := os.WriteFile(longer, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BackupFile(t.Context(), longer); err != nil {
		t.Fatal(err)
	}
	// Not the driver's: another prefix in the same directory.
	foreign := filepath.Join(codec.fileDir, "other-notes")
	if err := os.WriteFile(foreign, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BackupFile(t.Context(), foreign); err != nil {
		t.Fatal(err)
	}
	// Another TSM node's backup.
	other := seeder{t: t, codec: codec, client: srv.client(t, "AGENT1", "OTHER"), owner: "OTHER"}
	o := other.backup(codec.fileDir, "snap-o", "pvc-o", 128, &catalog.KubeRef{VolumeSnapshotName: "x", VolumeSnapshotNamespace: "y"}, "mount")

	// The command's own client: a fresh node, nothing but TSM.
	inv, err := NewInventory(InventoryOptions{VolumePrefix: prefix, LinkDir: "/dev", StateDir: stateDir, MetaDir: metaDir, ScratchDir: t.TempDir()},
		srv.client(t, "AGENT1", "CLUSTER"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	list, warnings, err := inv.List(ctx, "CLUSTER")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Backup{}
	for _, b := range list {
		byID[b.ID] = b
	}
	idA, idB, idC, idD := mustID(t, codec, a), mustID(t, codec, noMeta), mustID(t, codec, c), mustID(t, codec, bad)
	if len(list) != 4 {
		t.Errorf("listed %d backups, want 4 (a, b, c, d): %+v", len(list), list)
	}
	t.Run("list", func(t *testing.T) {
		ba := byID[idA]
		switch {
		case ba.Meta == nil:
			t.Fatalf("backup a has no metadata: %+v", ba)
		case *ba.Meta.Kubernetes != *kA || ba.Meta.AccessType != "mount" || ba.Meta.FSType != "ext4" || ba.Meta.Node != "node-a":
			t.Errorf("backup a's metadata: %+v", ba.Meta)
		case !strings.HasPrefix(ba.Meta.Digest, catalog.Algorithm+":"):
			t.Errorf("backup a's digest %q", ba.Meta.Digest)
		case ba.SourceVolumeID != volumeIDFor("pvc-a") || ba.SizeBytes != 4096 || ba.Owner != "CLUSTER" || ba.Mode != tsm.ModeFile || ba.BackedUp.IsZero():
			t.Errorf("backup a: %+v", ba)
		}
		if b, ok := byID[idB]; !ok || b.Meta != nil || b.MetaProblem != "" {
			t.Errorf("backup b (no metadata): %+v", b)
		}
		if bc, ok := byID[idC]; !ok || bc.Meta == nil || bc.Meta.AccessType != "block" {
			t.Errorf("backup c (another state directory): %+v", bc)
		}
		if bd, ok := byID[idD]; !ok || bd.Meta != nil || !strings.Contains(bd.MetaProblem, "not a valid snapshot metadata object") {
			t.Errorf("backup d (unreadable metadata): %+v", bd)
		}
		all := strings.Join(warnings, "\n")
		if len(warnings) != 2 || !strings.Contains(all, "describes "+mustID(t, codec, gone)+", which TSM does not hold") ||
			!strings.Contains(all, orphanBad+", of no backup TSM holds, is unreadable") {
			t.Errorf("warnings %q, want one about the metadata of the deleted backup and one about the unreadable one without a backup", warnings)
		}
		others, _, err := inv.List(ctx, "OTHER")
		if err != nil || len(others) != 1 || others[0].ID != mustID(t, codec, o) || others[0].Meta == nil {
			t.Errorf("List(OTHER) = %+v, %v; want only its own backup, with metadata", others, err)
		}
		if _, _, err := inv.List(ctx, "K8S*"); err == nil || !strings.Contains(err.Error(), "TSM node name") {
			t.Errorf("List with an owner no id can carry: %v", err)
		}
	})

	t.Run("show", func(t *testing.T) {
		b, err := inv.Show(ctx, idA)
		if err != nil || b.Meta == nil || *b.Meta.Kubernetes != *kA || b.BackedUp.IsZero() || b.Object != a.Object {
			t.Errorf("Show(a) = %+v, %v", b, err)
		}
		if b, err := inv.Show(ctx, idB); err != nil || b.Meta != nil || b.MetaProblem != "" {
			t.Errorf("Show(b) = %+v, %v; want the backup without metadata", b, err)
		}
		b, err = inv.Show(ctx, mustID(t, codec, gone))
		if !errors.Is(err, ErrNoBackup) || b.Object != gone.Object || b.Meta == nil {
			t.Errorf("Show(deleted) = %+v, %v; want what the id says, the metadata and ErrNoBackup", b, err)
		}
		if _, err := inv.Show(ctx, "tsm1:f:CLUSTER:/etc/passwd"); err == nil || errors.Is(err, ErrNoBackup) {
			t.Errorf("Show(a foreign id) = %v, want an id error", err)
		}
		want := "dsmc restore -replace=yes -asnodename=CLUSTER " + a.Object + " /srv/a.img"
		if got := inv.RestoreCommand(b, "/srv/a.img"); !strings.HasPrefix(got, "dsmc restore -replace=yes") {
			t.Errorf("RestoreCommand = %s", got)
		}
		if got := inv.RestoreCommand(byID[idA], "/srv/a.img"); got != want {
			t.Errorf("RestoreCommand = %s\nwant %s", got, want)
		}
	})

	t.Run("import", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := WriteManifests(&out, list, ImportOptions{DriverName: "tsm.csi.storage-protect.io", ManagedBy: "node-b"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Imported) != 2 || len(rep.Skipped) != 2 {
			t.Errorf("imported %d, skipped %q; want a and c imported, b and d skipped", len(rep.Imported), rep.Skipped)
		}
		docs := parseYAML(t, out.Bytes())
		want := []map[string]any{
			content("snapcontent-c", "node-b", idC, "Block", "raw", "dev"), snapshot("raw", "dev", "snapcontent-c"),
			content("snapcontent-a", "node-b", idA, "Filesystem", "db", "prod"), snapshot("db", "prod", "snapcontent-a"),
		}
		if fmt.Sprint(docs) != fmt.Sprint(want) {
			t.Errorf("manifests\n%s\nparse to\n%v\nwant\n%v", out.String(), docs, want)
		}
	})
}

func content(name, managedBy, handle, mode, vs, ns string) map[string]any {
	return map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
		"metadata": map[string]any{"name": name, "labels": map[string]any{"snapshot.storage.kubernetes.io/managed-by": managedBy}},
		"spec": map[string]any{
			"deletionPolicy": "Retain", "driver": "tsm.csi.storage-protect.io",
			"source": map[string]any{"snapshotHandle": handle}, "sourceVolumeMode": mode,
			"volumeSnapshotRef": map[string]any{"name": vs, "namespace": ns},
		},
	}
}

func snapshot(name, ns, content string) map[string]any {
	return map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"source": map[string]any{"volumeSnapshotContentName": content}},
	}
}

func parseYAML(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("the manifests are not YAML: %v\n%s", err, b)
		}
		docs = append(docs, d)
	}
}
