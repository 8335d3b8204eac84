package tsm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One test per fault the simulator can inject (cmd/dsmc-sim/README.md,
// "Fault injection"), each through pkg/tsm: the typed kind must come out
// and no simulator process may survive the run.

func expectKind(t *testing.T, err error, want Kind) *Error {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) || te.Kind != want {
		t.Fatalf("err = %v, want kind %v", err, want)
	}
	return te
}

func TestSimFaultAuth(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=auth")
	dir := t.TempDir()
	_, alias := fileVolume(t, dir, 4096)
	te := expectKind(t, func() error { _, err := c.BackupFile(simContext(t), alias); return err }(), KindAuth)
	if te.RC != 12 || !hasID(te.Messages, "ANS1025E") {
		t.Errorf("error %+v", te)
	}
	_, err := c.QuerySession(simContext(t))
	_ = expectKind(t, err, KindAuth)
	noSimLeft(t)
}

func hasID(msgs []Message, id string) bool {
	for _, m := range msgs {
		if m.ID == id {
			return true
		}
	}
	return false
}

// A node registered with passwordaccess=prompt: without a password dsmc
// cannot prompt (ANS2050E then ANS1029E: no-password, not connection); with the
// password file the prompts are answered on stdin; a wrong password fails
// as auth without hanging.
func TestSimPasswordPrompt(t *testing.T) {
	srv := newSimServer(t)
	const node, pw = "TSMTEST-PROMPT", "Pr0mpt-Secret"
	srv.admin(t, "register", "node", node, pw, "passwordaccess=prompt")
	ctx := simContext(t)

	_, err := srv.client(node).QuerySession(ctx)
	te := expectKind(t, err, KindNoPassword)
	if !hasID(te.Messages, "ANS2050E") || !hasID(te.Messages, "ANS1029E") {
		t.Errorf("messages %v", ids(te.Messages))
	}

	good := NewClient(Config{Binary: srv.bin, PasswordFile: writePasswordFile(t, pw+"\n"), Timeout: time.Minute}, srv.runner(node))
	s, err := good.QuerySession(ctx)
	if err != nil {
		t.Fatalf("with the password file: %v", err)
	}
	if s.Node != node {
		t.Errorf("session %+v", s)
	}
	dir := t.TempDir()
	vol, alias := fileVolume(t, dir, 100000)
	res, err := good.BackupFile(ctx, alias)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Output.Stdout, pw) {
		t.Errorf("password in the output")
	}
	if _, err := good.RestoreFile(ctx, alias, filepath.Join(dir, "restored")); err != nil {
		t.Fatal(err)
	}
	sameContent(t, vol, filepath.Join(dir, "restored"))

	bad := NewClient(Config{Binary: srv.bin, PasswordFile: writePasswordFile(t, "wrong\n"), Timeout: time.Minute}, srv.runner(node))
	_, err = bad.QuerySession(ctx)
	te = expectKind(t, err, KindAuth)
	if !hasID(te.Messages, "ANS1051I") || strings.Contains(te.Error()+te.Output, "wrong") {
		t.Errorf("error %v\n%s", te, te.Output)
	}
	noSimLeft(t)
}

func TestSimFaultConnectionLostDuringBackup(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=connlost,after=64K,cmd=backup")
	dir := t.TempDir()
	_, alias := fileVolume(t, dir, 1<<20)
	ctx := simContext(t)
	_, err := c.BackupFile(ctx, alias)
	te := expectKind(t, err, KindConnection)
	if !hasID(te.Messages, "ANS1029E") {
		t.Errorf("messages %v", ids(te.Messages))
	}
	// A cut-off backup must not have become a version.
	objs, err := c.QueryBackup(ctx, alias, false)
	if err != nil || len(objs) != 0 {
		t.Errorf("after the failed backup: %+v %v", objs, err)
	}
	noSimLeft(t)
}

func TestSimFaultConnectionLostDuringImageRestore(t *testing.T) {
	requireRoot(t)
	srv := newSimServer(t)
	src := loopDevice(t, simImageSize, map[int64][]byte{0: randomBytes(t, 1<<20)})
	alias := devAlias(t, src)
	ctx := simContext(t)
	if _, err := srv.client("TSMTEST-NODE1").BackupImage(ctx, alias); err != nil {
		t.Fatal(err)
	}
	dst := loopDevice(t, simImageSize, nil)
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=connlost,after=256K,cmd=restore")
	_, err := c.RestoreImage(ctx, alias, dst)
	_ = expectKind(t, err, KindConnection)
	noSimLeft(t)
}

