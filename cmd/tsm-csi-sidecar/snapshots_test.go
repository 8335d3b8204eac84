package main

import (
	"bytes"
	"strings"
	"testing"
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
