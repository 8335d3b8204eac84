package mount

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mountutils "k8s.io/mount-utils"
)

// FIFREEZE and FITHAW are _IOWR('X', 119, int) and _IOWR('X', 120, int) in
// the generic ioctl encoding (x86, arm, arm64, riscv, s390); x/sys/unix does
// not export them.
const (
	ioctlFIFREEZE = 0xC0045877
	ioctlFITHAW   = 0xC0045878
)

// abandonedFreezeResolved, when set, is called once the kernel finished a
// freeze whose caller gave up and any resulting thaw is done. Until then the
// mount stays busy (the freeze holds it open), so tests wait for it.
var abandonedFreezeResolved func()

// Freeze blocks all writes to the filesystem mounted at mountPath and flushes
// it to its device (FIFREEZE), so the device can be copied consistently. An
// already frozen filesystem is not an error. mountPath must be the mount
// point of a filesystem on a loop device (ErrNotMountPoint, ErrNotLoopDevice
// otherwise): freezing a plain directory would freeze whatever filesystem
// contains it.
//
// If ctx ends while the kernel is still flushing, Freeze returns the ctx
// error and thaws the filesystem as soon as the freeze completes, so an
// abandoned call never leaves it frozen. Until then the filesystem cannot be
// unmounted (busy).
func Freeze(ctx context.Context, mountPath string) error {
	_, err := freeze(ctx, mountPath)
	return err
}

// freeze is Freeze that also tells whether this call froze the filesystem (false when it was
// frozen already, by someone who will thaw it).
func freeze(ctx context.Context, mountPath string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("freeze %s: %w", mountPath, context.Cause(ctx))
	}
	f, err := openMountRoot(mountPath)
	if err != nil {
		return false, fmt.Errorf("freeze: %w", err)
	}
	type result struct {
		froze bool // false when it was frozen already
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { _ = f.Close() }()
		err := unix.IoctlSetInt(int(f.Fd()), ioctlFIFREEZE, 0)
		if errors.Is(err, unix.EBUSY) {
			// Frozen already; whoever froze it thaws it.
			done <- result{}
			return
		}
		done <- result{froze: err == nil, err: err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return false, fmt.Errorf("freeze %s: %w", mountPath, r.err)
		}
		klog.InfoS("Froze filesystem", "mountPath", mountPath, "alreadyFrozen", !r.froze)
		return r.froze, nil
	case <-ctx.Done():
		hook := abandonedFreezeResolved
		go func() {
			if r := <-done; r.froze {
				thawAbandoned(mountPath)
			}
			if hook != nil {
				hook()
			}
		}()
		return false, fmt.Errorf("freeze %s: %w", mountPath, context.Cause(ctx))
	}
}

func thawAbandoned(mountPath string) {
	if err := thaw(mountPath); err != nil {
		klog.ErrorS(err, "Could not thaw filesystem after abandoned freeze", "mountPath", mountPath)
		return
	}
	klog.InfoS("Thawed filesystem after abandoned freeze", "mountPath", mountPath)
}

// Thaw lets writes to the filesystem mounted at mountPath continue (FITHAW).
// A filesystem that is not frozen is not an error. ctx is deliberately not
// consulted: a caller whose deadline passed must still be able to thaw, and
// FITHAW does not wait for I/O.
func Thaw(_ context.Context, mountPath string) error {
	return thaw(mountPath)
}

func thaw(mountPath string) error {
	f, err := openMountRoot(mountPath)
	if err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	defer func() { _ = f.Close() }()
	err = unix.IoctlSetInt(int(f.Fd()), ioctlFITHAW, 0)
	if errors.Is(err, unix.EINVAL) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("thaw %s: %w", mountPath, err)
	}
	klog.InfoS("Thawed filesystem", "mountPath", mountPath)
	return nil
}

// openMountRoot opens mountPath after checking that it is the root of a
// filesystem on a loop device. The ioctls act on the superblock of whatever
// they are given, so a wrong path would freeze the host's root filesystem or,
// for a device node, /dev itself.
func openMountRoot(mountPath string) (*os.File, error) {
	mounted, err := (&mountutils.Mounter{}).IsMountPoint(mountPath)
	if err != nil {
		return nil, err
	}
	if !mounted {
		return nil, fmt.Errorf("%s: %w", mountPath, ErrNotMountPoint)
	}
	f, err := os.OpenFile(mountPath, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		_ = f.Close()
		return nil, &os.PathError{Op: "fstat", Path: mountPath, Err: err}
	}
	name, err := blockDeviceName(st.Dev)
	if err == nil {
		if _, ok := loopNumber(name); !ok {
			err = fmt.Errorf("filesystem at %s is on %s: %w", mountPath, name, ErrNotLoopDevice)
		}
	} else {
		err = fmt.Errorf("filesystem at %s is not on a block device: %w: %w", mountPath, ErrNotLoopDevice, err)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
