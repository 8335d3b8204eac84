package csi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

func backupWith(id string, mode tsm.Mode, k *catalog.KubeRef, created time.Time) Backup {
	return Backup{ID: id, Mode: mode, Owner: "K8S", SourceVolumeID: "vol-" + strings.Repeat("1", 20), SizeBytes: 1 << 20,
		Meta: &BackupMeta{CreationTime: created, AccessType: "mount", FSType: "xfs", Node: "node-a", Kubernetes: k, Group: "grp-1"}}
}

func TestSelector(t *testing.T) {
	k := &catalog.KubeRef{VolumeSnapshotName: "db-daily", VolumeSnapshotNamespace: "prod", VolumeSnapshotContent: "snapcontent-1"}
	b := backupWith("tsm1:i:K8S:/dev/backup-1", tsm.ModeImage, k, time.Now())
	bare := Backup{ID: "tsm1:f:K8S:/var/lib/tsm-csi/tsm/backup-2", Mode: tsm.ModeFile, SourceVolumeID: "vol-2"}
	for _, tc := range []struct {
		sel        string
		b, bare    bool
		wantErrSub string
	}{
		{sel: "", b: true, bare: true},
		{sel: "namespace=prod", b: true},
		{sel: "namespace!=prod", b: false, bare: false},
		{sel: "name=db-*", b: true},
		{sel: "name=db", b: false},
		{sel: " namespace = prod , name = *daily ", b: true},
		{sel: "content=snapcontent-1,node=node-a,group=grp-1", b: true},
		{sel: "mode=file", bare: true},
		{sel: "mode!=file", b: true},
		{sel: "volume=vol-2", bare: true},
		{sel: "id=tsm1:i:*", b: true},
		{sel: "id=*backup-?", b: false}, // only * is special
		{sel: "color=red", wantErrSub: "unknown key"},
		{sel: "namespace", wantErrSub: "want key=value"},
		{sel: "=prod", wantErrSub: "want key=value"},
	} {
		t.Run(tc.sel, func(t *testing.T) {
			s, err := ParseSelector(tc.sel)
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("ParseSelector(%q) = %v, want an error with %q", tc.sel, err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Matches(b); got != tc.b {
				t.Errorf("Matches(with metadata) = %v, want %v", got, tc.b)
			}
			if got := s.Matches(bare); got != tc.bare {
				t.Errorf("Matches(without metadata) = %v, want %v", got, tc.bare)
			}
		})
	}
}

func TestWriteManifests(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	k := func(ns, name, content string) *catalog.KubeRef {
		return &catalog.KubeRef{VolumeSnapshotNamespace: ns, VolumeSnapshotName: name, VolumeSnapshotContent: content}
	}
	older := backupWith("tsm1:i:K8S:/dev/backup-old", tsm.ModeImage, k("prod", "db", "snapcontent-old"), day(1))
	newer := backupWith("tsm1:i:K8S:/dev/backup-new", tsm.ModeImage, k("prod", "db", "snapcontent-new"), day(2))
	noContent := backupWith("tsm1:i:K8S:/dev/backup-nc", tsm.ModeImage, k("prod", "web", ""), day(1))
	block := backupWith("tsm1:f:K8S:/var/lib/tsm-csi/tsm/backup-b", tsm.ModeFile, k("dev", "raw", "c-raw"), day(1))
	block.Meta.AccessType = "block"
	// Read from TSM: YAML breaks lines at U+2028 too, so this would start a key of its own.
	block.Meta.Node = "n1\u2028zzz: injected\u2028#"
	unknownAccess := backupWith("tsm1:i:K8S:/dev/backup-ua", tsm.ModeImage, k("ops", "tools", "c-tools"), day(1))
	unknownAccess.Meta.AccessType, unknownAccess.Meta.FSType = "", ""
	noNames := backupWith("tsm1:i:K8S:/dev/backup-nn", tsm.ModeImage, nil, day(1))
	noNames.Meta.Group = ""
	badName := backupWith("tsm1:i:K8S:/dev/backup-bad", tsm.ModeImage, k("prod", "x\"\n  evil: yes", "c"), day(1))
	member := backupWith("tsm1:i:K8S:/dev/backup-member", tsm.ModeImage, nil, day(1))
	member.Meta.Group = "db-and-log"
	noMeta := Backup{ID: "tsm1:i:K8S:/dev/backup-none"}
	unreadable := Backup{ID: "tsm1:i:K8S:/dev/backup-broken", MetaProblem: "not JSON"}

	var out bytes.Buffer
	rep, err := WriteManifests(&out, []Backup{older, noMeta, newer, noContent, block, noNames, badName, unreadable, unknownAccess, member},
		ImportOptions{DriverName: "tsm.csi.storage-protect.io", SnapshotClass: "tsm-image"})
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, b := range rep.Imported {
		imported = append(imported, b.ID)
	}
	if got, want := strings.Join(imported, " "), block.ID+" "+unknownAccess.ID+" "+newer.ID+" "+noContent.ID; got != want {
		t.Errorf("imported %s\nwant     %s", got, want)
	}
	for _, want := range []string{
		older.ID + ": VolumeSnapshot prod/db is imported from the newer backup " + newer.ID,
		noMeta.ID + ": no metadata object in TSM",
		noNames.ID + ": the metadata names no VolumeSnapshot",
		badName.ID + ": the metadata names prod/x",
		unreadable.ID + ": metadata object unreadable (not JSON)",
		member.ID + `: a member of the volume group snapshot "db-and-log"`,
	} {
		found := false
		for _, s := range rep.Skipped {
			found = found || strings.HasPrefix(s, want)
		}
		if !found {
			t.Errorf("skipped %q\nlacks %q", rep.Skipped, want)
		}
	}
	if len(rep.Skipped) != 6 {
		t.Errorf("skipped %d, want 6: %q", len(rep.Skipped), rep.Skipped)
	}
	docs := parseYAML(t, out.Bytes())
	if len(docs) != 8 {
		t.Fatalf("%d documents, want 8\n%s", len(docs), out.String())
	}
	for _, d := range docs {
		if _, ok := d["zzz"]; ok {
			t.Fatalf("a value read from TSM added a key to the manifests:\n%s", out.String())
		}
	}
	get := func(d map[string]any, keys ...string) any {
		var v any = d
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	// dev/raw first (sorted by namespace/name): a block volume.
	if get(docs[0], "spec", "sourceVolumeMode") != "Block" || get(docs[0], "spec", "volumeSnapshotClassName") != "tsm-image" ||
		get(docs[0], "metadata", "labels") != nil {
		t.Errorf("content of dev/raw: %v", docs[0])
	}
	if get(docs[1], "spec", "volumeSnapshotClassName") != "tsm-image" || get(docs[1], "spec", "source", "volumeSnapshotContentName") != "c-raw" {
		t.Errorf("snapshot dev/raw: %v", docs[1])
	}
	// ops/tools: the access type is unknown, so no sourceVolumeMode.
	if spec, _ := get(docs[2], "spec").(map[string]any); spec["sourceVolumeMode"] != nil || spec["source"] == nil {
		t.Errorf("content of ops/tools: %v", docs[2])
	}
	docs = docs[2:]
	if get(docs[2], "spec", "source", "snapshotHandle") != newer.ID || get(docs[2], "metadata", "name") != "snapcontent-new" {
		t.Errorf("content of prod/db: %v", docs[2])
	}
	// Without the content's name in the metadata, a name derived from the id, the same every run.
	name, _ := get(docs[4], "metadata", "name").(string)
	if !strings.HasPrefix(name, "snapcontent-tsm-") || !validName(name) || get(docs[5], "spec", "source", "volumeSnapshotContentName") != name {
		t.Errorf("derived content name %q; snapshot %v", name, docs[5])
	}
	var again bytes.Buffer
	if _, err := WriteManifests(&again, []Backup{noContent}, ImportOptions{DriverName: "d.example.com"}); err != nil || !strings.Contains(again.String(), `"`+name+`"`) {
		t.Errorf("a second run names the content differently:\n%s", again.String())
	}

	if _, err := WriteManifests(&out, nil, ImportOptions{DriverName: "Not A Driver"}); err == nil {
		t.Error("an invalid driver name was accepted")
	}
}
