package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	mountutils "k8s.io/mount-utils"
)

const mountInfoPath = "/proc/self/mountinfo"

// topMount returns the mountinfo entry visible at path (the last of any
// stacked mounts), or nil when path is not a mount point or does not exist.
func topMount(path string) (*mountutils.MountInfo, string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	infos, err := mountutils.ParseMountInfo(mountInfoPath)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", mountInfoPath, err)
	}
	var top *mountutils.MountInfo
	for i := range infos {
		if unescapeMountInfo(infos[i].MountPoint) == resolved {
			top = &infos[i]
		}
	}
	return top, resolved, nil
}

// MountedDevice returns the block device mounted at path, or "" when path is
// not a mount point. For filesystems on a block device and for bind mounts of
// a device node it is the canonical /dev/<name> node, whatever name (for
// example one of our hardlinks) was used to mount it; otherwise it is the
// mount source as recorded in /proc/self/mountinfo.
func (m *Mounter) MountedDevice(path string) (string, error) {
	return mountedDevice(path)
}

func mountedDevice(path string) (string, error) {
	info, resolved, err := topMount(path)
	if err != nil {
		return "", fmt.Errorf("mounted device: %w", err)
	}
	if info == nil {
		return "", nil
	}
	var st unix.Stat_t
	if err := unix.Stat(resolved, &st); err != nil {
		return "", fmt.Errorf("mounted device: stat %s: %w", resolved, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return devicePathForRdev(st.Rdev)
	}
	// Block-based filesystems report their device as the mount's st_dev.
	if info.Major != 0 {
		if dev, err := devicePathForRdev(unix.Mkdev(uint32(info.Major), uint32(info.Minor))); err == nil {
			return dev, nil
		}
	}
	return unescapeMountInfo(info.Source), nil
}

// unescapeMountInfo undoes the kernel's octal escaping of space, tab,
// newline and backslash in mountinfo paths.
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
