package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// loopMu serialises attach and detach within this process so that the
// check-then-attach in AttachLoop cannot hand one file two devices.
// losetup itself retries when another process grabs the same free device.
var loopMu sync.Mutex

// detachWait bounds how long DetachLoop waits for the kernel to release a
// device after LOOP_CLR_FD was accepted.
const detachWait = 10 * time.Second

const deletedSuffix = " (deleted)"

// AttachLoop returns a loop device backed by backingFile, attaching one
// (`losetup --find --show`, no partition scan, buffered I/O) only if the file
// is not attached yet. The new device is verified against the file's inode and
// detached again if that check fails.
func AttachLoop(ctx context.Context, backingFile string) (string, error) {
	abs, err := filepath.Abs(backingFile)
	if err != nil {
		return "", fmt.Errorf("attach loop: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("attach loop: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("attach loop %s: not a regular file", abs)
	}

	loopMu.Lock()
	defer loopMu.Unlock()

	if dev, err := FindLoop(abs); err != nil {
		return "", fmt.Errorf("attach loop: %w", err)
	} else if dev != "" {
		return dev, nil
	}

	out, err := run(ctx, "losetup", "--find", "--show", "--direct-io=off", abs)
	if err != nil {
		return "", fmt.Errorf("attach loop: %w", err)
	}
	dev := lastLine(string(out))
	if !strings.HasPrefix(dev, devRoot+"/") {
		return "", fmt.Errorf("attach loop %s: unexpected losetup output %q", abs, out)
	}
	if err := verifyAttached(dev, abs); err != nil {
		return "", err
	}
	klog.InfoS("Attached loop device", "device", dev, "file", abs)
	return dev, nil
}

// verifyAttached checks that dev really is backed by file and detaches it
// when it is ours (same backing path) but the identity check fails, so a
// failed AttachLoop leaves nothing attached.
func verifyAttached(dev, file string) error {
	ok, err := loopBackedBy(dev, file)
	if err == nil && ok {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("%s is not backed by %s", dev, file)
	}
	backing, berr := BackingFile(dev)
	resolved, rerr := filepath.EvalSymlinks(file)
	if berr == nil && rerr == nil && backing == resolved {
		ctx, cancel := context.WithTimeout(context.Background(), detachWait)
		defer cancel()
		if derr := detachLocked(ctx, dev); derr != nil {
			err = errors.Join(err, fmt.Errorf("undo attach: %w", derr))
		}
	}
	return fmt.Errorf("attach loop: verify %s: %w", dev, err)
}

// loopBackedBy compares the backing inode of dev (LOOP_GET_STATUS64) with
// file; paths alone are ambiguous when files are renamed, hardlinked or
// replaced.
func loopBackedBy(dev, file string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		return false, &os.PathError{Op: "stat", Path: file, Err: err}
	}
	devno, ino, err := loopIdentity(dev)
	if err != nil {
		return false, err
	}
	return devno == st.Dev && ino == st.Ino, nil
}

// loopIdentity returns the device number and inode of dev's backing file.
// An unattached device fails with an error wrapping ErrNotAttached.
func loopIdentity(dev string) (devno, ino uint64, err error) {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, &os.PathError{Op: "open", Path: dev, Err: err}
	}
	defer func() { _ = unix.Close(fd) }()
	info, err := unix.IoctlLoopGetStatus64(fd)
	if errors.Is(err, unix.ENXIO) {
		return 0, 0, fmt.Errorf("%s: %w", dev, ErrNotAttached)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: LOOP_GET_STATUS64: %w", dev, err)
	}
	return info.Device, info.Inode, nil
}

