package mount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReflink(t *testing.T) {
	requireRoot(t)
	xfs := scratchXFS(t)
	ext4 := t.TempDir()

	tests := []struct {
		name        string
		srcDir      string
		dstDir      string
		unsupported bool
	}{
		{"xfs", xfs, xfs, false},
		{"ext4", ext4, ext4, true},
		{"across filesystems", ext4, xfs, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(tc.srcDir, "src-"+randomName(t))
			dst := filepath.Join(tc.dstDir, "dst-"+randomName(t))
			if err := CreateSparseFile(src, 256*mib); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Remove(src); _ = os.Remove(dst) })
			writeAt(t, src, 0, randomBytes(t, mib))
			writeAt(t, src, 200*mib, randomBytes(t, 3*mib))

			err := Reflink(src, dst)
			if tc.unsupported {
				if !errors.Is(err, ErrReflinkUnsupported) {
					t.Fatalf("Reflink: %v, want ErrReflinkUnsupported", err)
				}
				if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("failed Reflink left %s behind", dst)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reflink: %v", err)
			}
			if !sameContent(t, src, dst) {
				t.Fatal("clone differs from source")
			}
			// Copy on write: changing the source leaves the clone alone.
			before := readHead(t, dst, 4096)
			writeAt(t, src, 0, randomBytes(t, 4096))
			if after := readHead(t, dst, 4096); string(after) != string(before) {
				t.Error("write to source changed the clone")
			}
		})
	}
}

func TestReflinkRefusesExistingAndMissing(t *testing.T) {
	requireRoot(t)
	dir := scratchXFS(t)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("source"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(src) })

	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(existing) })
	if err := Reflink(src, existing); !errors.Is(err, os.ErrExist) {
		t.Errorf("Reflink onto existing file: %v, want os.ErrExist", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Errorf("existing destination changed to %q", b)
	}

	dst := filepath.Join(dir, "dst")
	if err := Reflink(filepath.Join(dir, "missing"), dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reflink of missing source: %v, want os.ErrNotExist", err)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Error("failed Reflink created the destination")
	}
}

func TestSupportsReflink(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		dir  string
		want bool
	}{
		{"xfs", scratchXFS(t), true},
		{"ext4", t.TempDir(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SupportsReflink(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("SupportsReflink = %v, want %v", got, tc.want)
			}
			entries, err := os.ReadDir(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("probe left %s behind", e.Name())
			}
		})
	}
	if _, err := SupportsReflink(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SupportsReflink on a missing dir succeeded")
	}
}

// BenchmarkReflink shows that a clone costs the same for a 4 GiB volume as
// for a 64 MiB one with the same data: FICLONE shares extents instead of
// copying, so its cost follows the extent count, not the size.
//
//	go test -run '^$' -bench Reflink ./pkg/mount/
func BenchmarkReflink(b *testing.B) {
	requireRoot(b)
	dir := scratchXFS(b)
	for _, size := range []struct {
		name  string
		bytes int64
	}{{"64MiB", 64 * mib}, {"4GiB", 4 * gib}} {
		b.Run(size.name, func(b *testing.B) {
			src := filepath.Join(dir, "src-"+size.name)
			if err := CreateSparseFile(src, size.bytes); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = os.Remove(src) })
			// The same 16 data extents in both sizes, spread over the file.
			chunk := randomBytes(b, 256*kib)
			for i := int64(0); i < 16; i++ {
				writeAt(b, src, i*(size.bytes/16), chunk)
			}
			dst := filepath.Join(dir, "dst-"+size.name)
			b.ResetTimer()
			for b.Loop() {
				if err := Reflink(src, dst); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := os.Remove(dst); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// SharedBytes sees what a reflink shares, and that an overwrite unshares it.
func TestSharedBytes(t *testing.T) {
	requireRoot(t)
	xfs := scratchXFS(t)
	src := filepath.Join(xfs, "src-"+randomName(t))
	dst := filepath.Join(xfs, "dst-"+randomName(t))
	t.Cleanup(func() { _ = os.Remove(src); _ = os.Remove(dst) })
	if err := CreateSparseFile(src, 64*mib); err != nil {
		t.Fatal(err)
	}
	writeAt(t, src, 0, randomBytes(t, 4*mib))
	if n, err := SharedBytes(src); err != nil || n != 0 {
		t.Fatalf("before the reflink: %d shared, %v", n, err)
	}
	if err := Reflink(src, dst); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{src, dst} {
		if n, err := SharedBytes(f); err != nil || n != 4*mib {
			t.Fatalf("%s after the reflink: %d shared, %v; want %d", f, n, err, 4*mib)
		}
	}
	writeAt(t, dst, 0, randomBytes(t, mib))
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Sync()
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := SharedBytes(dst); err != nil || n != 3*mib {
		t.Fatalf("after overwriting 1 MiB: %d shared, %v; want %d", n, err, 3*mib)
	}
	ext4 := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(ext4, randomBytes(t, mib), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := SharedBytes(ext4); err != nil || n != 0 {
		t.Fatalf("a file without reflinks: %d shared, %v", n, err)
	}
}
