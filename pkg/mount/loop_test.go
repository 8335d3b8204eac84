package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestLoopLifecycle(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	file := sparseFile(t, 64*mib)
	dev := attachLoop(t, file)

	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("AttachLoop returned %q", dev)
	}
	again, err := AttachLoop(ctx, file)
	if err != nil || again != dev {
		t.Fatalf("second AttachLoop = %q, %v; want %q", again, err, dev)
	}
	if found, err := FindLoop(file); err != nil || found != dev {
		t.Fatalf("FindLoop = %q, %v; want %q", found, err, dev)
	}
	if b, err := BackingFile(dev); err != nil || b != file {
		t.Fatalf("BackingFile = %q, %v; want %q", b, err, file)
	}
	if ok, err := IsBlockDevice(dev); err != nil || !ok {
		t.Errorf("IsBlockDevice(%s) = %v, %v", dev, ok, err)
	}
	if ok, err := IsBlockDevice(file); err != nil || ok {
		t.Errorf("IsBlockDevice(%s) = %v, %v", file, ok, err)
	}
	assertDeviceSize(t, dev, 64*mib)

	if err := GrowFile(file, 96*mib); err != nil {
		t.Fatal(err)
	}
	assertDeviceSize(t, dev, 64*mib) // not visible before the refresh
	if err := RefreshLoopSize(ctx, dev); err != nil {
		t.Fatal(err)
	}
	assertDeviceSize(t, dev, 96*mib)

	if err := DetachLoop(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if found, err := FindLoop(file); err != nil || found != "" {
		t.Fatalf("FindLoop after detach = %q, %v", found, err)
	}
	if _, err := BackingFile(dev); !errors.Is(err, ErrNotAttached) {
		t.Errorf("BackingFile after detach: %v, want ErrNotAttached", err)
	}
	if err := RefreshLoopSize(ctx, dev); !errors.Is(err, ErrNotAttached) {
		t.Errorf("RefreshLoopSize after detach: %v, want ErrNotAttached", err)
	}
	if err := DetachLoop(ctx, dev); err != nil {
		t.Errorf("second DetachLoop: %v", err)
	}
}

func assertDeviceSize(tb testing.TB, dev string, want int64) {
	tb.Helper()
	got, err := DeviceSize(dev)
	if err != nil {
		tb.Fatal(err)
	}
	if got != want {
		tb.Errorf("DeviceSize(%s) = %d, want %d", dev, got, want)
	}
}

