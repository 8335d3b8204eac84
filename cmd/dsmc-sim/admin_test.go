package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminSeedObjects: objects named on stdin become active versions that the client lists
// and restores (as zeros of their size); a malformed line stores nothing.
func TestAdminSeedObjects(t *testing.T) {
	s := newSim(t)
	dir := filepath.Join(filepath.Dir(s.root), "files")
	images := "/dev/seed-1 1G\n/dev/seed-2 4096\n\n"
	files := dir + "/f-1 8192\n" + dir + "/f-2 10\n"
	for _, tc := range []struct {
		typ, in string
		rc      int
	}{
		{"image", "/dev/seed-3\n", 12},     // no size
		{"image", "dev/seed-3 1M\n", 12},   // relative
		{"image", "/dev/../seed 1M\n", 12}, // unclean
		{"image", "/dev/seed-3 -1\n", 12},  // bad size
		{"image", images, 0},
		{"file", files, 0},
	} {
		r := s.runWith(runOpts{stdin: tc.in}, "admin", "seed", "objects", "node=nodea", "type="+tc.typ)
		if r.rc != tc.rc {
			t.Fatalf("seed %q: want rc %d\n%s", tc.in, tc.rc, r)
		}
	}
	out := s.must(0, "query", "image").stdout
	if n := strings.Count(out, "/dev/seed-"); n != 2 || !strings.Contains(out, "/dev/seed-1") || !strings.Contains(out, "1.00 GB") {
		t.Fatalf("query image lists %d seeded images, want 2\n%s", n, out)
	}
	out = s.must(0, "query", "backup", dir+"/f-*").stdout
	if n := strings.Count(out, dir+"/f-"); n != 2 {
		t.Fatalf("query backup lists %d seeded files, want 2\n%s", n, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "restored")
	s.must(0, "restore", "-replace=yes", dir+"/f-2", dst)
	if b, err := os.ReadFile(dst); err != nil || !bytes.Equal(b, make([]byte, 10)) {
		t.Fatalf("restored %q, %v; want 10 zero bytes", b, err)
	}
	if out := s.admin("query", "node", "nodea"); strings.Contains(out, "never") {
		t.Errorf("last access not recorded:\n%s", out)
	}
}
