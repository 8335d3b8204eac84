package mount

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mountutils "k8s.io/mount-utils"
)

// maxStackedMounts bounds Unmount's loop; a target with more mounts than this
// stacked on it is broken beyond what peeling them off one by one can fix.
const maxStackedMounts = 64

// Mounter formats, mounts, unmounts and resizes filesystems through
// k8s.io/mount-utils, with a deadline on every command it runs.
type Mounter struct {
	sfm     *mountutils.SafeFormatAndMount
	resizer *mountutils.ResizeFs
}

// NewMounter returns a Mounter for the host it runs on.
func NewMounter() *Mounter {
	ex := newTimedExec()
	return &Mounter{
		sfm:     mountutils.NewSafeFormatAndMount(newExecMounter(), ex),
		resizer: mountutils.NewResizeFs(ex),
	}
}

// FormatAndMount mounts the block device dev on the existing directory
// target, creating a filesystem of fsType ("" means ext4; ext4 and xfs are
// supported) only when blkid finds none: a device that already carries any
// filesystem or partition table is never reformatted. xfs is always mounted
// with nouuid, because a volume restored from a snapshot of a volume that is
// still mounted carries the same filesystem UUID.
//
// If target already has dev mounted this is a no-op; another device there is
// ErrMountConflict.
func (m *Mounter) FormatAndMount(dev, target, fsType string, options []string) error {
	if fsType == "" {
		fsType = "ext4"
	}
	if fsType != "ext4" && fsType != "xfs" {
		return fmt.Errorf("format and mount %s: %q: %w", dev, fsType, ErrUnsupportedFS)
	}
	// A missing target would only make the mount fail after formatting.
	if st, err := os.Stat(target); err != nil {
		return fmt.Errorf("format and mount: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("format and mount: target %s is not a directory", target)
	}
	current, err := mountedDevice(target)
	if err != nil {
		return fmt.Errorf("format and mount: %w", err)
	}
	if current != "" {
		want, err := blockDeviceRdev(dev)
		if err != nil {
			return fmt.Errorf("format and mount: %w", err)
		}
		// A source that is no block device (tmpfs, ...) is a conflict too.
		if got, err := blockDeviceRdev(current); err != nil || got != want {
			return fmt.Errorf("format and mount %s on %s: %s is mounted there: %w", dev, target, current, ErrMountConflict)
		}
		return nil
	}
	opts := slices.Clone(options)
	if fsType == "xfs" && !slices.Contains(opts, "nouuid") {
		opts = append(opts, "nouuid")
	}
	if err := m.sfm.FormatAndMount(dev, target, fsType, opts); err != nil {
		return fmt.Errorf("format and mount %s on %s: %w", dev, target, err)
	}
	klog.InfoS("Mounted filesystem", "device", dev, "target", target, "fsType", fsType)
	return nil
}

// BindMount bind-mounts src (a directory, or a device node onto a file) on
// target, read-only if asked. A target that already shows src with the same
// read-only state is left alone; anything else mounted there is
// ErrMountConflict.
func (m *Mounter) BindMount(src, target string, readOnly bool, options []string) error {
	mounted, err := m.IsMountPoint(target)
	if err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	if mounted {
		return checkExistingBind(src, target, readOnly)
	}
	opts := append([]string{"bind"}, options...)
	if readOnly && !slices.Contains(opts, "ro") {
		opts = append(opts, "ro")
	}
	if err := m.sfm.Mount(src, target, "", opts); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", src, target, err)
	}
	klog.V(2).InfoS("Bind mounted", "source", src, "target", target, "readOnly", readOnly)
	return nil
}

func checkExistingBind(src, target string, readOnly bool) error {
	sst, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	tst, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	if !os.SameFile(sst, tst) {
		return fmt.Errorf("bind mount %s on %s: %w", src, target, ErrMountConflict)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(target, &fs); err != nil {
		return fmt.Errorf("bind mount: statfs %s: %w", target, err)
	}
	if isRO := fs.Flags&unix.ST_RDONLY != 0; isRO != readOnly {
		return fmt.Errorf("bind mount %s on %s: mounted with read-only=%v: %w", src, target, isRO, ErrMountConflict)
	}
	return nil
}

// Unmount removes every mount stacked on target. A target that is not
// mounted or does not exist is not an error.
func (m *Mounter) Unmount(target string) error {
	for range maxStackedMounts {
		mounted, err := m.IsMountPoint(target)
		if err != nil && !mountutils.IsCorruptedMnt(err) {
			return fmt.Errorf("unmount: %w", err)
		}
		// A corrupted mount cannot be inspected but can still be unmounted.
		if err == nil && !mounted {
			return nil
		}
		if err := umount(target); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
		klog.V(2).InfoS("Unmounted", "target", target)
	}
	return fmt.Errorf("unmount %s: still mounted after %d unmounts", target, maxStackedMounts)
}

// IsMountPoint reports whether path is a mount point; a missing path is not.
func (m *Mounter) IsMountPoint(path string) (bool, error) {
	mounted, err := m.sfm.IsMountPoint(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return mounted, err
}

// DeviceFormat returns the filesystem type blkid finds on dev, "" when there
// is none.
func (m *Mounter) DeviceFormat(dev string) (string, error) {
	return m.sfm.GetDiskFormat(dev)
}

// ResizeFS grows the filesystem on dev, mounted at mountPath, to fill the
// device and reports whether it actually grew. The resize tools succeed when
// there is nothing to do, so growth is measured with statfs when mountPath is
// given.
func (m *Mounter) ResizeFS(dev, mountPath string) (bool, error) {
	var before FSStats
	if mountPath != "" {
		var err error
		if before, err = StatFS(mountPath); err != nil {
			return false, fmt.Errorf("resize: %w", err)
		}
	}
	resized, err := m.resizer.Resize(dev, mountPath)
	if err != nil {
		return false, fmt.Errorf("resize %s: %w", dev, err)
	}
	if mountPath == "" {
		return resized, nil
	}
	after, err := StatFS(mountPath)
	if err != nil {
		return false, fmt.Errorf("resize: %w", err)
	}
	grew := after.TotalBytes > before.TotalBytes
	if grew {
		klog.InfoS("Grew filesystem", "device", dev, "mountPath", mountPath,
			"fromBytes", before.TotalBytes, "toBytes", after.TotalBytes)
	}
	return grew, nil
}

// NeedResize reports whether the filesystem on dev may need growing. Like
// mount-utils it answers true for any writable ext4 or xfs filesystem and
// leaves the real comparison to ResizeFS, which is cheap when there is
// nothing to do.
func (m *Mounter) NeedResize(dev, mountPath string) (bool, error) {
	return m.resizer.NeedResize(dev, mountPath)
}
