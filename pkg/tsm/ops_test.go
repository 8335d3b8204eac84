package tsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two uploads under one name, then the old Delete: the server promotes the
// older version, so the object is still listed and restorable. DeleteAll
// leaves nothing, and is a no-op when nothing exists.
func TestSimDeleteAllRemovesEveryVersion(t *testing.T) {
	srv := newSimServer(t)
	ctx := simContext(t)
	dir := t.TempDir()
	_, alias := fileVolume(t, dir, 100000)
	c := srv.client("TSMTEST-NODE1")
	for i := 0; i < 2; i++ {
		if _, err := c.BackupFile(ctx, alias); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete(ctx, ModeFile, alias); err != nil {
		t.Fatal(err)
	}
	objs, err := c.QueryBackup(ctx, alias, false)
	if err != nil || len(objs) != 1 || !objs[0].Active {
		t.Fatalf("after deleting the active version the older one must be promoted: %+v %v", objs, err)
	}
	if _, err := c.BackupFile(ctx, alias); err != nil {
		t.Fatal(err)
	}

	if err := c.DeleteAll(ctx, ModeFile, alias); err != nil {
		t.Fatalf("DeleteAll: %v", err)
	}
	l, err := c.QueryBackupListing(ctx, alias, true)
	if err != nil || len(l.Objects) != 0 || len(l.Skipped) != 0 {
		t.Fatalf("versions left after DeleteAll: %+v %v", l, err)
	}
	if _, err := c.RestoreFile(ctx, alias, filepath.Join(dir, "r")); !IsNotFound(err) {
		t.Errorf("restore after DeleteAll: %v, want not-found", err)
	}
	if err := c.DeleteAll(ctx, ModeFile, alias); err != nil {
		t.Errorf("DeleteAll of nothing: %v", err)
	}
	noSimLeft(t)
}

func TestSimDeleteAllImage(t *testing.T) {
	requireRoot(t)
	srv := newSimServer(t)
	ctx := simContext(t)
	c := srv.client("TSMTEST-NODE1")
	alias := devAlias(t, loopDevice(t, simImageSize, map[int64][]byte{0: randomBytes(t, 4096)}))
	for i := 0; i < 3; i++ {
		if _, err := c.BackupImage(ctx, alias); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteAll(ctx, ModeImage, alias); err != nil {
		t.Fatalf("DeleteAll: %v", err)
	}
	if l, err := c.QueryImageListing(ctx, alias, true); err != nil || len(l.Objects) != 0 {
		t.Fatalf("images left: %+v %v", l, err)
	}
	noSimLeft(t)
}

// DeleteAll must not report success while the server still lists a
// version: a fake dsmc that deletes nothing.
func TestDeleteAllConfirmsWithAQuery(t *testing.T) {
	row := "  1,024  B  2024-09-13 08:00:00    DEFAULT   A  /var/lib/tsm/x\n"
	f := &fakeRunner{respond: func(inv Invocation) (Output, error) {
		if inv.Args[0] == "query" {
			return Output{RC: 0, Stdout: row}, nil
		}
		return Output{RC: 0, Stdout: okDelete}, nil
	}}
	err := NewClient(Config{WorkDir: t.TempDir()}, f).DeleteAll(t.Context(), ModeFile, "/var/lib/tsm/x")
	te := expectKind(t, err, KindFailed)
	if !strings.Contains(te.Detail, "still lists active version of 1024 bytes") {
		t.Errorf("detail %q", te.Detail)
	}
	var order []string
	for _, inv := range f.calls {
		order = append(order, strings.Join(inv.Args[:2], " ")+" "+findArg(inv.Args, "-deltype="))
	}
	want := []string{"delete backup -deltype=inactive", "delete backup -deltype=active", "query backup "}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", order, want)
	}
}

func findArg(args []string, prefix string) string {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return a
		}
	}
	return ""
}

func TestSimVerify(t *testing.T) {
	srv := newSimServer(t)
	ctx := simContext(t)
	dir := t.TempDir()
	const size = 300000
	_, alias := fileVolume(t, dir, size)
	c := srv.client("TSMTEST-NODE1")
	start := time.Now()
	if _, err := c.BackupFile(ctx, alias); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		object    string
		size      int64
		notBefore time.Time
		detail    string // "" = verified
	}{
		{"the upload", alias, size, start, ""},
		{"wrong size", alias, size + 4096, start, "expected"},
		{"stored before the upload started", alias, size, start.Add(3 * time.Second), "before this upload started"},
		{"another name", alias + "-other", size, start, "has no version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Verify(ctx, ModeFile, tc.object, tc.size, tc.notBefore)
			if tc.detail == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			te := expectKind(t, err, KindUnverified)
			if !strings.Contains(te.Detail, tc.detail) || !strings.Contains(te.Error(), tc.object) {
				t.Errorf("error %v, want %q and the object name", err, tc.detail)
			}
		})
	}
	// A server clock running behind is allowed for when configured.
	skewed := NewClient(Config{Binary: srv.bin, ClockSkew: 10 * time.Second, Timeout: time.Minute}, srv.runner("TSMTEST-NODE1"))
	if err := skewed.Verify(ctx, ModeFile, alias, size, start.Add(3*time.Second)); err != nil {
		t.Errorf("with ClockSkew: %v", err)
	}
	// Only inactive versions left: not verified either.
	if _, err := c.Delete(ctx, ModeFile, alias); err != nil {
		t.Fatal(err)
	}
	_ = expectKind(t, c.Verify(ctx, ModeFile, alias, size, start), KindUnverified)
	noSimLeft(t)
}

// An include-exclude rule, in the site's dsm.opt or pushed by the server's
// client option set, makes dsmc skip the file with a warning while the
// parent directory counts as backed up (rc 4): the upload must fail, and
// Verify finds nothing stored.
func TestSimExcludedFileIsNoBackup(t *testing.T) {
	for _, where := range []string{"dsm.opt", "server option set"} {
		t.Run(where, func(t *testing.T) {
			srv := newSimServer(t)
			ctx := simContext(t)
			dir := t.TempDir()
			_, alias := fileVolume(t, dir, 50000)
			rule := "EXCLUDE " + filepath.Dir(alias) + "/.../tsmtest-*\n"
			cfg := Config{Binary: srv.bin, WorkDir: t.TempDir(), Timeout: time.Minute}
			if where == "dsm.opt" {
				cfg.OptFile = filepath.Join(dir, "dsm.opt")
				if err := os.WriteFile(cfg.OptFile, []byte(rule), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(filepath.Join(srv.root, "cloptset"), []byte(rule), 0o644); err != nil {
				t.Fatal(err)
			}
			c := NewClient(cfg, srv.runner("TSMTEST-NODE1"))
			start := time.Now()
			_, err := c.BackupFile(ctx, alias)
			te := expectKind(t, err, KindUnverified)
			if te.RC != 4 || !strings.Contains(te.Detail, "excluded") {
				t.Errorf("error %v (rc %d)", te, te.RC)
			}
			verr := c.Verify(ctx, ModeFile, alias, 50000, start)
			if te := expectKind(t, verr, KindUnverified); !strings.Contains(te.Detail, "no version") {
				t.Errorf("verify: %v", verr)
			}
		})
	}
}
