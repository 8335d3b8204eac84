package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newLoop attaches a sparse backing file of size bytes (filled by fill) to a
// free loop device and detaches it when the test ends.
func newLoop(t testing.TB, size int64, fill func(f *os.File)) string {
	t.Helper()
	requireRoot(t)
	p := filepath.Join(t.TempDir(), "backing.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(f)
	}
	_ = f.Close()
	out, err := exec.Command("losetup", "--find", "--show", p).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// aliasNode makes a device node with the same major:minor as dev, the way the
// driver names each snapshot's image (a per-snapshot path to the device).
func aliasNode(t testing.TB, dev, name string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(st.Rdev)); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeAt(t testing.TB, f *os.File, off int64, b []byte) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func readDev(t testing.TB, dev string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(dev)
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

func TestImageRoundTripOnLoopDevices(t *testing.T) {
	const size = 64 << 20
	src := newLoop(t, size, func(f *os.File) {
		writeAt(t, f, 0, pattern(512, 1))           // first sector (boot record / superblock)
		writeAt(t, f, 1<<20, pattern(3<<20, 2))     // data
		writeAt(t, f, 33<<20+512, pattern(4096, 3)) // unaligned small write
		writeAt(t, f, size-4096, pattern(4096, 4))  // last block
	})
	// The destination is larger and full of old data: zero ranges of the image
	// must become zero, bytes past the image must stay.
	garbage := pattern(1<<20, 9)
	dst := newLoop(t, size+(8<<20), func(f *os.File) {
		for off := int64(0); off < size+(8<<20); off += 1 << 20 {
			writeAt(t, f, off, garbage)
		}
	})
	alias := aliasNode(t, src, "snap-0001")
	s := newSim(t)
	r := s.must(0, "backup", "image", "-snapshotproviderimage=none", "-dateformat=3", "-timeformat=1", alias)
	if v := statValue(r.stdout, "Total number of objects backed up:"); v != "1" {
		t.Fatalf("backed up %q\n%s", v, r)
	}
	if r.peakRSSKiB > 64<<10 {
		t.Fatalf("backup peak RSS %d KiB", r.peakRSSKiB)
	}
	if got := s.storedBytes(alias); got > 12<<20 {
		t.Fatalf("server stores %d bytes for a mostly empty 64 MiB image", got)
	}
	r = s.must(0, "q", "image", alias)
	if !strings.Contains(r.stdout, "64.00 MB") || !strings.Contains(r.stdout, " A  "+alias) {
		t.Fatalf("query image\n%s", r)
	}
	r = s.must(0, "restore", "image", "-noprompt", alias, dst)
	if v := statValue(r.stdout, "Total number of objects restored:"); v != "1" {
		t.Fatalf("restored %q\n%s", v, r)
	}
	// Restored onto a device, the first sector is the destination's own
	// (IBM "Restore an image to file"); everything after it is the image's.
	if !bytes.Equal(readDev(t, dst, 0, 512), garbage[:512]) {
		t.Fatal("restore onto a device overwrote the destination's first sector")
	}
	if !bytes.Equal(readDev(t, src, 512, size-512), readDev(t, dst, 512, size-512)) {
		t.Fatal("destination differs from the source image after the first sector")
	}
	if !bytes.Equal(readDev(t, dst, size, 1<<20), garbage) {
		t.Fatal("restore touched the destination beyond the image size")
	}
	// -imagetofile restores everything, sector 0 included.
	file := filepath.Join(t.TempDir(), "image.raw")
	s.must(0, "restore", "image", "-noprompt", "-imagetofile", alias, file)
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, readDev(t, src, 0, size)) {
		t.Fatal("-imagetofile differs from the source image")
	}
}

func TestImageErrors(t *testing.T) {
	requireRoot(t)
	src := newLoop(t, 16<<20, func(f *os.File) { writeAt(t, f, 0, pattern(1<<20, 1)) })
	small := newLoop(t, 8<<20, func(f *os.File) { writeAt(t, f, 0, pattern(1<<20, 5)) })
	s := newSim(t)
	s.must(0, "backup", "image", src)
	regular := writeFile(t, t.TempDir(), "plain", []byte("not a device"))
	tests := []struct {
		name  string
		args  []string
		stdin string
		rc    int
		out   string
		check func(t *testing.T)
	}{
		{name: "smaller-destination", args: []string{"restore", "image", "-noprompt", src, small}, rc: 12, out: "ANS1253E",
			check: func(t *testing.T) {
				if !bytes.Equal(readDev(t, small, 0, 1<<20), pattern(1<<20, 5)) {
					t.Fatal("a refused restore wrote to the destination")
				}
			}},
		{name: "backup-regular-file", args: []string{"backup", "image", regular}, rc: 12, out: "ANS1063E"},
		{name: "backup-missing", args: []string{"backup", "image", "/dev/does-not-exist"}, rc: 12, out: "ANS1063E"},
		{name: "restore-to-file", args: []string{"restore", "image", "-noprompt", src, regular}, rc: 12, out: "ANS1063E"},
		{name: "unknown-image", args: []string{"restore", "image", "-noprompt", "/dev/never", src}, rc: 12, out: "ANS4000E Error processing '/dev/never': file space does not exist."},
		{name: "prompt-eof", args: []string{"restore", "image", src, src}, rc: 12, out: "Do you wish to continue? (Yes (Y)/No (N))"},
		{name: "prompt-no", args: []string{"restore", "image", src, src}, stdin: "n\n", rc: 12, out: "ANS1034E"},
		{name: "prompt-yes", args: []string{"restore", "image", src, src}, stdin: "y\n", rc: 0, out: "Restore processing finished."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.runWith(runOpts{stdin: tc.stdin}, tc.args...)
			if r.rc != tc.rc || !strings.Contains(r.stdout, tc.out) {
				t.Fatalf("want rc %d and %q\n%s", tc.rc, tc.out, r)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
	t.Run("image-to-file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "image.raw")
		s.must(0, "restore", "image", "-noprompt", "-imagetofile", src, out)
		f, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f, readDev(t, src, 0, 16<<20)) {
			t.Fatal("image file differs from the device")
		}
	})
}

func TestRestoreRefusesMountedDevice(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 missing")
	}
	src := newLoop(t, 16<<20, func(f *os.File) { writeAt(t, f, 0, pattern(4096, 1)) })
	dst := newLoop(t, 32<<20, nil)
	if out, err := exec.Command("mkfs.ext4", "-q", dst).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	mnt := t.TempDir()
	if err := unix.Mount(dst, mnt, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	s := newSim(t)
	s.must(0, "backup", "image", src)
	r := s.run("restore", "image", "-noprompt", src, dst)
	if r.rc != 12 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("restore onto a mounted device: want rc 12\n%s", r)
	}
}

// TestSparseImageRestoreIsFast: a mostly empty 1 GiB image restores onto a
// device full of old data in seconds, because zero ranges are zeroed by the
// device (BLKZEROOUT) instead of being written.
func TestSparseImageRestoreIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 1 GiB")
	}
	const size = 1 << 30
	src := newLoop(t, size, func(f *os.File) { writeAt(t, f, 100<<20, pattern(1<<20, 1)) })
	old := pattern(1<<20, 2)
	dst := newLoop(t, size, func(f *os.File) {
		for off := int64(0); off < size; off += 128 << 20 {
			writeAt(t, f, off, old)
		}
	})
	s := newSim(t)
	s.must(0, "backup", "image", src)
	start := time.Now()
	s.must(0, "restore", "image", "-noprompt", src, dst)
	took := time.Since(start)
	t.Logf("1 GiB sparse image restored in %v", took)
	if took > 10*time.Second {
		t.Fatalf("sparse restore took %v", took)
	}
	if !bytes.Equal(readDev(t, dst, 0, 512), old[:512]) {
		t.Fatal("first sector of the destination not preserved")
	}
	for off := int64(512); off < size; off += 128 << 20 {
		if !bytes.Equal(readDev(t, dst, off, 1<<20-512), make([]byte, 1<<20-512)) {
			t.Fatalf("old data left at offset %d", off)
		}
	}
	if !bytes.Equal(readDev(t, dst, 100<<20, 1<<20), pattern(1<<20, 1)) {
		t.Fatal("data block not restored")
	}
}
