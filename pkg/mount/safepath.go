package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Paths that come from a CSI request are untrusted: whoever can reach the socket chooses them.
// Everything here resolves such a path one way only, without following symlinks, so that a
// link planted in a path cannot redirect a mount, unmount or removal to somewhere else.

// ErrUnsafePath means a path from a request is relative, unclean, goes through a symlink, or
// lies inside (or above) a directory the driver keeps for itself.
var ErrUnsafePath = errors.New("unsafe path")

const resolveNoLinks = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

func unsafePath(p, format string, args ...any) error {
	return fmt.Errorf("path %q %s: %w", p, fmt.Sprintf(format, args...), ErrUnsafePath)
}

// CheckPath accepts p only if it is absolute and clean, holds no control character, is not /,
// no existing part of it is a symlink, and it is neither inside nor an ancestor of any of the
// forbidden directories (compared by name and, for what exists, by inode, so that a bind mount
// of a forbidden directory elsewhere does not get past it). A mount on an ancestor would hide
// the forbidden directory just as well as one inside it.
func CheckPath(p string, forbidden ...string) error {
	if err := checkLexical(p); err != nil {
		return err
	}
	existing, fd, err := openExistingPrefix(p)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	// The ancestors of the existing prefix, including itself, checked by inode.
	var ancestors []unix.Stat_t
	for q := existing; ; q = filepath.Dir(q) {
		var st unix.Stat_t
		if err := unix.Lstat(q, &st); err != nil {
			return fmt.Errorf("check path %s: %w", p, err)
		}
		ancestors = append(ancestors, st)
		if q == "/" {
			break
		}
	}
	// The file system p would be made in: that of p's parent, not of p itself, which may be a
	// mount point already.
	holder := ancestors[0]
	if existing == p && len(ancestors) > 1 {
		holder = ancestors[1]
	}
	backing := loopBackingOf(holder.Dev)
	for _, f := range forbidden {
		if f == "" {
			continue
		}
		f = filepath.Clean(f)
		if backing != "" && (within(backing, f) || withinReal(backing, f)) {
			// Inside a volume's (or a cut's) own file system: mounting there would show one
			// volume inside another.
			return unsafePath(p, "lies inside a file system on %s, which the driver keeps for itself", backing)
		}
		if within(p, f) {
			return unsafePath(p, "lies inside %s, which the driver keeps for itself", f)
		}
		if within(f, p) {
			return unsafePath(p, "contains %s, which the driver keeps for itself", f)
		}
		var fst unix.Stat_t
		if err := unix.Stat(f, &fst); err != nil {
			continue // nothing there to protect by inode
		}
		for _, a := range ancestors {
			if a.Dev == fst.Dev && a.Ino == fst.Ino {
				return unsafePath(p, "lies inside %s, which the driver keeps for itself", f)
			}
		}
		if existing == p {
			// p exists: is it an ancestor of f under another name?
			real, err := filepath.EvalSymlinks(f)
			if err != nil {
				continue
			}
			for q := real; ; q = filepath.Dir(q) {
				var st unix.Stat_t
				if err := unix.Stat(q, &st); err == nil && st.Dev == ancestors[0].Dev && st.Ino == ancestors[0].Ino {
					return unsafePath(p, "contains %s, which the driver keeps for itself", f)
				}
				if q == "/" {
					break
				}
			}
		}
	}
	return nil
}

// loopBackingOf returns the backing file of the loop device dev, "" for anything else.
func loopBackingOf(dev uint64) string {
	name, err := blockDeviceName(dev)
	if err != nil {
		return ""
	}
	if _, ok := loopNumber(name); !ok {
		return ""
	}
	b, err := readBackingFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(b, deletedSuffix)
}

// withinReal is within after resolving the symlinks of dir (the kernel reports backing files
// by their real path).
func withinReal(p, dir string) bool {
	real, err := filepath.EvalSymlinks(dir)
	return err == nil && within(p, real)
}

