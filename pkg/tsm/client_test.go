package tsm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	okBackup  = "Total number of objects inspected:  1\nTotal number of objects backed up:  1\nTotal number of objects failed:  0\n"
	okRestore = "Total number of objects restored:  1\nTotal number of objects failed:  0\n"
	okDelete  = "Total number of objects deleted:  1\nTotal number of objects failed:  0\n"
)

func TestClientArgv(t *testing.T) {
	// backup image takes compression from dsm.sys, so the stanza must agree
	// with Config.Compression for the run to be allowed.
	dsmDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dsmDir, "dsm.sys"), []byte("SERVERNAME SRV1\n  COMPRESSION YES\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DSM_DIR", dsmDir)
	t.Setenv("DSM_CONFIG", "")
	siteOpt := filepath.Join(t.TempDir(), "dsm.opt")
	if err := os.WriteFile(siteOpt, []byte("SERVERNAME SRV1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	full := Config{Binary: "/opt/tivoli/tsm/client/ba/bin/dsmc", ServerName: "SRV1", OptFile: siteOpt,
		AsNodeName: "CLUSTER", Compression: "yes", Timeout: 7 * time.Minute}
	// GEN stands for the driver's generated options file.
	common := []string{"-servername=SRV1", "-optfile=GEN", "-asnodename=CLUSTER"}
	fmts := []string{"-dateformat=3", "-timeformat=1", "-numberformat=1"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	l := func(s ...string) []string { return s }
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
		out  string
		call func(c *Client) error
		want []string
	}{
		{"backup image, all options: no format options, no -compression", full, okBackup,
			func(c *Client) error { _, err := c.BackupImage(ctx, "/dev/tsm-snap-1"); return err },
			cat(l("backup", "image", "-snapshotproviderimage=none"), common, l("/dev/tsm-snap-1"))},
		{"selective, all options", full, okBackup,
			func(c *Client) error { _, err := c.BackupFile(ctx, "/var/lib/tsm/tsm-snap-1"); return err },
			cat(l("selective"), common, l("-compression=yes", "/var/lib/tsm/tsm-snap-1"))},
		{"restore image, compression not passed", full, okRestore,
			func(c *Client) error { _, err := c.RestoreImage(ctx, "/dev/tsm-snap-1", "/dev/loop7"); return err },
			cat(l("restore", "image", "-noprompt"), fmts, common, l("/dev/tsm-snap-1", "/dev/loop7"))},
		{"restore image to file", full, okRestore,
			func(c *Client) error {
				_, err := c.RestoreImageToFile(ctx, "/dev/tsm-snap-1", "/var/lib/tsm/vol.img.restore")
				return err
			},
			cat(l("restore", "image", "-noprompt", "-imagetofile"), fmts, common, l("/dev/tsm-snap-1", "/var/lib/tsm/vol.img.restore"))},
		{"restore file", full, okRestore,
			func(c *Client) error {
				_, err := c.RestoreFile(ctx, "/var/lib/tsm/tsm-snap-1", "/var/lib/tsm/vol 2")
				return err
			},
			cat(l("restore", "-replace=yes"), fmts, common, l("/var/lib/tsm/tsm-snap-1", "/var/lib/tsm/vol 2"))},
		{"restore matching into a directory: a delimiter is added", full, okRestore,
			func(c *Client) error {
				_, err := c.RestoreMatching(ctx, "/var/lib/tsm-csi/meta/backup-*.json", "/var/lib/tsm-csi/tmp/m1")
				return err
			},
			cat(l("restore", "-latest", "-replace=yes"), fmts, common, l("/var/lib/tsm-csi/meta/backup-*.json", "/var/lib/tsm-csi/tmp/m1/"))},
		{"restore matching keeps one delimiter", Config{}, okRestore,
			func(c *Client) error { _, err := c.RestoreMatching(ctx, "/m/b-?.json", "/t/"); return err },
			cat(l("restore", "-latest", "-replace=yes"), fmts, l("-optfile=GEN", "/m/b-?.json", "/t/"))},
		{"delete image", full, okDelete,
			func(c *Client) error { _, err := c.Delete(ctx, ModeImage, "/dev/tsm-snap-1"); return err },
			cat(l("delete", "backup", "-noprompt", "-objtype=image"), fmts, common, l("/dev/tsm-snap-1"))},
		{"delete file", full, okDelete,
			func(c *Client) error { _, err := c.Delete(ctx, ModeFile, "/var/lib/tsm/tsm-snap-1"); return err },
			cat(l("delete", "backup", "-noprompt", "-objtype=file"), fmts, common, l("/var/lib/tsm/tsm-snap-1"))},
		{"query all images", full, "",
			func(c *Client) error { _, err := c.QueryImage(ctx, "", false); return err },
			cat(l("query", "image"), fmts, common)},
		{"query one image with inactive", full, "",
			func(c *Client) error { _, err := c.QueryImage(ctx, "/dev/tsm-snap-1", true); return err },
			cat(l("query", "image", "-inactive"), fmts, common, l("/dev/tsm-snap-1"))},
		{"query backup", full, "",
			func(c *Client) error { _, err := c.QueryBackup(ctx, "/var/lib/tsm/tsm-snap-*", false); return err },
			cat(l("query", "backup"), fmts, common, l("/var/lib/tsm/tsm-snap-*"))},
		{"query backup with inactive", full, "",
			func(c *Client) error { _, err := c.QueryBackup(ctx, "/var/lib/tsm/tsm-snap-*", true); return err },
			cat(l("query", "backup", "-inactive"), fmts, common, l("/var/lib/tsm/tsm-snap-*"))},
		{"query session: no format options", full, "Node Name: N1\n",
			func(c *Client) error { _, err := c.QuerySession(ctx); return err },
			cat(l("query", "session"), common)},
		{"backup image, no options", Config{}, okBackup,
			func(c *Client) error { _, err := c.BackupImage(ctx, "/dev/tsm-snap-1"); return err },
			l("backup", "image", "-snapshotproviderimage=none", "-optfile=GEN", "/dev/tsm-snap-1")},
		{"query session, no options", Config{}, "Node Name: N1\n",
			func(c *Client) error { _, err := c.QuerySession(ctx); return err },
			l("query", "session", "-optfile=GEN")},
		{"compression no", Config{Compression: "no"}, okBackup,
			func(c *Client) error { _, err := c.BackupFile(ctx, "/f"); return err },
			l("selective", "-optfile=GEN", "-compression=no", "/f")},
		{"fromnode on restore", Config{FromNode: "NODEA"}, okRestore,
			func(c *Client) error { _, err := c.RestoreFile(ctx, "/a", "/b"); return err },
			cat(l("restore", "-replace=yes"), fmts, l("-optfile=GEN", "-fromnode=NODEA", "/a", "/b"))},
		{"fromnode on query", Config{FromNode: "NODEA"}, "",
			func(c *Client) error { _, err := c.QueryImage(ctx, "", false); return err },
			cat(l("query", "image"), fmts, l("-optfile=GEN", "-fromnode=NODEA"))},
		{"fromnode not on backup", Config{FromNode: "NODEA"}, okBackup,
			func(c *Client) error { _, err := c.BackupImage(ctx, "/dev/x"); return err },
			l("backup", "image", "-snapshotproviderimage=none", "-optfile=GEN", "/dev/x")},
		{"fromnode not on delete", Config{FromNode: "NODEA"}, okDelete,
			func(c *Client) error { _, err := c.Delete(ctx, ModeImage, "/dev/x"); return err },
			cat(l("delete", "backup", "-noprompt", "-objtype=image"), fmts, l("-optfile=GEN", "/dev/x"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{respond: answer(0, tc.out, "")}
			tc.cfg.WorkDir = t.TempDir()
			if err := tc.call(NewClient(tc.cfg, f)); err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			inv := f.last()
			got := append([]string{}, inv.Args...)
			for i, a := range got {
				if gen, ok := strings.CutPrefix(a, "-optfile="); ok {
					if filepath.Dir(gen) != tc.cfg.WorkDir {
						t.Errorf("options file %s is not in WorkDir", gen)
					}
					got[i] = "-optfile=GEN"
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("argv\n got %q\nwant %q", got, tc.want)
			}
			wantBin := tc.cfg.Binary
			if wantBin == "" {
				wantBin = "dsmc"
			}
			if inv.Binary != wantBin || inv.Timeout != tc.cfg.Timeout || inv.Stdin != nil {
				t.Errorf("invocation binary %q timeout %v stdin %v; want %q %v nil", inv.Binary, inv.Timeout, inv.Stdin != nil, wantBin, tc.cfg.Timeout)
			}
			for _, a := range inv.Args {
				if strings.HasPrefix(strings.ToLower(a), "-pa") || a == "-quiet" {
					t.Errorf("argv has %q", a)
				}
			}
		})
	}
}

func TestClientWithNode(t *testing.T) {
	f := &fakeRunner{respond: answer(0, okBackup, "")}
	base := NewClient(Config{AsNodeName: "A"}, f)
	b := base.WithNode("B")
	none := base.WithNode("")
	if base.AsNodeName() != "A" || b.AsNodeName() != "B" || none.AsNodeName() != "" {
		t.Fatalf("AsNodeName: %q %q %q", base.AsNodeName(), b.AsNodeName(), none.AsNodeName())
	}
	for c, want := range map[*Client]string{base: "-asnodename=A", b: "-asnodename=B"} {
		if _, err := c.BackupImage(context.Background(), "/dev/x"); err != nil {
			t.Fatal(err)
		}
		if args := f.last().Args; !contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if _, err := none.BackupImage(context.Background(), "/dev/x"); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.last().Args {
		if strings.HasPrefix(a, "-asnodename") {
			t.Errorf("WithNode(\"\") still passes %q", a)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestClientRefusesBadRequestsWithoutRunningDsmc(t *testing.T) {
	ctx := context.Background()
	for name, call := range map[string]func(c *Client) error{
		"empty device":                    func(c *Client) error { _, err := c.BackupImage(ctx, ""); return err },
		"relative file":                   func(c *Client) error { _, err := c.BackupFile(ctx, "snap-1"); return err },
		"option as a name":                func(c *Client) error { _, err := c.BackupFile(ctx, "-password=x"); return err },
		"wildcard restore":                func(c *Client) error { _, err := c.RestoreImage(ctx, "/dev/tsm-*", "/dev/loop1"); return err },
		"wildcard delete":                 func(c *Client) error { _, err := c.Delete(ctx, ModeFile, "/var/x/tsm-?"); return err },
		"relative dst":                    func(c *Client) error { _, err := c.RestoreFile(ctx, "/a", "b"); return err },
		"newline in name":                 func(c *Client) error { _, err := c.Delete(ctx, ModeImage, "/dev/a\nb"); return err },
		"wildcard in a restore directory": func(c *Client) error { _, err := c.RestoreMatching(ctx, "/m*/x-*.json", "/t"); return err },
		"relative restore spec":           func(c *Client) error { _, err := c.RestoreMatching(ctx, "x-*.json", "/t"); return err },
		"wildcard restore destination":    func(c *Client) error { _, err := c.RestoreMatching(ctx, "/m/x-*", "/t/*"); return err },
		"bad mode":                        func(c *Client) error { _, err := c.Delete(ctx, Mode("vm"), "/dev/x"); return err },
		"wildcard image":                  func(c *Client) error { _, err := c.QueryImage(ctx, "/dev/*", false); return err },
		"empty backup spec":               func(c *Client) error { _, err := c.QueryBackup(ctx, "", false); return err },
		"bad compression":                 func(c *Client) error { _, err := c.WithNode("").BackupFile(ctx, "/f"); return err },
		"fromnode+asnodename": func(c *Client) error {
			cp := *c.WithNode("T")
			cp.cfg.FromNode = "A"
			_, err := cp.RestoreFile(ctx, "/a", "/b")
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeRunner{respond: answer(0, okBackup+okRestore+okDelete, "")}
			cfg := Config{}
			if name == "bad compression" {
				cfg.Compression = "maybe"
			}
			err := call(NewClient(cfg, f))
			if KindOf(err) != KindInvalid {
				t.Fatalf("err = %v, want KindInvalid", err)
			}
			if f.count() != 0 {
				t.Errorf("dsmc was run %d times", f.count())
			}
		})
	}
}

// Whole sample outputs through the Client: the judgement a caller sees.
func TestClientOnSamples(t *testing.T) {
	ctx := context.Background()
	type outcome struct {
		kind Kind // KindUnknown with ok=true means success
		ok   bool
	}
	for _, tc := range []struct {
		name           string
		rc             int
		stdout, stderr string
		call           func(c *Client) (any, error)
		want           outcome
		check          func(t *testing.T, v any)
	}{
		{name: "06 selective", rc: 0, stdout: sample06(t, "dsmc sel "),
			call: func(c *Client) (any, error) {
				return c.BackupFile(ctx, "/ibm/gpfs0/.mmbackupCfg/updatedFiles/.list.l.sss-ip06")
			},
			want: outcome{ok: true},
			check: func(t *testing.T, v any) {
				r := v.(*Result)
				if r.Stats.BackedUp != 1 || r.Stats.BytesTransferred != 453427 || !strings.Contains(r.Output.Stdout, "Selective Backup function invoked.") {
					t.Errorf("result %+v", r.Stats)
				}
			}},
		{name: "06 selective with rc 12 is still an error", rc: 12, stdout: sample06(t, "dsmc sel "),
			call: func(c *Client) (any, error) { return c.BackupFile(ctx, "/f") },
			want: outcome{kind: KindFailed}},
		{name: "06 restore with asnodename", rc: 0, stdout: sample06(t, "-asnodename"),
			call: func(c *Client) (any, error) { return c.RestoreFile(ctx, "/a", "/b") },
			want: outcome{ok: true}},
		{name: "06 restore of 6,491 objects", rc: 0, stdout: sample06(t, "dsmc restore /ibm/gpfs0/ /ibm/gpfsl/"),
			call: func(c *Client) (any, error) { return c.RestoreFile(ctx, "/a", "/b") },
			want: outcome{ok: true},
			check: func(t *testing.T, v any) {
				if r := v.(*Result); r.Stats.Restored != 6491 {
					t.Errorf("restored %d", r.Stats.Restored)
				}
			}},
		{name: "17 backup (FAKE simulator output)", rc: 0, stdout: sample17(t, "backup (success"),
			call: func(c *Client) (any, error) { return c.BackupImage(ctx, "/dev/x") },
			want: outcome{ok: true}},
		{name: "17 backup failure", rc: 12, stdout: sample17(t, "backup (injected failure"),
			call: func(c *Client) (any, error) { return c.BackupImage(ctx, "/dev/x") },
			want: outcome{kind: KindFailed}},
		{name: "17 restore", rc: 0, stdout: sample17(t, "restore (success"),
			call: func(c *Client) (any, error) { return c.RestoreImage(ctx, "/dev/x", "/dev/y") },
			want: outcome{ok: true}},
		{name: "17 restore of unknown path", rc: 12, stdout: sample17(t, "restore/delete of unknown path"),
			call: func(c *Client) (any, error) { return c.RestoreImage(ctx, "/dev/x", "/dev/y") },
			want: outcome{kind: KindNotFound}},
		{name: "17 delete of unknown path", rc: 12, stdout: sample17(t, "restore/delete of unknown path"),
			call: func(c *Client) (any, error) { return c.Delete(ctx, ModeImage, "/dev/x") },
			want: outcome{kind: KindNotFound}},
		{name: "17 delete", rc: 0, stdout: sample17(t, "delete (success"),
			call: func(c *Client) (any, error) { return c.Delete(ctx, ModeImage, "/dev/x") },
			want: outcome{ok: true}},
		{name: "13 pending restartable restore", rc: 12, stdout: sampleWhole(t, "13-restore-pending-restartable-session-ANS1330S.txt"),
			call: func(c *Client) (any, error) { return c.RestoreImage(ctx, "/dev/x", "/dev/y") },
			want: outcome{kind: KindRestartPending}},
		{name: "12 password prompt impossible (on stderr)", rc: 12, stderr: sampleWhole(t, "12-dsmsched-ANS2050E-background-password.txt"),
			call: func(c *Client) (any, error) { return c.QuerySession(ctx) },
			want: outcome{kind: KindNoPassword}},
		{name: "16 invalid password then TCP failure", rc: 12, stdout: sampleWhole(t, "16-admin-client-session-errors.txt"),
			call: func(c *Client) (any, error) { return c.BackupImage(ctx, "/dev/x") },
			want: outcome{kind: KindAuth}},
		{name: "14 no objects match query", rc: 12, stdout: sampleWhole(t, "14-set-query-delete-access.txt"),
			call: func(c *Client) (any, error) { return c.QueryBackup(ctx, "/x/*", false) },
			want: outcome{ok: true},
			check: func(t *testing.T, v any) {
				if objs := v.([]Object); objs == nil || len(objs) != 0 {
					t.Errorf("objects %#v, want empty non-nil", objs)
				}
			}},
		// Sample 08 is query archive output: its rows have no A/I column and
		// must fail loudly, ANS1092W or not.
		{name: "08 archive rows next to ANS1092W", rc: 8, stdout: sampleWhole(t, "08-query-archive-detail-iso-asnode.txt"),
			call: func(c *Client) (any, error) { return c.QueryBackupListing(ctx, "/grid/pool/out/*", false) },
			want: outcome{ok: true}, check: skippedOnly},
		{name: "rows next to ANS1092W are kept", rc: 8,
			stdout: sample10(t, 1) + "\nANS1092W No files matching search criteria were found\n",
			call:   func(c *Client) (any, error) { return c.QueryBackup(ctx, "/etc/*", false) },
			want:   outcome{ok: true},
			check: func(t *testing.T, v any) {
				if objs := v.([]Object); len(objs) != 1 || objs[0].Name != "/etc/mnttab" {
					t.Errorf("objects %+v", objs)
				}
			}},
		{name: "08 ANS1092W alone with rc 8", rc: 8, stderr: "ANS1092W No files matching search criteria were found\n",
			stdout: sampleWhole(t, "08-query-archive-detail-iso-asnode.txt")[:strings.Index(sampleWhole(t, "08-query-archive-detail-iso-asnode.txt"), "             Size")],
			call:   func(c *Client) (any, error) { return c.QueryImage(ctx, "/dev/x", false) },
			want:   outcome{ok: true},
			check: func(t *testing.T, v any) {
				if objs := v.([]Object); objs == nil || len(objs) != 0 {
					t.Errorf("objects %#v, want empty non-nil", objs)
				}
			}},
		{name: "10 ANS1092E (4.2) only on stderr", rc: 8, stdout: strings.Replace(sample10(t, 0), "ANS1092E", "", 1),
			stderr: "ANS1092E No files matching search criteria were found\n",
			call:   func(c *Client) (any, error) { return c.QueryBackup(ctx, "/etc/*", false) },
			want:   outcome{ok: true}},
		{name: "10 one row", rc: 0, stdout: sample10(t, 1),
			call: func(c *Client) (any, error) { return c.QueryBackup(ctx, "/etc/*", false) },
			want: outcome{ok: true},
			check: func(t *testing.T, v any) {
				if objs := v.([]Object); len(objs) != 1 || objs[0].Name != "/etc/mnttab" || objs[0].Size != 4743 {
					t.Errorf("objects %+v", objs)
				}
			}},
		{name: "05 pick window rows are not query output", rc: 0,
			stdout: sample05(t, "rest /home/ians/projects/*  /tmp/restore/ -su=yes  -inactive -pick"),
			call:   func(c *Client) (any, error) { return c.QueryBackupListing(ctx, "/home/*", false) },
			want:   outcome{ok: true}, check: skippedOnly},
		{name: "02 query session", rc: 0, stdout: sampleWhole(t, "02-query-session-8.1.6.txt"),
			call: func(c *Client) (any, error) { return c.QuerySession(ctx) },
			want: outcome{ok: true},
			check: func(t *testing.T, v any) {
				if s := v.(*Session); s.Node != "BLACKHOLE" || s.DeleteBackupAllowed {
					t.Errorf("session %+v", s)
				}
			}},
		{name: "11 B session after ANS1051I", rc: 0, stdout: sample11(t, "B"),
			call: func(c *Client) (any, error) { return c.QuerySession(ctx) },
			want: outcome{ok: true}},
		{name: "query session rc 0 without a banner", rc: 0, stdout: "Protect>\n",
			call: func(c *Client) (any, error) { return c.QuerySession(ctx) },
			want: outcome{kind: KindFailed}},
		{name: "German statistics", rc: 0, stdout: germanNumbers,
			call: func(c *Client) (any, error) { return c.BackupFile(ctx, "/f") },
			want: outcome{kind: KindFailed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{respond: answer(tc.rc, tc.stdout, tc.stderr)}
			v, err := tc.call(NewClient(Config{}, f))
			if tc.want.ok {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, v)
				}
				return
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if te.Kind != tc.want.kind || KindOf(err) != tc.want.kind {
				t.Fatalf("kind = %v, want %v (%v)", te.Kind, tc.want.kind, err)
			}
			if te.RC != tc.rc || te.Op == "" || len(te.Args) == 0 || te.Output == "" {
				t.Errorf("incomplete error %+v", te)
			}
			if IsNotFound(err) != (tc.want.kind == KindNotFound) {
				t.Errorf("IsNotFound = %v", IsNotFound(err))
			}
			line := err.Error()
			if strings.Contains(line, "\n") {
				t.Errorf("Error() spans lines: %q", line)
			}
			for _, m := range te.Messages {
				if !strings.Contains(line, m.ID) {
					t.Errorf("Error() %q lacks %s", line, m.ID)
				}
			}
		})
	}
}

func TestClientRunnerErrors(t *testing.T) {
	partial := "IBM Storage Protect\nNode Name: N1\nANS1029E Communication with the IBM Storage Protect server is lost.\n"
	for _, tc := range []struct {
		name string
		err  error
		want Kind
	}{
		{"timeout beats the messages in the partial output", &Error{Kind: KindTimeout, Detail: "timed out"}, KindTimeout},
		{"cancel", &Error{Kind: KindCanceled, Detail: "canceled"}, KindCanceled},
		{"crash", &Error{Kind: KindCrashed, Detail: "signal"}, KindCrashed},
		{"missing", &Error{Kind: KindMissing, Detail: "not found"}, KindMissing},
		{"bare context deadline", context.DeadlineExceeded, KindTimeout},
		{"bare context cancel", context.Canceled, KindCanceled},
		{"anything else", errors.New("pipe trouble"), KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{respond: func(Invocation) (Output, error) { return Output{RC: -1, Stdout: partial}, tc.err }}
			_, err := NewClient(Config{}, f).RestoreImage(context.Background(), "/dev/x", "/dev/y")
			var te *Error
			if !errors.As(err, &te) || te.Kind != tc.want {
				t.Fatalf("err = %#v, want kind %v", err, tc.want)
			}
			if te.Op != "restore image" || len(te.Messages) != 1 || te.Messages[0].ID != "ANS1029E" {
				t.Errorf("error lacks op or partial messages: %+v", te)
			}
			if tc.want == KindTimeout && !errors.Is(err, context.DeadlineExceeded) && tc.err == context.DeadlineExceeded {
				t.Errorf("errors.Is(DeadlineExceeded) false")
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	wrapped := errors.Join(errors.New("x"), &Error{Kind: KindNoSpace})
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{nil, KindUnknown},
		{errors.New("x"), KindUnknown},
		{wrapped, KindNoSpace},
		{context.DeadlineExceeded, KindTimeout},
		{context.Canceled, KindCanceled},
		{&Error{Kind: KindTimeout, err: context.DeadlineExceeded}, KindTimeout},
	} {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for k := KindUnknown; k <= KindInvalid; k++ {
		if s := k.String(); s == "" || strings.HasPrefix(s, "kind(") {
			t.Errorf("Kind %d has no name", int(k))
		}
	}
	if s := Kind(99).String(); s != "kind(99)" {
		t.Errorf("Kind(99) = %q", s)
	}
}

// skippedOnly: rows of another table are skipped and reported, never listed.
func skippedOnly(t *testing.T, v any) {
	t.Helper()
	l := v.(*Listing)
	if len(l.Objects) != 0 || len(l.Skipped) == 0 {
		t.Errorf("listing %+v, want only skipped rows", l)
	}
}

// TestQueryNeverListsWithoutItsMiddle: a query runs with the larger output bound, and a query
// whose output still overflowed is an error, not a listing that silently lacks rows.
func TestQueryNeverListsWithoutItsMiddle(t *testing.T) {
	row := "  1,024  B  2026-12-06 03:00:00    DEFAULT   A  /var/lib/tsm-csi/tsm/backup-a\n"
	for _, tc := range []struct {
		name    string
		dropped int64
		wantErr bool
	}{
		{"whole output", 0, false},
		{"middle dropped", 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{respond: func(Invocation) (Output, error) {
				return Output{Stdout: row + row, StdoutDropped: tc.dropped}, nil
			}}
			l, err := NewClient(Config{}, f).QueryBackupListing(context.Background(), "/var/lib/tsm-csi/tsm/backup-*", false)
			if f.last().MaxOutput != QueryMaxOutput {
				t.Errorf("query ran with output bound %d, want %d", f.last().MaxOutput, QueryMaxOutput)
			}
			switch {
			case tc.wantErr && (err == nil || KindOf(err) != KindFailed || !strings.Contains(err.Error(), "would miss objects")):
				t.Fatalf("overflowed query: %v, %v", l, err)
			case !tc.wantErr && (err != nil || len(l.Objects) != 2):
				t.Fatalf("query: %v, %v", l, err)
			}
		})
	}
	f := &fakeRunner{}
	_, _ = NewClient(Config{}, f).BackupFile(context.Background(), "/x/y")
	if f.last().MaxOutput != 0 {
		t.Errorf("a backup ran with output bound %d, want the runner's own", f.last().MaxOutput)
	}
}
