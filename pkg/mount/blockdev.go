package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	sysfsRoot = "/sys"
	devRoot   = "/dev"
)

// DeviceSize returns the size in bytes of the block device dev (BLKGETSIZE64).
func DeviceSize(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, fmt.Errorf("device size: %w", err)
	}
	defer func() { _ = f.Close() }()
	var size uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); errno != 0 {
		return 0, fmt.Errorf("device size of %s: BLKGETSIZE64: %w", dev, errno)
	}
	return int64(size), nil
}

// IsBlockDevice reports whether path (after following symlinks) is a block
// device node. A missing path is an error wrapping fs.ErrNotExist, so callers
// do not mistake "gone" for "a regular file".
func IsBlockDevice(path string) (bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return isBlockMode(st.Mode()), nil
}

func isBlockMode(m os.FileMode) bool {
	return m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0
}

// blockDeviceRdev returns the device number of the block device node path.
func blockDeviceRdev(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, fmt.Errorf("%s: not a block device", path)
	}
	return st.Rdev, nil
}

// blockDeviceName maps a device number to its kernel name ("loop3") through
// /sys/dev/block, which is authoritative even when /dev holds other names
// (our hardlinks) for the same node.
func blockDeviceName(rdev uint64) (string, error) {
	link := filepath.Join(sysfsRoot, "dev", "block", fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev)))
	target, err := os.Readlink(link)
	if err != nil {
		return "", fmt.Errorf("resolve block device %d:%d: %w", unix.Major(rdev), unix.Minor(rdev), err)
	}
	return filepath.Base(target), nil
}

// canonicalDevice returns /dev/<kernel name> for the block device node path,
// verifying that this node exists and carries the same device number.
func canonicalDevice(path string) (string, error) {
	rdev, err := blockDeviceRdev(path)
	if err != nil {
		return "", err
	}
	return devicePathForRdev(rdev)
}

func devicePathForRdev(rdev uint64) (string, error) {
	name, err := blockDeviceName(rdev)
	if err != nil {
		return "", err
	}
	dev := filepath.Join(devRoot, name)
	got, err := blockDeviceRdev(dev)
	if err != nil {
		return "", fmt.Errorf("device node for %s: %w", name, err)
	}
	if got != rdev {
		return "", fmt.Errorf("device node %s is %d:%d, want %d:%d", dev,
			unix.Major(got), unix.Minor(got), unix.Major(rdev), unix.Minor(rdev))
	}
	return dev, nil
}

// WaitExclusive waits until nobody holds dev exclusively (a mount, or a writer such as a dsmc
// restore that is still exiting after its driver died) and returns ErrDeviceBusy if that does
// not happen within limit. Writing an image into a device someone else holds would corrupt
// either side.
func WaitExclusive(ctx context.Context, dev string, limit time.Duration) error {
	busy := false
	err := waitFor(ctx, limit, func() (bool, error) {
		fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
		if busy = errors.Is(err, unix.EBUSY); busy {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("open %s: %w", dev, err)
		}
		_ = unix.Close(fd)
		return true, nil
	})
	if err != nil && busy && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", dev, ErrDeviceBusy)
	}
	return err
}