// FindLoop returns the loop device backed by backingFile, or "" when there is
// none. The match is by inode, so it survives renames and hardlinks. When
// backingFile no longer exists it still finds a device whose backing file was
// deleted under that path, so a half-finished delete can be completed. With
// several matches the lowest numbered device wins.
func FindLoop(backingFile string) (string, error) {
	abs, err := filepath.Abs(backingFile)
	if err != nil {
		return "", fmt.Errorf("find loop: %w", err)
	}
	var st unix.Stat_t
	statErr := unix.Stat(abs, &st)
	missing := errors.Is(statErr, unix.ENOENT)
	if statErr != nil && !missing {
		return "", fmt.Errorf("find loop: stat %s: %w", abs, statErr)
	}
	resolved := resolvePath(abs, missing)

	loops, err := attachedLoops()
	if err != nil {
		return "", fmt.Errorf("find loop: %w", err)
	}
	var errs []error
	for _, l := range loops {
		path, deleted := strings.CutSuffix(l.backing, deletedSuffix)
		dev := filepath.Join(devRoot, l.name)
		if missing {
			if deleted && path == resolved {
				return dev, nil
			}
			continue
		}
		devno, ino, err := loopIdentity(dev)
		switch {
		case err == nil:
			if devno == st.Dev && ino == st.Ino {
				return dev, nil
			}
		case errors.Is(err, ErrNotAttached):
			// Detached since the scan.
		case errors.Is(err, unix.ENOENT):
			// No node in this /dev; the path is the best evidence left.
			if !deleted && path == resolved {
				return dev, nil
			}
		default:
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("find loop for %s: %w", abs, errors.Join(errs...))
	}
	return "", nil
}

// resolvePath gives the path the kernel would report for abs: symlinks
// resolved, falling back to resolving only the directory when abs is gone.
func resolvePath(abs string, missing bool) string {
	if !missing {
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return r
		}
		return abs
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

type loopEntry struct {
	name    string // loopN
	num     int
	backing string // as the kernel reports it, possibly with " (deleted)"
}

// attachedLoops lists loop devices with a backing file, in device order.
func attachedLoops() ([]loopEntry, error) {
	entries, err := os.ReadDir(filepath.Join(sysfsRoot, "block"))
	if err != nil {
		return nil, err
	}
	var loops []loopEntry
	for _, e := range entries {
		num, ok := loopNumber(e.Name())
		if !ok {
			continue
		}
		backing, err := readBackingFile(e.Name())
		if errors.Is(err, ErrNotAttached) {
			continue
		}
		if err != nil {
			return nil, err
		}
		loops = append(loops, loopEntry{name: e.Name(), num: num, backing: backing})
	}
	sort.Slice(loops, func(i, j int) bool { return loops[i].num < loops[j].num })
	return loops, nil
}

func loopNumber(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "loop")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// readBackingFile reads /sys/block/<name>/loop/backing_file, which exists
// only while the device is attached.
func readBackingFile(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(sysfsRoot, "block", name, "loop", "backing_file"))
	// ENODEV: another process detached the device between the listing and the read.
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		return "", fmt.Errorf("%s: %w", name, ErrNotAttached)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// loopDeviceName returns the kernel name of the loop device node dev (which
// may be one of our hardlinks), failing with ErrNotLoopDevice for anything
// else.
func loopDeviceName(dev string) (string, error) {
	rdev, err := blockDeviceRdev(dev)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrNotLoopDevice, err)
	}
	name, err := blockDeviceName(rdev)
	if err != nil {
		return "", err
	}
	if _, ok := loopNumber(name); !ok {
		return "", fmt.Errorf("%s is %s: %w", dev, name, ErrNotLoopDevice)
	}
	return name, nil
}

// BackingFile returns the backing file of the loop device dev as the kernel
// reports it. A backing file that was unlinked keeps the kernel's
// " (deleted)" suffix so it never compares equal to a live path.
// An unattached device yields an error wrapping ErrNotAttached.
func BackingFile(dev string) (string, error) {
	name, err := loopDeviceName(dev)
	if err != nil {
		return "", fmt.Errorf("backing file: %w", err)
	}
	b, err := readBackingFile(name)
	if err != nil {
		return "", fmt.Errorf("backing file of %s: %w", dev, err)
	}
	return b, nil
}

// DetachLoop detaches the loop device dev and waits until the kernel has
// really released it. A missing or already detached device is not an error.
// A device that is open exclusively (mounted) is refused with ErrDeviceBusy
// instead of being left in the kernel's deferred "autoclear" state. If some
// other opener keeps it after detach was accepted, the wait ends with
// ErrDeviceBusy once ctx or an internal bound expires; the kernel then
// finishes the detach on last close.
func DetachLoop(ctx context.Context, dev string) error {
	loopMu.Lock()
	defer loopMu.Unlock()
	return detachLocked(ctx, dev)
}

func detachLocked(ctx context.Context, dev string) error {
	name, err := loopDeviceName(dev)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach loop: %w", err)
	}
	before, err := readBackingFile(name)
	if errors.Is(err, ErrNotAttached) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach loop %s: %w", dev, err)
	}
	// Mounted filesystems hold the device with O_EXCL; so does anyone else
	// who must not lose it underneath.
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("detach loop %s: %w", dev, ErrDeviceBusy)
	}
	if err != nil {
		return fmt.Errorf("detach loop %s: open: %w", dev, err)
	}
	_ = unix.Close(fd)

	if _, err := run(ctx, "losetup", "--detach", dev); err != nil {
		if released, _ := loopReleased(name, before); released {
			return nil
		}
		return fmt.Errorf("detach loop: %w", err)
	}
	if err := waitFor(ctx, detachWait, func() (bool, error) { return loopReleased(name, before) }); err != nil {
		return fmt.Errorf("detach loop %s: kernel has not released it: %w: %w", dev, ErrDeviceBusy, err)
	}
	klog.InfoS("Detached loop device", "device", dev, "file", before)
	return nil
}

// loopReleased reports whether the device no longer carries the backing
// file it had; a different file means someone reused the free device.
func loopReleased(name, before string) (bool, error) {
	now, err := readBackingFile(name)
	if errors.Is(err, ErrNotAttached) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return now != before, nil
}

// RefreshLoopSize makes the loop device dev pick up its backing file's new
// size after GrowFile (LOOP_SET_CAPACITY).
func RefreshLoopSize(ctx context.Context, dev string) error {
	if _, err := BackingFile(dev); err != nil {
		return fmt.Errorf("refresh loop size: %w", err)
	}
	if _, err := run(ctx, "losetup", "--set-capacity", dev); err != nil {
		return fmt.Errorf("refresh loop size: %w", err)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