// checkLexical is the part of CheckPath that needs no file system.
func checkLexical(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path: %w", ErrUnsafePath)
	case !filepath.IsAbs(p):
		return unsafePath(p, "is not absolute")
	case filepath.Clean(p) != p:
		return unsafePath(p, "is not clean (want %q)", filepath.Clean(p))
	case p == "/":
		return unsafePath(p, "is the root directory")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return unsafePath(p, "contains a control character")
		}
	}
	return nil
}

// within reports whether p is dir or lies below it; both are clean.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// openNoLinks opens the clean absolute path p with O_PATH without following any symlink on the
// way or at its end: a symlink anywhere is ELOOP.
func openNoLinks(p string, flags int) (int, error) {
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_PATH | unix.O_CLOEXEC),
			Resolve: resolveNoLinks,
		})
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue // a rename raced the lookup; the kernel asks to retry
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
		return fd, nil
	}
}

// openExistingPrefix opens the longest existing prefix of p, refusing symlinks.
func openExistingPrefix(p string) (string, int, error) {
	for q := p; ; q = filepath.Dir(q) {
		fd, err := openNoLinks(q, 0)
		switch {
		case err == nil:
			return q, fd, nil
		case errors.Is(err, unix.ELOOP):
			return "", -1, unsafePath(p, "goes through a symbolic link")
		case errors.Is(err, unix.ENOTDIR):
			return "", -1, unsafePath(p, "goes through something that is not a directory")
		case !errors.Is(err, unix.ENOENT) || q == "/":
			return "", -1, fmt.Errorf("check path %s: %w", p, err)
		}
	}
}

// MakeDirNoFollow creates the directory p and missing parents (mode 0750) without following
// symlinks, and reports whether it created p itself, so that only a directory the driver made
// is ever removed by it. An existing directory is fine; p must have passed CheckPath.
func MakeDirNoFollow(p string) (created bool, err error) {
	parent, err := makeParents(p)
	if err != nil {
		return false, err
	}
	defer func() { _ = unix.Close(parent) }()
	return mkdirAt(parent, p)
}

// MakeFileNoFollow creates an empty file at p (a publish target of a block volume), creating
// missing parents, without following symlinks, and reports whether it created p. An existing
// non-directory is accepted as it is: it may be the device node bind-mounted there by an earlier
// call, which must not be opened or truncated.
func MakeFileNoFollow(p string) (created bool, err error) {
	parent, err := makeParents(p)
	if err != nil {
		return false, err
	}
	defer func() { _ = unix.Close(parent) }()
	base := filepath.Base(p)
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o640)
	if err == nil {
		_ = unix.Close(fd)
		return true, nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("make file %s: %w", p, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, fmt.Errorf("make file %s: %w", p, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return false, unsafePath(p, "is a symbolic link")
	case unix.S_IFDIR:
		return false, fmt.Errorf("make file %s: is a directory", p)
	}
	return false, nil
}

// makeParents creates the missing parents of p one component at a time, each opened relative to
// the one before without following symlinks, and returns an O_PATH descriptor of p's parent.
func makeParents(p string) (int, error) {
	if err := checkLexical(p); err != nil {
		return -1, err
	}
	dir := filepath.Dir(p)
	fd, err := openNoLinks("/", unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	if dir == "/" {
		return fd, nil
	}
	cur := ""
	for _, name := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		cur += "/" + name
		if _, err := mkdirAt(fd, cur); err != nil {
			_ = unix.Close(fd)
			return -1, err
		}
		next, err := openat2At(fd, name, unix.O_DIRECTORY)
		_ = unix.Close(fd)
		if err != nil {
			return -1, classify(cur, err)
		}
		fd = next
	}
	return fd, nil
}

// mkdirAt makes the last component of p inside the directory parent and reports whether it
// did; an existing directory there is fine, anything else there is an error.
func mkdirAt(parent int, p string) (bool, error) {
	base := filepath.Base(p)
	err := unix.Mkdirat(parent, base, 0o750)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("make dir %s: %w", p, err)
	}
	fd, err := openat2At(parent, base, unix.O_DIRECTORY)
	if err != nil {
		return false, classify(p, err)
	}
	_ = unix.Close(fd)
	return false, nil
}