func TestSimFaultServerOutOfSpace(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=nospace,after=10K,cmd=backup")
	_, alias := fileVolume(t, t.TempDir(), 100000)
	_, err := c.BackupFile(simContext(t), alias)
	te := expectKind(t, err, KindNoSpace)
	if !hasID(te.Messages, "ANS1311E") {
		t.Errorf("messages %v", ids(te.Messages))
	}
	noSimLeft(t)
}

// A slow transfer runs into Config.Timeout: the process group is killed.
func TestSimFaultSlowTransferTimesOut(t *testing.T) {
	srv := newSimServer(t)
	c := NewClient(Config{Binary: srv.bin, Timeout: time.Second},
		srv.runner("TSMTEST-NODE1", "DSMSIM_FAULT=slow,rate=256K,cmd=backup"))
	_, alias := fileVolume(t, t.TempDir(), 4<<20) // 16 s at that rate
	start := time.Now()
	_, err := c.BackupFile(context.Background(), alias)
	te := expectKind(t, err, KindTimeout)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v with a 1s timeout", d)
	}
	if te.Op != "selective" {
		t.Errorf("op %q", te.Op)
	}
	noSimLeft(t)
	objs, qerr := srv.client("TSMTEST-NODE1").QueryBackup(simContext(t), alias, false)
	if qerr != nil || len(objs) != 0 {
		t.Errorf("a killed backup became a version: %+v %v", objs, qerr)
	}
}

// The caller cancels while the upload is visibly in flight.
func TestSimFaultSlowTransferCanceled(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=slow,rate=256K,cmd=backup")
	_, alias := fileVolume(t, t.TempDir(), 4<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.BackupFile(ctx, alias)
		done <- err
	}()
	// Wait (bounded) until the simulator shows an upload in progress.
	deadline := time.Now().Add(30 * time.Second)
	for {
		parts, _ := filepath.Glob(filepath.Join(srv.root, "tmp", "*.part"))
		if len(parts) > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("backup ended before it was canceled: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no upload in progress appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		_ = expectKind(t, err, KindCanceled)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is(context.Canceled) is false for %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("BackupFile did not return after cancel")
	}
	noSimLeft(t)
}

func TestSimFaultHang(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=hang,cmd=query")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.QuerySession(ctx)
	_ = expectKind(t, err, KindTimeout)
	noSimLeft(t)
}

func TestSimFaultCrash(t *testing.T) {
	for _, tc := range []struct {
		name, fault string
		want        Kind
	}{
		{"killed before the command", "crash,signal=SEGV,cmd=backup", KindCrashed},
		{"killed mid-transfer with partial output", "crash,after=64K,signal=KILL,cmd=backup", KindCrashed},
		{"exits with an undocumented code", "crash,rc=255,cmd=backup", KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSimServer(t)
			c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT="+tc.fault)
			_, alias := fileVolume(t, t.TempDir(), 1<<20)
			_, err := c.BackupFile(simContext(t), alias)
			te := expectKind(t, err, tc.want)
			if !strings.Contains(te.Output, "Node Name: TSMTEST-NODE1") {
				t.Errorf("partial output not kept: %q", te.Output)
			}
			noSimLeft(t)
		})
	}
}

func TestSimFaultRestartableRestore(t *testing.T) {
	srv := newSimServer(t)
	dir := t.TempDir()
	_, alias := fileVolume(t, dir, 4096)
	ctx := simContext(t)
	if _, err := srv.client("TSMTEST-NODE1").BackupFile(ctx, alias); err != nil {
		t.Fatal(err)
	}
	c := srv.client("TSMTEST-NODE1", "DSMSIM_FAULT=restartable,cmd=restore")
	_, err := c.RestoreFile(ctx, alias, filepath.Join(dir, "restored"))
	te := expectKind(t, err, KindRestartPending)
	if !hasID(te.Messages, "ANS1330S") {
		t.Errorf("messages %v", ids(te.Messages))
	}
	noSimLeft(t)
}

// A fault added to the server's fault file reaches a client that is
// already configured, and is spent after count uses.
func TestSimFaultFileWithCount(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1")
	ctx := simContext(t)
	if _, err := c.QuerySession(ctx); err != nil {
		t.Fatal(err)
	}
	srv.admin(t, "fault", "add", "connlost,cmd=query,count=1")
	_, err := c.QuerySession(ctx)
	_ = expectKind(t, err, KindConnection)
	if _, err := c.QuerySession(ctx); err != nil {
		t.Errorf("the fault was not spent after one use: %v", err)
	}
	noSimLeft(t)
}