func TestFindLoopByOtherNames(t *testing.T) {
	requireRoot(t)
	file := sparseFile(t, 8*mib)
	dev := attachLoop(t, file)
	dir := filepath.Dir(file)

	symlink := filepath.Join(dir, "symlink")
	if err := os.Symlink(file, symlink); err != nil {
		t.Fatal(err)
	}
	hardlink := filepath.Join(dir, "hardlink")
	if err := os.Link(file, hardlink); err != nil {
		t.Fatal(err)
	}
	relative, err := filepath.Rel(mustGetwd(t), file)
	if err != nil {
		t.Fatal(err)
	}
	other := sparseFile(t, 8*mib)

	tests := []struct {
		name string
		path string
		want string
	}{
		{"path", file, dev},
		{"relative path", relative, dev},
		{"symlink", symlink, dev},
		{"hardlink", hardlink, dev},
		{"unattached file", other, ""},
		{"missing file", filepath.Join(dir, "missing"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindLoop(tc.path)
			if err != nil || got != tc.want {
				t.Errorf("FindLoop(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
		})
	}
	// Attaching through another name must reuse the device.
	if again, err := AttachLoop(context.Background(), hardlink); err != nil || again != dev {
		t.Errorf("AttachLoop(hardlink) = %q, %v; want %q", again, err, dev)
	}
}

func mustGetwd(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	return wd
}

// A backing file deleted while attached must still be findable by its old
// path so the device can be cleaned up, but a new file at that path must not
// be mistaken for it.
func TestFindLoopDeletedBackingFile(t *testing.T) {
	requireRoot(t)
	file := sparseFile(t, 8*mib)
	dev := attachLoop(t, file)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got, err := FindLoop(file); err != nil || got != dev {
		t.Fatalf("FindLoop(deleted) = %q, %v; want %q", got, err, dev)
	}
	if b, err := BackingFile(dev); err != nil || b != file+deletedSuffix {
		t.Errorf("BackingFile = %q, %v; want %q", b, err, file+deletedSuffix)
	}
	if err := CreateSparseFile(file, 8*mib); err != nil {
		t.Fatal(err)
	}
	if got, err := FindLoop(file); err != nil || got != "" {
		t.Errorf("FindLoop(new file at old path) = %q, %v; want none", got, err)
	}
	if err := DetachLoop(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
}

func TestAttachLoopConcurrent(t *testing.T) {
	requireRoot(t)
	const n = 4
	files := make([]string, n)
	for i := range files {
		files[i] = sparseFile(t, 8*mib)
	}
	// Each file is attached from two goroutines at once: distinct files must
	// get distinct devices, the same file the same device.
	devs := make([][2]string, n)
	errs := make([][2]error, n)
	var wg sync.WaitGroup
	for i := range n {
		for j := range 2 {
			wg.Go(func() {
				devs[i][j], errs[i][j] = AttachLoop(context.Background(), files[i])
			})
		}
	}
	wg.Wait()
	for i := range n {
		for j := range 2 {
			if devs[i][j] != "" {
				t.Cleanup(func() { detachIfAttached(t, devs[i][j], files[i]) })
			}
			if errs[i][j] != nil {
				t.Errorf("AttachLoop(%s): %v", files[i], errs[i][j])
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	seen := map[string]string{}
	for i := range n {
		if devs[i][0] != devs[i][1] {
			t.Errorf("%s attached twice: %s and %s", files[i], devs[i][0], devs[i][1])
		}
		if prev, dup := seen[devs[i][0]]; dup {
			t.Errorf("%s and %s share %s", prev, files[i], devs[i][0])
		}
		seen[devs[i][0]] = files[i]
		if b, err := BackingFile(devs[i][0]); err != nil || b != files[i] {
			t.Errorf("BackingFile(%s) = %q, %v; want %q", devs[i][0], b, err, files[i])
		}
	}
}

func TestDetachLoopBusy(t *testing.T) {
	requireRoot(t)
	file := sparseFile(t, 64*mib)
	cmd(t, "mkfs.ext4", "-q", file)
	dev := attachLoop(t, file)
	mnt := mountDir(t)
	cmd(t, "mount", dev, mnt)
	unmountAll(t, mnt)

	if err := DetachLoop(context.Background(), dev); !errors.Is(err, ErrDeviceBusy) {
		t.Fatalf("DetachLoop of mounted device: %v, want ErrDeviceBusy", err)
	}
	if got, _ := FindLoop(file); got != dev {
		t.Fatalf("busy device was detached anyway (FindLoop = %q)", got)
	}
	cmd(t, "umount", mnt)
	if err := DetachLoop(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
	if got, _ := FindLoop(file); got != "" {
		t.Fatalf("still attached as %s", got)
	}
}

// A device someone holds open without O_EXCL is detached lazily by the
// kernel; DetachLoop waits for that and reports ErrDeviceBusy if the holder
// outlives the wait, after which the kernel still releases it on close.
func TestDetachLoopWaitsForRelease(t *testing.T) {
	requireRoot(t)
	file := sparseFile(t, 8*mib)
	dev := attachLoop(t, file)
	holder, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := DetachLoop(ctx, dev); !errors.Is(err, ErrDeviceBusy) {
		t.Fatalf("DetachLoop with an open holder: %v, want ErrDeviceBusy", err)
	}
	_ = holder.Close()
	err = waitFor(context.Background(), 10*time.Second, func() (bool, error) {
		got, err := FindLoop(file)
		return got == "", err
	})
	if err != nil {
		t.Fatalf("device not released after the holder closed: %v", err)
	}

	// Detaching while a short-lived holder closes in the meantime succeeds.
	dev = attachLoop(t, file)
	holder2, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() { released <- DetachLoop(context.Background(), dev) }()
	waitDetachRequested(t, dev)
	_ = holder2.Close()
	select {
	case err := <-released:
		if err != nil {
			t.Fatalf("DetachLoop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("DetachLoop did not return after the holder closed")
	}
}

// waitDetachRequested waits until the kernel marked dev for release on last
// close (LO_FLAGS_AUTOCLEAR shows in sysfs as autoclear=1).
func waitDetachRequested(tb testing.TB, dev string) {
	tb.Helper()
	name := filepath.Base(dev)
	err := waitFor(context.Background(), 10*time.Second, func() (bool, error) {
		b, err := os.ReadFile(filepath.Join("/sys/block", name, "loop", "autoclear"))
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		return strings.TrimSpace(string(b)) == "1", err
	})
	if err != nil {
		tb.Fatalf("detach of %s never requested: %v", dev, err)
	}
}

func TestDetachLoopRejectsOthers(t *testing.T) {
	requireRoot(t)
	regular := sparseFile(t, mib)
	tests := []struct {
		name string
		dev  string
		want error
	}{
		{"missing path", filepath.Join(t.TempDir(), "gone"), nil},
		{"character device", "/dev/null", ErrNotLoopDevice},
		{"regular file", regular, ErrNotLoopDevice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := DetachLoop(context.Background(), tc.dev)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("DetachLoop(%s) = %v, want %v", tc.dev, err, tc.want)
			}
			if _, err := BackingFile(tc.dev); err == nil {
				t.Errorf("BackingFile(%s) succeeded", tc.dev)
			}
		})
	}
}

func TestAttachLoopRejects(t *testing.T) {
	requireRoot(t)
	before, err := attachedLoops()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		if dev, err := AttachLoop(context.Background(), p); err == nil {
			detachIfAttached(t, dev, p)
			t.Errorf("AttachLoop(%s) = %s, want an error", p, dev)
		}
	}
	after, err := attachedLoops()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("attached loop devices changed from %v to %v", before, after)
	}
}

func TestIsBlockDeviceMissing(t *testing.T) {
	if _, err := IsBlockDevice(filepath.Join(t.TempDir(), "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("IsBlockDevice(missing): %v, want os.ErrNotExist", err)
	}
}

func TestWaitExclusive(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "excl.img")
	if err := CreateSparseFile(file, 8<<20); err != nil {
		t.Fatal(err)
	}
	dev, err := AttachLoop(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DetachLoop(context.Background(), dev) })
	if err := WaitExclusive(ctx, dev, time.Second); err != nil {
		t.Fatalf("free device: %v", err)
	}
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitExclusive(ctx, dev, 100*time.Millisecond); !errors.Is(err, ErrDeviceBusy) {
		t.Fatalf("held device: %v, want ErrDeviceBusy", err)
	}
	released := make(chan error, 1)
	go func() { released <- WaitExclusive(ctx, dev, time.Minute) }()
	_ = unix.Close(fd)
	if err := <-released; err != nil {
		t.Fatalf("after release: %v", err)
	}
}
