package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyBufferSize bounds SparseCopy's memory use regardless of file size.
const copyBufferSize = 1 << 20

// SparseCopy copies src into a new file dst of the same size, writing only
// the data regions src reports through SEEK_DATA/SEEK_HOLE, so holes stay
// holes and a mostly empty volume copies in proportion to its data. It is the
// fallback cut for filesystems without reflink; the caller must keep src
// quiescent (frozen or detached) for a consistent copy.
//
// ctx is checked between chunks. dst must not exist and is removed on any
// error, including cancellation.
func SparseCopy(ctx context.Context, src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("sparse copy: %w", err)
	}
	defer func() { _ = in.Close() }()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("sparse copy: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("sparse copy %s: not a regular file", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("sparse copy: %w", err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sparse copy: close %s: %w", dst, cerr)
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()

	size := st.Size()
	// Size first: the unwritten tail after the last data region stays a hole.
	if err = out.Truncate(size); err != nil {
		return fmt.Errorf("sparse copy: size %s: %w", dst, err)
	}
	buf := make([]byte, copyBufferSize)
	for off := int64(0); off < size; {
		start, end, ok, serr := nextDataRegion(in, off, size)
		if serr != nil {
			return fmt.Errorf("sparse copy %s: %w", src, serr)
		}
		if !ok {
			break
		}
		if err = copyRange(ctx, in, out, start, end, buf); err != nil {
			return fmt.Errorf("sparse copy %s to %s: %w", src, dst, err)
		}
		off = end
	}
	if err = ctx.Err(); err != nil {
		return fmt.Errorf("sparse copy: %w", err)
	}
	if err = out.Sync(); err != nil {
		return fmt.Errorf("sparse copy: fsync %s: %w", dst, err)
	}
	return syncDir(filepath.Dir(dst))
}

// nextDataRegion returns the data region [start, end) at or after off, or
// ok=false when only a hole remains.
func nextDataRegion(f *os.File, off, size int64) (start, end int64, ok bool, err error) {
	fd := int(f.Fd())
	start, err = unix.Seek(fd, off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("seek data at %d: %w", off, err)
	}
	end, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, false, fmt.Errorf("seek hole at %d: %w", start, err)
	}
	// The file may have changed size since Stat; copy no further than that
	// snapshot so dst keeps the size we gave it.
	if end > size {
		end = size
	}
	if start >= end {
		return 0, 0, false, nil
	}
	return start, end, true, nil
}

func copyRange(ctx context.Context, in, out *os.File, start, end int64, buf []byte) error {
	for pos := start; pos < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int64(len(buf))
		if rest := end - pos; rest < n {
			n = rest
		}
		got, err := in.ReadAt(buf[:n], pos)
		if err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
			return fmt.Errorf("read at %d: %w", pos, err)
		}
		if _, err := out.WriteAt(buf[:got], pos); err != nil {
			return fmt.Errorf("write at %d: %w", pos, err)
		}
		pos += int64(got)
	}
	return nil
}