// With LANG pinned, a German locale in the environment does not reach the
// output; a German NUMBERFORMAT (and the other format options) in the
// site's options file are overridden by the driver's options file.
func TestSimLocale(t *testing.T) {
	srv := newSimServer(t)
	dir := t.TempDir()
	_, alias := fileVolume(t, dir, 1234567)
	ctx := simContext(t)

	c := srv.client("TSMTEST-NODE1", "LC_NUMERIC=de_DE.UTF-8", "LC_MESSAGES=de_DE.UTF-8")
	res, err := c.BackupFile(ctx, alias)
	if err != nil {
		t.Fatalf("backup with German LC_* in the environment: %v", err)
	}
	if res.Stats.BytesInspected < 1234567*99/100 || res.Stats.BytesInspected > 1234567*101/100 {
		t.Errorf("bytes inspected %d", res.Stats.BytesInspected)
	}

	opt := filepath.Join(dir, "dsm.opt")
	if err := os.WriteFile(opt, []byte("NUMBERFORMAT 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	german := NewClient(Config{Binary: srv.bin, OptFile: opt, WorkDir: t.TempDir(), Timeout: time.Minute}, srv.runner("TSMTEST-NODE1"))
	res, err = german.BackupFile(ctx, alias)
	if err != nil {
		t.Fatalf("backup with NUMBERFORMAT 5 in the site's dsm.opt: %v", err)
	}
	if res.Stats.BytesInspected < 1234567*99/100 || res.Stats.BytesInspected > 1234567*101/100 {
		t.Errorf("bytes inspected %d", res.Stats.BytesInspected)
	}
	noSimLeft(t)
}

// Cross-node: two agent nodes share one proxy target, as the driver's
// nodes do; without the grant the session is refused.
func TestSimAsNodeName(t *testing.T) {
	srv := newSimServer(t)
	ctx := simContext(t)
	dir := t.TempDir()
	vol, alias := fileVolume(t, dir, 300000)
	a := srv.client("TSMTEST-AGENT-A").WithNode("TSMTEST-CLUSTER")
	b := srv.client("TSMTEST-AGENT-B").WithNode("TSMTEST-CLUSTER")

	_, err := a.BackupFile(ctx, alias)
	_ = expectKind(t, err, KindAuth)

	srv.admin(t, "grant", "proxynode", "target=TSMTEST-CLUSTER", "agent=TSMTEST-AGENT-A,TSMTEST-AGENT-B")
	if _, err := a.BackupFile(ctx, alias); err != nil {
		t.Fatal(err)
	}
	s, err := b.QuerySession(ctx)
	if err != nil || s.AccessingAs != "TSMTEST-CLUSTER" {
		t.Fatalf("session %+v %v", s, err)
	}
	restored := filepath.Join(dir, "restored-on-b")
	if _, err := b.RestoreFile(ctx, alias, restored); err != nil {
		t.Fatal(err)
	}
	sameContent(t, vol, restored)
	if _, err := b.Delete(ctx, ModeFile, alias); err != nil {
		t.Fatal(err)
	}
	if objs, err := a.QueryBackup(ctx, alias, false); err != nil || len(objs) != 0 {
		t.Errorf("after delete on B, A sees %+v %v", objs, err)
	}
	noSimLeft(t)
}

// -fromnode reads another node's objects that it shared with set access.
func TestSimFromNode(t *testing.T) {
	srv := newSimServer(t)
	ctx := simContext(t)
	dir := t.TempDir()
	vol, alias := fileVolume(t, dir, 5000)
	owner := srv.client("TSMTEST-OWNER")
	if _, err := owner.BackupFile(ctx, alias); err != nil {
		t.Fatal(err)
	}
	reader := srv.client("TSMTEST-READER")
	reader.cfg.FromNode = "TSMTEST-OWNER"
	if objs, err := reader.QueryBackup(ctx, alias, false); err != nil || len(objs) != 0 {
		t.Fatalf("visible without access: %+v %v", objs, err)
	}
	srv.admin(t, "grant", "access", "owner=TSMTEST-OWNER", "node=TSMTEST-READER", "spec="+dir+"/*")
	objs, err := reader.QueryBackup(ctx, filepath.Join(dir, "tsmtest-*"), false)
	if err != nil || !hasObject(objs, alias) {
		t.Fatalf("with access: %+v %v", objs, err)
	}
	restored := filepath.Join(dir, "restored")
	if _, err := reader.RestoreFile(ctx, alias, restored); err != nil {
		t.Fatal(err)
	}
	sameContent(t, vol, restored)
	noSimLeft(t)
}
