package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CreateSparseFile creates path with the given apparent size and no allocated
// blocks. It fails with an error wrapping os.ErrExist if path exists, so two
// callers can never share a backing file by accident. The file and its
// directory entry are fsynced so a crash right after a successful return does
// not lose the volume.
func CreateSparseFile(path string, size int64) (err error) {
	if size < 0 {
		return fmt.Errorf("create %s: negative size %d", path, size)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create sparse file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if err = f.Truncate(size); err != nil {
		return fmt.Errorf("size %s to %d: %w", path, size, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err = syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return nil
}

// GrowFile extends path to size without allocating blocks. Equal size is a
// no-op; a smaller size is an error wrapping ErrShrink because shrinking a
// backing file would cut off filesystem data.
func GrowFile(path string, size int64) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("grow file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("grow file: close %s: %w", path, cerr)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("grow file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("grow %s: not a regular file", path)
	}
	cur := st.Size()
	if size < cur {
		return fmt.Errorf("grow %s from %d to %d: %w", path, cur, size, ErrShrink)
	}
	if size == cur {
		return nil
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("grow %s to %d: %w", path, size, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

// FileSize returns the apparent size of path.
func FileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// syncDir makes a new or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for fsync: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		// EINVAL: the filesystem cannot fsync directories; nothing to make durable.
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
