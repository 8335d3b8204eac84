package tsm

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"
)

const simImageSize = 8 << 20 // a whole number of MB, so a scaled size is exact

func simContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSimQuerySession(t *testing.T) {
	srv := newSimServer(t)
	s, err := srv.client("TSMTEST-NODE1").QuerySession(simContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Node != "TSMTEST-NODE1" || s.Server == "" {
		t.Errorf("session %+v", s)
	}
	noSimLeft(t)
}

func TestSimImageRoundTrip(t *testing.T) {
	requireRoot(t)
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1")
	ctx := simContext(t)

	src := loopDevice(t, simImageSize, map[int64][]byte{
		0:                   randomBytes(t, 4096), // sector 0 must survive the round trip
		1<<20 + 512:         randomBytes(t, 70000),
		simImageSize - 4096: randomBytes(t, 4096),
	})
	alias := devAlias(t, src)

	res, err := c.BackupImage(ctx, alias)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if res.Stats.BackedUp < 1 {
		t.Errorf("stats %+v", res.Stats)
	}

	objs, err := c.QueryImage(ctx, alias, false)
	if err != nil {
		t.Fatalf("query image: %v", err)
	}
	if len(objs) != 1 || objs[0].Name != alias || objs[0].Size != simImageSize || !objs[0].Active {
		t.Fatalf("query image %s = %+v, want one active object of %d bytes", alias, objs, simImageSize)
	}
	if time.Since(objs[0].BackupTime).Abs() > time.Hour {
		t.Errorf("backup time %v is not now", objs[0].BackupTime)
	}
	all, err := c.QueryImage(ctx, "", false)
	if err != nil || !hasObject(all, alias) {
		t.Errorf("query of all images lacks %s: %+v %v", alias, all, err)
	}

	// Restore into another device whose content differs everywhere we look.
	dst := loopDevice(t, simImageSize, map[int64][]byte{0: bytes4k(0xFF), 1 << 20: bytes4k(0xEE), simImageSize - 4096: bytes4k(0xDD)})
	res, err = c.RestoreImage(ctx, alias, dst)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Stats.Restored < 1 {
		t.Errorf("stats %+v", res.Stats)
	}
	// Onto a device, IBM's client keeps the destination's first sector
	// ("Restore an image to file"); everything after it is the image's.
	if a, b := readRange(t, src, 0, 512), readRange(t, dst, 0, 512); bytes.Equal(a, b) || !bytes.Equal(b, bytes4k(0xFF)[:512]) {
		t.Errorf("restore onto a device wrote sector 0")
	}
	if !bytes.Equal(readRange(t, src, 512, simImageSize-512), readRange(t, dst, 512, simImageSize-512)) {
		t.Errorf("restore onto a device: data after sector 0 differs")
	}
	// Into a file, -imagetofile restores every byte, sector 0 included.
	file := filepath.Join(t.TempDir(), "restored.img")
	if _, err := c.RestoreImageToFile(ctx, alias, file); err != nil {
		t.Fatalf("restore to file: %v", err)
	}
	sameContent(t, src, file)

	if _, err := c.Delete(ctx, ModeImage, alias); err != nil {
		t.Fatalf("delete: %v", err)
	}
	objs, err = c.QueryImage(ctx, alias, false)
	if err != nil || len(objs) != 0 {
		t.Errorf("after delete: %+v %v", objs, err)
	}
	if _, err := c.Delete(ctx, ModeImage, alias); !IsNotFound(err) {
		t.Errorf("second delete: %v, want not-found", err)
	}
	if _, err := c.RestoreImage(ctx, alias, dst); !IsNotFound(err) {
		t.Errorf("restore after delete: %v, want not-found", err)
	}
	noSimLeft(t)
}

func bytes4k(b byte) []byte {
	out := make([]byte, 4096)
	for i := range out {
		out[i] = b
	}
	return out
}

func hasObject(objs []Object, name string) bool {
	for _, o := range objs {
		if o.Name == name {
			return true
		}
	}
	return false
}

func TestSimFileRoundTrip(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1")
	ctx := simContext(t)

	dir := t.TempDir()
	vol := filepath.Join(dir, "volume.img")
	const size = 1000003 // not a multiple of anything
	if err := os.WriteFile(vol, randomBytes(t, size), 0o600); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(dir, "tsmtest-"+randomID(t))
	if err := os.Link(vol, alias); err != nil {
		t.Fatal(err)
	}

	res, err := c.BackupFile(ctx, alias)
	if err != nil {
		t.Fatalf("selective: %v", err)
	}
	if res.Stats.BackedUp < 1 {
		t.Errorf("stats %+v", res.Stats)
	}

	objs, err := c.QueryBackup(ctx, filepath.Join(dir, "tsmtest-*"), false)
	if err != nil {
		t.Fatalf("query backup: %v", err)
	}
	var found *Object
	for i := range objs {
		if objs[i].Name == alias {
			found = &objs[i]
		}
	}
	if found == nil || !found.Active {
		t.Fatalf("query backup lacks active %s: %+v", alias, objs)
	}
	// dsmc may scale the size ("976.57 KB"): three significant decimals.
	if d := found.Size - size; d < -size/200 || d > size/200 {
		t.Errorf("size %d, want about %d", found.Size, size)
	}

	restored := filepath.Join(dir, "restored.img")
	if err := os.WriteFile(restored, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RestoreFile(ctx, alias, restored); err != nil {
		t.Fatalf("restore: %v", err)
	}
	sameContent(t, vol, restored)

	if _, err := c.Delete(ctx, ModeFile, alias); err != nil {
		t.Fatalf("delete: %v", err)
	}
	objs, err = c.QueryBackup(ctx, filepath.Join(dir, "tsmtest-*"), false)
	if err != nil || hasObject(objs, alias) {
		t.Errorf("after delete: %+v %v", objs, err)
	}
	if _, err := c.Delete(ctx, ModeFile, alias); !IsNotFound(err) {
		t.Errorf("second delete: %v, want not-found", err)
	}
	noSimLeft(t)
}

func TestSimServerUnreachable(t *testing.T) {
	bin := simulator(t)
	// Without DSMSIM_ROOT the simulator behaves like a client that cannot
	// reach its server (contract): ANS1017E, rc 12.
	t.Setenv("DSMSIM_ROOT", "") // restores the variable after the test
	if err := os.Unsetenv("DSMSIM_ROOT"); err != nil {
		t.Fatal(err)
	}
	c := NewClient(Config{Binary: bin, Timeout: time.Minute}, ExecRunner{})
	_, err := c.QuerySession(simContext(t))
	if KindOf(err) != KindConnection {
		t.Fatalf("err = %v, want KindConnection", err)
	}
	noSimLeft(t)
}

func readRange(t *testing.T, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSimRestoreMatching restores many small files of one directory in one run, as the
// snapshots command reads every metadata object, and only those the pattern names.
func TestSimRestoreMatching(t *testing.T) {
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1")
	ctx := simContext(t)
	dir := t.TempDir()
	want := map[string][]byte{}
	for i := range 3 {
		name := filepath.Join(dir, fmt.Sprintf("m-%d.json", i))
		want[filepath.Base(name)] = randomBytes(t, 100+i)
		if err := os.WriteFile(name, want[filepath.Base(name)], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := c.BackupFile(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// A replaced object: its newest version is the one restored.
	first := filepath.Join(dir, "m-0.json")
	want["m-0.json"] = randomBytes(t, 99)
	if err := os.WriteFile(first, want["m-0.json"], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BackupFile(ctx, first); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BackupFile(ctx, other); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "into")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := c.RestoreMatching(ctx, filepath.Join(dir, "m-*.json"), dst)
	if err != nil {
		t.Fatalf("restore matching: %v", err)
	}
	if res.Stats.Restored != 3 {
		t.Errorf("restored %d objects, want 3", res.Stats.Restored)
	}
	got := map[string][]byte{}
	err = filepath.WalkDir(dst, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		got[e.Name()] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored files %v, want %v", keys(got), keys(want))
	}

	if _, err := c.RestoreMatching(ctx, filepath.Join(dir, "none-*.json"), dst); !IsNotFound(err) {
		t.Errorf("restore of a pattern nothing matches: %v, want not-found", err)
	}
	noSimLeft(t)
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
