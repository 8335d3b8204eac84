package mount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateSparseFile(t *testing.T) {
	tests := []struct {
		name string
		size int64
	}{
		{"empty", 0},
		{"one block", 4 * kib},
		{"unaligned", 12345},
		{"1GiB", gib},
		{"1TiB", 1 << 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := CreateSparseFile(p, tc.size); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != tc.size {
				t.Errorf("size = %d, want %d", st.Size(), tc.size)
			}
			if got := st.Mode().Perm(); got != 0o600 {
				t.Errorf("mode = %v, want 0600", got)
			}
			if a := allocatedBytes(t, p); a != 0 {
				t.Errorf("allocated %d bytes, want a fully sparse file", a)
			}
			got, err := FileSize(p)
			if err != nil || got != tc.size {
				t.Errorf("FileSize = %d, %v; want %d", got, err, tc.size)
			}
		})
	}
}

func TestCreateSparseFileExisting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := CreateSparseFile(p, mib)
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("CreateSparseFile on existing file: %v, want os.ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "keep me" {
		t.Errorf("existing file changed to %q", b)
	}
}

func TestCreateSparseFileFailures(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		size int64
	}{
		{"negative size", filepath.Join(dir, "neg"), -1},
		{"missing parent", filepath.Join(dir, "nope", "f"), mib},
		// ext4 caps file size at 16 TiB, so the truncate fails after the
		// file was created; it must be removed again.
		{"too large for ext4", filepath.Join(dir, "huge"), 1 << 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CreateSparseFile(tc.path, tc.size); err == nil {
				t.Fatal("CreateSparseFile succeeded")
			}
			if _, err := os.Lstat(tc.path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind (stat: %v)", tc.path, err)
			}
		})
	}
}

func TestGrowFile(t *testing.T) {
	tests := []struct {
		name     string
		from, to int64
		wantErr  error
		wantSize int64
	}{
		{"grow", mib, 4 * mib, nil, 4 * mib},
		{"grow from empty", 0, gib, nil, gib},
		{"same size", mib, mib, nil, mib},
		{"shrink refused", 4 * mib, mib, ErrShrink, 4 * mib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			if err := CreateSparseFile(p, tc.from); err != nil {
				t.Fatal(err)
			}
			writeAt(t, p, 0, []byte("header"))
			err := GrowFile(p, tc.to)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("GrowFile: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("GrowFile: %v, want %v", err, tc.wantErr)
			}
			if got := fileSize(t, p); got != tc.wantSize {
				t.Errorf("size = %d, want %d", got, tc.wantSize)
			}
			if b := readHead(t, p, 6); string(b) != "header" {
				t.Errorf("data changed: %q", b)
			}
			if a := allocatedBytes(t, p); a > 64*kib {
				t.Errorf("grow allocated %d bytes", a)
			}
		})
	}
}

func TestGrowFileMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing")
	if err := GrowFile(p, mib); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("GrowFile on missing file: %v, want os.ErrNotExist", err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Error("GrowFile created the file")
	}
	if _, err := FileSize(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FileSize on missing file: %v", err)
	}
}

func readHead(tb testing.TB, p string, n int) []byte {
	tb.Helper()
	f, err := os.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		tb.Fatal(err)
	}
	return b
}
