package tsm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PASSWORDACCESS GENERATE with a password store (PASSWORDDIR): until the
// password is stored, every run fails with ANS2050E (KindNoPassword, with a
// message saying how to seed it); SeedPassword stores it from the password
// file, never on argv; a wrong password is an auth error and stores nothing.
func TestSimSeedPassword(t *testing.T) {
	srv := newSimServer(t)
	ctx := simContext(t)
	const node, pw = "TSMTEST-GEN", "Gen-Secret-42"
	srv.admin(t, "register", "node", node, pw, "passwordaccess=generate")
	dsmDir := t.TempDir()
	store := t.TempDir()
	if err := os.WriteFile(filepath.Join(dsmDir, "dsm.sys"), []byte("SERVERNAME SIM\n  PASSWORDACCESS GENERATE\n  PASSWORDDIR "+store+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runner := srv.runner(node, "DSM_DIR="+dsmDir)
	plain := NewClient(Config{Binary: srv.bin, WorkDir: t.TempDir(), Timeout: time.Minute}, runner)

	_, err := plain.QuerySession(ctx)
	if te := expectKind(t, err, KindNoPassword); !strings.Contains(te.Error(), "SeedPassword") {
		t.Errorf("error does not say how to seed: %v", te)
	}

	wrong := NewClient(Config{Binary: srv.bin, WorkDir: t.TempDir(), PasswordFile: writePasswordFile(t, "wrong\n"), Timeout: time.Minute}, runner)
	_ = expectKind(t, wrong.SeedPassword(ctx), KindAuth)
	_ = expectKind(t, func() error { _, err := plain.QuerySession(ctx); return err }(), KindNoPassword)

	f := &recordingRunner{inner: runner}
	seeder := NewClient(Config{Binary: srv.bin, WorkDir: t.TempDir(), PasswordFile: writePasswordFile(t, pw+"\n"), Timeout: time.Minute}, f)
	if err := seeder.SeedPassword(ctx); err != nil {
		t.Fatalf("SeedPassword: %v", err)
	}
	for _, inv := range f.calls {
		if strings.Contains(strings.Join(inv.Args, " "), pw) {
			t.Errorf("password on the command line: %q", inv.Args)
		}
	}
	if _, err := plain.QuerySession(ctx); err != nil {
		t.Fatalf("after seeding, a run without the password file: %v", err)
	}
	if err := NewClient(Config{}, &fakeRunner{}).SeedPassword(ctx); KindOf(err) != KindInvalid {
		t.Errorf("SeedPassword without a password file: %v", err)
	}
	noSimLeft(t)
}

type recordingRunner struct {
	inner Runner
	calls []Invocation
}

func (r *recordingRunner) Run(ctx context.Context, inv Invocation) (Output, error) {
	r.calls = append(r.calls, inv)
	return r.inner.Run(ctx, inv)
}

// Conditions IBM calls temporary are KindBusy, whatever session loss
// follows them.
func TestSimBusy(t *testing.T) {
	for _, fault := range []string{"busy", "mountpoints"} {
		t.Run(fault, func(t *testing.T) {
			srv := newSimServer(t)
			c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT="+fault)
			_, err := c.QuerySession(simContext(t))
			_ = expectKind(t, err, KindBusy)
		})
	}
	noSimLeft(t)
}
