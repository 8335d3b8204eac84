package tsm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDriverOptions(t *testing.T) {
	site := filepath.Join(t.TempDir(), "dsm.opt")
	content := strings.Join([]string{
		"* site options",
		"SERVERNAME  TSM1",
		"num 5",            // IBM's own abbreviated example
		"DATEformat 2",     // abbreviation at the minimum length
		"  TIMEFORMAT 4",   // indented
		"QUIET",            // hides the statistics
		"LANGUAGE DEU",     // Windows-only, dropped
		"VErbose",          // ours wins anyway
		"DAT 2",            // too short to be DATEFORMAT: kept for dsmc to judge
		"EXCLUDE /tmp/...", // unrelated options are kept
	}, "\n") + "\n"
	if err := os.WriteFile(site, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewClient(Config{OptFile: site, WorkDir: t.TempDir()}, &fakeRunner{})
	got, err := c.DriverOptions()
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, l := range strings.Split(got, "\n") {
		if t := strings.TrimSpace(l); t != "" && t[0] != '*' {
			active = append(active, t)
		}
	}
	want := []string{"SERVERNAME  TSM1", "DAT 2", "EXCLUDE /tmp/...", "NUMBERFORMAT 1", "DATEFORMAT 3", "TIMEFORMAT 1", "VERBOSE"}
	if strings.Join(active, "|") != strings.Join(want, "|") {
		t.Errorf("options\n got %q\nwant %q", active, want)
	}
	p1, err := c.driverOptFile()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p1); string(b) != got {
		t.Errorf("file %s does not hold DriverOptions", p1)
	}
	if p2, _ := c.driverOptFile(); p2 != p1 {
		t.Errorf("same options, new file %s != %s", p2, p1)
	}
	// A site options file named in Config must exist (dsmc would refuse it).
	_, err = NewClient(Config{OptFile: site + ".missing"}, &fakeRunner{}).QuerySession(t.Context())
	_ = expectKind(t, err, KindInvalid)
}

// Whatever the site's dsm.opt sets for NUMBERFORMAT (1-6), DATEFORMAT,
// TIMEFORMAT, LANGUAGE and QUIET, every operation the driver runs reads
// dsmc's output correctly, with a simulator that accepts the format options
// everywhere and with one that refuses them on commands IBM does not list
// them for.
func TestSimSiteFormats(t *testing.T) {
	srv := newSimServer(t)
	ctx := simContext(t)
	const size = 1234567
	for _, strict := range []bool{false, true} {
		for nf := 1; nf <= 6; nf++ {
			t.Run(fmt.Sprintf("strict=%v/numberformat=%d", strict, nf), func(t *testing.T) {
				dir := t.TempDir()
				_, alias := fileVolume(t, dir, size)
				site := filepath.Join(dir, "dsm.opt")
				opts := fmt.Sprintf("NUMBERFORMAT %d\nDATEFORMAT %d\nTIMEFORMAT %d\nLANGUAGE DEU\nQUIET\n", nf, 1+nf%5, 1+nf%4)
				if err := os.WriteFile(site, []byte(opts), 0o644); err != nil {
					t.Fatal(err)
				}
				var env []string
				if strict {
					env = append(env, "DSMSIM_OPTION_CHECK=strict")
				}
				c := NewClient(Config{Binary: srv.bin, OptFile: site, WorkDir: t.TempDir(), Timeout: time.Minute},
					srv.runner("TSMTEST-NODE1", env...))
				start := time.Now()
				res, err := c.BackupFile(ctx, alias)
				if err != nil {
					t.Fatalf("backup: %v", err)
				}
				if res.Stats.BytesInspected < size*99/100 || res.Stats.BytesInspected > size*101/100 {
					t.Errorf("bytes inspected %d", res.Stats.BytesInspected)
				}
				if err := c.Verify(ctx, ModeFile, alias, size, start); err != nil {
					t.Fatalf("verify: %v", err)
				}
				if _, err := c.QuerySession(ctx); err != nil {
					t.Fatalf("query session: %v", err)
				}
				if _, err := c.RestoreFile(ctx, alias, filepath.Join(dir, "restored")); err != nil {
					t.Fatalf("restore: %v", err)
				}
				if err := c.DeleteAll(ctx, ModeFile, alias); err != nil {
					t.Fatalf("delete: %v", err)
				}
			})
		}
	}
	noSimLeft(t)
}

// The simulator really applies the site's formats and refuses misplaced
// options in strict mode; otherwise TestSimSiteFormats proves nothing.
func TestSimHonoursSiteFormats(t *testing.T) {
	srv := newSimServer(t)
	dir := t.TempDir()
	_, alias := fileVolume(t, dir, 1234567)
	site := filepath.Join(dir, "dsm.opt")
	if err := os.WriteFile(site, []byte("NUMBERFORMAT 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) string {
		cmd := exec.Command(srv.bin, args...)
		cmd.Env = append(os.Environ(), append([]string{"DSMSIM_ROOT=" + srv.root, "DSMSIM_NODE=TSMTEST-NODE1", "LANG=en_US.UTF-8", "LC_ALL=en_US.UTF-8"}, env...)...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run(nil, "selective", "-optfile="+site, alias); !strings.Contains(out, "1,18 MB") {
		t.Errorf("NUMBERFORMAT 5 not applied:\n%s", out)
	}
	if err := os.WriteFile(site, []byte("QUIET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := run(nil, "selective", "-optfile="+site, alias); strings.Contains(out, "Total number of objects") {
		t.Errorf("QUIET did not hide the statistics:\n%s", out)
	}
	if out := run([]string{"DSMSIM_OPTION_CHECK=strict"}, "selective", "-dateformat=3", alias); !strings.Contains(out, "ANS1108E") {
		t.Errorf("strict mode accepted -dateformat on selective:\n%s", out)
	}
	noSimLeft(t)
}

// backup image takes COMPRESSION from dsm.sys only; the client refuses an
// image backup whose stanza disagrees with Config.Compression instead of
// sending the volume otherwise, and with the stanza set a sparse volume is
// sent compressed.
func TestSimImageCompression(t *testing.T) {
	requireRoot(t)
	srv := newSimServer(t)
	ctx := simContext(t)
	alias := devAlias(t, loopDevice(t, simImageSize, map[int64][]byte{4096: randomBytes(t, 4096)}))
	dsmDir := t.TempDir()
	cfg := Config{Binary: srv.bin, WorkDir: t.TempDir(), Compression: "yes", Timeout: time.Minute}

	c := NewClient(cfg, srv.runner("TSMTEST-NODE1", "DSM_DIR="+dsmDir))
	_, err := c.BackupImage(ctx, alias)
	if te := expectKind(t, err, KindInvalid); !strings.Contains(te.Detail, "COMPRESSION YES") {
		t.Errorf("detail %q", te.Detail)
	}
	if err := os.WriteFile(filepath.Join(dsmDir, "dsm.sys"), []byte("SERVERNAME SIM\n  COMPRESSION YES\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.BackupImage(ctx, alias)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.BytesTransferred >= simImageSize/2 {
		t.Errorf("sparse image sent with %d bytes: not compressed", res.Stats.BytesTransferred)
	}
	noSimLeft(t)
}
