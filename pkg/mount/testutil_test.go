package mount

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// xfsMinSize is above mkfs.xfs's 300 MB lower limit.
const xfsMinSize = 512 * mib

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: loop devices, mounts and /dev links")
	}
}

// cmd runs a command for test setup or teardown, independent of the code
// under test, and fails the test with its output on error.
func cmd(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// cleanupCmd is cmd for t.Cleanup, where Fatal is not allowed to skip the
// remaining cleanups.
func cleanupCmd(tb testing.TB, name string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		tb.Errorf("cleanup: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// sparseFile creates a sparse file of size in a fresh temp dir.
func sparseFile(tb testing.TB, size int64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "backing.img")
	if err := CreateSparseFile(p, size); err != nil {
		tb.Fatal(err)
	}
	return p
}

// rawLoop attaches file with losetup directly and detaches it in Cleanup.
func rawLoop(tb testing.TB, file string) string {
	tb.Helper()
	dev := cmd(tb, "losetup", "--find", "--show", file)
	tb.Cleanup(func() { detachIfAttached(tb, dev, file) })
	return dev
}

// detachIfAttached detaches dev unless the test already did (or the device
// was reused for something else, which must not be touched).
func detachIfAttached(tb testing.TB, dev, file string) {
	tb.Helper()
	ok, err := loopBackedBy(dev, file)
	if err != nil && (errors.Is(err, ErrNotAttached) || errors.Is(err, os.ErrNotExist)) {
		return
	}
	if err != nil || !ok {
		// The backing file may have been deleted; fall back to the path.
		b, berr := BackingFile(dev)
		if berr != nil || strings.TrimSuffix(b, deletedSuffix) != resolvePath(file, true) {
			return
		}
	}
	cleanupCmd(tb, "losetup", "-d", dev)
}

// attachLoop attaches file with AttachLoop and registers a detach.
func attachLoop(tb testing.TB, file string) string {
	tb.Helper()
	dev, err := AttachLoop(context.Background(), file)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { detachIfAttached(tb, dev, file) })
	return dev
}

// scratchLoop is a sparse file of size attached to a loop device.
func scratchLoop(tb testing.TB, size int64) (file, dev string) {
	tb.Helper()
	file = sparseFile(tb, size)
	return file, attachLoop(tb, file)
}

// mountDir makes an empty directory to mount on.
func mountDir(tb testing.TB) string {
	tb.Helper()
	d := filepath.Join(tb.TempDir(), "mnt")
	if err := os.Mkdir(d, 0o750); err != nil {
		tb.Fatal(err)
	}
	return d
}

// unmountAll registers removal of every mount stacked on target.
func unmountAll(tb testing.TB, target string) {
	tb.Helper()
	tb.Cleanup(func() {
		for range maxStackedMounts {
			if !inMountInfo(tb, target) {
				return
			}
			cleanupCmd(tb, "umount", target)
		}
	})
}

// inMountInfo reports whether target appears as a mount point in
// /proc/self/mountinfo.
func inMountInfo(tb testing.TB, target string) bool {
	tb.Helper()
	return mountCount(tb, target) > 0
}

func mountCount(tb testing.TB, target string) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && unescapeMountInfo(f[4]) == target {
			n++
		}
	}
	return n
}

// scratchFS makes a filesystem of fsType on a fresh loop device with plain
// commands and mounts it; all of it is undone in Cleanup, in reverse order.
func scratchFS(tb testing.TB, fsType string, size int64) (file, dev, mnt string) {
	tb.Helper()
	file = sparseFile(tb, size)
	cmd(tb, "mkfs."+fsType, "-q", file)
	dev = rawLoop(tb, file)
	mnt = mountDir(tb)
	cmd(tb, "mount", "-t", fsType, dev, mnt)
	unmountAll(tb, mnt)
	return file, dev, mnt
}

// scratchXFS is a mounted, reflink capable xfs of 1 GiB.
func scratchXFS(tb testing.TB) string {
	tb.Helper()
	_, _, mnt := scratchFS(tb, "xfs", gib)
	return mnt
}

// randomName is a unique lower-case name for /dev links and files.
func randomName(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return devLinkPrefix() + hex.EncodeToString(b)
}

// devLinkPrefix names this process's /dev links so TestMain can find leaks.
func devLinkPrefix() string {
	return fmt.Sprintf("tsmcsi-test-%d-", os.Getpid())
}

// writeAt writes data at off into path without truncating it.
func writeAt(tb testing.TB, path string, off int64, data []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(data, off); err != nil {
		tb.Fatal(err)
	}
}

func randomBytes(tb testing.TB, n int64) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// sameContent compares two files chunk by chunk.
func sameContent(tb testing.TB, a, b string) bool {
	tb.Helper()
	if fileSize(tb, a) != fileSize(tb, b) {
		return false
	}
	fa, err := os.Open(a)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = fa.Close() }()
	fb, err := os.Open(b)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = fb.Close() }()
	ba, bb := make([]byte, mib), make([]byte, mib)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea
		}
		if ea != nil || eb != nil {
			tb.Fatal(errors.Join(ea, eb))
		}
	}
}

func fileSize(tb testing.TB, p string) int64 {
	tb.Helper()
	st, err := os.Stat(p)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}

// allocatedBytes is the space actually allocated to path (st_blocks).
func allocatedBytes(tb testing.TB, path string) int64 {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	return st.Blocks * 512
}

// dataMap lists the [start,end) data regions of path.
func dataMap(tb testing.TB, path string) [][2]int64 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	var regions [][2]int64
	for off := int64(0); off < st.Size(); {
		start, end, ok, err := nextDataRegion(f, off, st.Size())
		if err != nil {
			tb.Fatal(err)
		}
		if !ok {
			break
		}
		regions = append(regions, [2]int64{start, end})
		off = end
	}
	return regions
}