func openat2At(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_PATH | unix.O_CLOEXEC),
			Resolve: resolveNoLinks | unix.RESOLVE_BENEATH,
		})
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

func classify(p string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return unsafePath(p, "is a symbolic link")
	case errors.Is(err, unix.ENOTDIR):
		return unsafePath(p, "is not a directory")
	}
	return fmt.Errorf("open %s: %w", p, err)
}

// RemoveCreated removes what MakeDirNoFollow or MakeFileNoFollow created at p: an empty
// directory or a regular file, nothing else, without following symlinks. A missing p is fine;
// a mount point is never removed (EBUSY), and neither is a directory that is not empty.
func RemoveCreated(p string) error {
	if err := checkLexical(p); err != nil {
		return err
	}
	parent, err := openNoLinks(filepath.Dir(p), unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return classify(filepath.Dir(p), err)
	}
	defer func() { _ = unix.Close(parent) }()
	base := filepath.Base(p)
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	flags := 0
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		flags = unix.AT_REMOVEDIR
	case unix.S_IFREG:
	default:
		return fmt.Errorf("remove %s: not a directory or regular file (mode %#o), left in place", p, st.Mode)
	}
	if err := unix.Unlinkat(parent, base, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	klog.V(2).InfoS("Removed", "path", p)
	return nil
}

// MountOf tells whether p (resolved without following symlinks) is a mount point and, if it
// is, the device number of the block device behind its top mount: the device node itself for a
// bind mount of one onto a file, the file system's device otherwise. rdev is 0 for a mount not
// backed by a block device (tmpfs, proc, ...). A missing p is not mounted.
func MountOf(p string) (mounted bool, rdev uint64, err error) {
	if err := checkLexical(p); err != nil {
		return false, 0, err
	}
	fd, err := openNoLinks(p, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, classify(p, err)
	}
	defer func() { _ = unix.Close(fd) }()
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_TYPE|unix.STATX_INO, &stx); err != nil {
		return false, 0, &os.PathError{Op: "statx", Path: p, Err: err}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, 0, fmt.Errorf("statx %s: the kernel does not report mount roots", p)
	}
	if stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, 0, nil
	}
	if uint32(stx.Mode)&unix.S_IFMT == unix.S_IFBLK {
		return true, unix.Mkdev(stx.Rdev_major, stx.Rdev_minor), nil
	}
	dev := unix.Mkdev(stx.Dev_major, stx.Dev_minor)
	if _, err := blockDeviceName(dev); err != nil {
		return true, 0, nil // an anonymous device: tmpfs, overlay, ...
	}
	return true, dev, nil
}

// DeviceNumber returns the device number of the block device node dev.
func DeviceNumber(dev string) (uint64, error) {
	return blockDeviceRdev(dev)
}

// UnmountDevice peels off the mounts stacked at p for as long as the top one is of the block
// device rdev, and reports how many it removed. A mount of anything else is left alone, so a
// caller can never unmount what is not its own; p is resolved without following symlinks.
func UnmountDevice(p string, rdev uint64) (int, error) {
	n := 0
	for range maxStackedMounts {
		mounted, got, err := MountOf(p)
		if err != nil {
			return n, fmt.Errorf("unmount: %w", err)
		}
		if !mounted || got != rdev || rdev == 0 {
			return n, nil
		}
		if err := unix.Unmount(p, unix.UMOUNT_NOFOLLOW); err != nil {
			return n, fmt.Errorf("unmount %s: %w", p, err)
		}
		n++
		klog.V(2).InfoS("Unmounted", "target", p)
	}
	return n, fmt.Errorf("unmount %s: still mounted after %d unmounts", p, maxStackedMounts)
}
