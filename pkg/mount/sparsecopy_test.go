package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSparseCopy(t *testing.T) {
	type region struct{ off, len int64 }
	tests := []struct {
		name    string
		size    int64
		regions []region
	}{
		{"empty file", 0, nil},
		{"only a hole", 64 * mib, nil},
		{"data at start", 64 * mib, []region{{0, mib}}},
		{"data at end", 64 * mib, []region{{63 * mib, mib}}},
		{"scattered", 64 * mib, []region{{4 * kib, 8 * kib}, {10 * mib, 3 * mib}, {40 * mib, 4 * kib}}},
		{"region larger than the buffer", 32 * mib, []region{{mib, 5*mib + 4*kib}}},
		{"dense unaligned size", 3*mib + 123, []region{{0, 3*mib + 123}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			dst := filepath.Join(dir, "dst")
			if err := CreateSparseFile(src, tc.size); err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.regions {
				writeAt(t, src, r.off, randomBytes(t, r.len))
			}
			if err := SparseCopy(context.Background(), src, dst); err != nil {
				t.Fatal(err)
			}
			if !sameContent(t, src, dst) {
				t.Fatal("copy differs from source")
			}
			srcAlloc, dstAlloc := allocatedBytes(t, src), allocatedBytes(t, dst)
			if dstAlloc != srcAlloc {
				t.Errorf("allocated %d bytes, source has %d", dstAlloc, srcAlloc)
			}
			if sm, dm := dataMap(t, src), dataMap(t, dst); !equalRegions(sm, dm) {
				t.Errorf("data regions %v, source has %v", dm, sm)
			}
		})
	}
}

func equalRegions(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSparseCopyFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		dstExists bool
		noSource  bool
		want      error
	}{
		{"cancelled", cancelled, false, false, context.Canceled},
		{"destination exists", context.Background(), true, false, os.ErrExist},
		{"missing source", context.Background(), false, true, os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			dst := filepath.Join(dir, "dst")
			if !tc.noSource {
				if err := CreateSparseFile(src, 16*mib); err != nil {
					t.Fatal(err)
				}
				writeAt(t, src, 2*mib, randomBytes(t, 3*mib))
			}
			if tc.dstExists {
				if err := os.WriteFile(dst, []byte("keep"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := SparseCopy(tc.ctx, src, dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("SparseCopy: %v, want %v", err, tc.want)
			}
			if tc.dstExists {
				if b, _ := os.ReadFile(dst); string(b) != "keep" {
					t.Errorf("existing destination changed to %q", b)
				}
			} else if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed SparseCopy left %s behind", dst)
			}
		})
	}
}
