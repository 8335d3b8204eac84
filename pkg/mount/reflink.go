package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Reflink creates dst as a copy-on-write clone of src (FICLONE). The clone
// shares all extents with src, so it takes the same short time for any file
// size and is a consistent point-in-time copy of src's data.
//
// dst must not exist. When the filesystem cannot clone (not xfs/btrfs, or src
// and dst on different filesystems) the error wraps ErrReflinkUnsupported.
// dst is removed on any error.
func Reflink(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("reflink: %w", err)
	}
	defer func() { _ = in.Close() }()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("reflink: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("reflink %s: not a regular file", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("reflink: %w", err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("reflink: close %s: %w", dst, cerr)
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	if err = unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
		if isReflinkUnsupported(err) {
			return fmt.Errorf("reflink %s to %s: %w: %w", src, dst, ErrReflinkUnsupported, err)
		}
		return fmt.Errorf("reflink %s to %s: %w", src, dst, err)
	}
	if err = out.Sync(); err != nil {
		return fmt.Errorf("reflink: fsync %s: %w", dst, err)
	}
	return syncDir(filepath.Dir(dst))
}

// isReflinkUnsupported recognises the errnos filesystems use to say "cannot
// share extents here" as opposed to a real failure.
func isReflinkUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EXDEV) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY)
}

// SupportsReflink reports whether files in dir can be cloned with Reflink.
// It probes with a tiny temporary file, which it always removes.
func SupportsReflink(dir string) (bool, error) {
	probe, err := os.CreateTemp(dir, ".reflink-probe-*")
	if err != nil {
		return false, fmt.Errorf("reflink probe: %w", err)
	}
	src := probe.Name()
	defer func() { _ = os.Remove(src) }()
	// A clone of an empty file may succeed even where extents cannot be
	// shared, so give the probe one block of data.
	_, werr := probe.Write(make([]byte, 4096))
	cerr := probe.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return false, fmt.Errorf("reflink probe: %w", err)
	}
	// Reflink removes dst itself on failure, and only a successful clone is
	// ours to delete.
	dst := src + ".clone"
	err = Reflink(src, dst)
	switch {
	case err == nil:
		return true, os.Remove(dst)
	case errors.Is(err, ErrReflinkUnsupported):
		return false, nil
	default:
		return false, err
	}
}
