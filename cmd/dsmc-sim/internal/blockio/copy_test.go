package blockio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 7
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x>>24) | 1
	}
	return b
}

func makeFile(t *testing.T, size int64, chunks map[int64][]byte) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range chunks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func allocated(t *testing.T, f *os.File) int64 {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

func contents(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCopyKeepsContentAndSparseness(t *testing.T) {
	tests := []struct {
		name     string
		size     int64
		chunks   map[int64][]byte
		bufSize  int
		maxAlloc int64
	}{
		{name: "empty", size: 0},
		{name: "all-zero-written", size: 8 << 20, chunks: map[int64][]byte{0: make([]byte, 8<<20)}, maxAlloc: 0},
		{name: "scattered", size: 32 << 20, chunks: map[int64][]byte{0: fill(10, 1), 5 << 20: fill(200<<10, 2), 32<<20 - 1: {9}},
			maxAlloc: 1 << 20},
		{name: "dense-small-buffer", size: 3<<20 + 5, chunks: map[int64][]byte{0: fill(3<<20+5, 3)}, bufSize: 100 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := makeFile(t, tc.size, tc.chunks)
			dst, err := os.Create(filepath.Join(t.TempDir(), "obj"))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = dst.Close() }()
			res, err := Copy(NewObjectSink(dst), src, tc.size, Options{BufSize: tc.bufSize, DetectZeros: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Bytes != tc.size {
				t.Fatalf("copied %d of %d bytes", res.Bytes, tc.size)
			}
			if !bytes.Equal(contents(t, src), contents(t, dst)) {
				t.Fatal("content differs")
			}
			if tc.maxAlloc > 0 || tc.name == "all-zero-written" {
				if a := allocated(t, dst); a > tc.maxAlloc {
					t.Fatalf("object allocates %d bytes, want <= %d", a, tc.maxAlloc)
				}
			}
		})
	}
}

func TestFileSinkOverwritesOldData(t *testing.T) {
	img := makeFile(t, 4<<20, map[int64][]byte{1 << 20: fill(4096, 5)})
	// An existing destination full of other bytes and longer than the image.
	dst := makeFile(t, 6<<20, map[int64][]byte{0: fill(6<<20, 6)})
	sink, err := NewFileSink(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(sink, img, 4<<20, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(contents(t, img), contents(t, dst)) {
		t.Fatal("destination differs from image (old data or wrong length)")
	}
}

type stopAt struct{ at int64 }

var errStop = errors.New("stop")

func (g stopAt) Pass(off, n int64) (int64, error) {
	if off+n > g.at {
		return g.at - off, errStop
	}
	return n, nil
}

type stepGate struct{ calls int }

func (g *stepGate) Pass(off, n int64) (int64, error) {
	g.calls++
	return min(n, 1000), nil
}

func TestGate(t *testing.T) {
	src := makeFile(t, 2<<20, map[int64][]byte{0: fill(2<<20, 7)})
	dst, _ := os.Create(filepath.Join(t.TempDir(), "obj"))
	defer func() { _ = dst.Close() }()
	res, err := Copy(NewObjectSink(dst), src, 2<<20, Options{Gate: stopAt{at: 1234567}, DetectZeros: true})
	if !errors.Is(err, errStop) || res.Bytes != 1234567 {
		t.Fatalf("stopped at %d with %v, want 1234567 and errStop", res.Bytes, err)
	}
	if got := contents(t, dst); !bytes.Equal(got[:1234567], fill(2<<20, 7)[:1234567]) {
		t.Fatal("bytes before the stop point are wrong")
	}
	// A gate that lets small pieces through still delivers everything.
	dst2, _ := os.Create(filepath.Join(t.TempDir(), "obj2"))
	defer func() { _ = dst2.Close() }()
	g := &stepGate{}
	if _, err := Copy(NewObjectSink(dst2), src, 2<<20, Options{Gate: g}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(contents(t, src), contents(t, dst2)) || g.calls < (2<<20)/1000 {
		t.Fatalf("paced copy wrong (calls %d)", g.calls)
	}
}

func TestIsZero(t *testing.T) {
	b := make([]byte, 3<<20)
	if !IsZero(b) {
		t.Fatal("zeros not detected")
	}
	b[len(b)-1] = 1
	if IsZero(b) {
		t.Fatal("last byte missed")
	}
}

func TestSizeRejectsOtherKinds(t *testing.T) {
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, k, err := Size(f); err == nil || k != KindOther {
		t.Fatalf("directory: kind %v err %v", k, err)
	}
}
