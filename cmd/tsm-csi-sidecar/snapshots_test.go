package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/csi"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// The command's arguments: usage errors exit 2 before dsmc runs, TSM errors exit 1, and every
// flag of the driver is accepted (the DaemonSet's arguments can be given as they are).
func TestSnapshotsArguments(t *testing.T) {
	missing := "--dsmc=/nonexistent/dsmc"
	state := "--state-dir=" + t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		rc   int
		err  string
	}{
		{"no subcommand", nil, 2, "usage:"},
		{"unknown subcommand", []string{"erase"}, 2, "usage:"},
		{"flag first", []string{"--owner=X", "list"}, 2, "usage:"},
		{"bad output", []string{"list", "-o", "yaml"}, 2, `-o "yaml"`},
		{"show without id", []string{"show"}, 2, "give one snapshot id"},
		{"show with two ids", []string{"show", "a", "b"}, 2, "give one snapshot id"},
		{"list with an argument", []string{"list", "extra"}, 2, `unexpected argument "extra"`},
		{"bad selector", []string{"import", "--selector=colour=red"}, 2, "unknown key"},
		{"bad prefix", []string{"list", "--tsm-volume-prefix=UPPER", state}, 2, "TSM volume prefix"},
		{"foreign id", []string{"show", "tsm1:i::/etc/passwd", missing, state}, 2, "not a snapshot id of this driver's naming"},
		{"no dsmc: list", []string{"list", missing, state}, 1, "query image backups"},
		{"no dsmc: import, driver args as they are", []string{
			"import", "--endpoint=unix:///csi/csi.sock", "--node-id=n1", "--tsm-mode=image", "--v=2", "--max-concurrent-dsmc=3", missing, state,
		}, 1, "query image backups"},
		{"no dsmc: show, flags after the id", []string{"show", "tsm1:i::/dev/backup-0123456789abcdef-0123456789abcdef0123-1000", missing, state}, 1, "query TSM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			rc := snapshots(tc.args, &out, &errb)
			if rc != tc.rc || !strings.Contains(errb.String(), tc.err) {
				t.Errorf("rc %d, stderr:\n%s\nwant rc %d and %q", rc, errb.String(), tc.rc, tc.err)
			}
		})
	}
}

func TestListSnapshotsOutput(t *testing.T) {
	at := time.Date(2026, 3, 1, 2, 0, 4, 0, time.UTC)
	backups := []csi.Backup{
		{ID: "tsm1:i:K:/dev/backup-a", Mode: tsm.ModeImage, SizeBytes: 1 << 30, BackedUp: at.Add(time.Minute),
			Meta: &csi.BackupMeta{CreationTime: at, AccessType: "mount", FSType: "ext4", Node: "worker-2", Digest: "blake3-256:ab",
				Kubernetes: &catalog.KubeRef{VolumeSnapshotName: "db-daily", VolumeSnapshotNamespace: "prod"}}},
		{ID: "tsm1:i:K:/dev/backup-b", Mode: tsm.ModeImage, SizeBytes: 4 << 30, BackedUp: at},
		{ID: "tsm1:f:K:/s/tsm/backup-c", Mode: tsm.ModeFile, SizeBytes: 512, BackedUp: at, MetaProblem: "not JSON"},
		{ID: "tsm1:i:K:/dev/backup-d", Mode: tsm.ModeImage, SizeBytes: 3 << 20, BackedUp: at,
			Meta: &csi.BackupMeta{CreationTime: at, AccessType: "block", Node: "worker-1"}},
	}
	var out, errb bytes.Buffer
	if rc := listSnapshots(backups, "table", &out, &errb); rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	want := `NAMESPACE  VOLUMESNAPSHOT  SIZE    ACCESS  TAKEN                 NODE      DIGEST      ID
prod       db-daily        1.0GiB  ext4    2026-03-01T02:00:04Z  worker-2  yes         tsm1:i:K:/dev/backup-a
-          -               4.0GiB  -       2026-03-01T02:00:04Z  -         -           tsm1:i:K:/dev/backup-b
-          -               512B    -       2026-03-01T02:00:04Z  -         unreadable  tsm1:f:K:/s/tsm/backup-c
-          -               3.0MiB  block   2026-03-01T02:00:04Z  worker-1  no          tsm1:i:K:/dev/backup-d
`
	if out.String() != want {
		t.Errorf("table\n%s\nwant\n%s", out.String(), want)
	}
	for _, w := range []string{"warning: tsm1:f:K:/s/tsm/backup-c: metadata object: not JSON", "warning: 2 backup(s) without readable metadata"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb.String())
		}
	}
	out.Reset()
	if rc := listSnapshots(backups, "json", &out, &errb); rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	var back []csi.Backup
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back) != 4 || back[0].Meta.Kubernetes.VolumeSnapshotName != "db-daily" || back[1].Meta != nil {
		t.Errorf("json: %v\n%s", err, out.String())
	}
}
