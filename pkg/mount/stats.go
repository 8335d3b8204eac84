package mount

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// FSStats is the usage of a filesystem in bytes and inodes.
type FSStats struct {
	TotalBytes, AvailableBytes, UsedBytes int64
	TotalInodes, FreeInodes, UsedInodes   int64
}

// StatFS returns the usage of the filesystem holding path. AvailableBytes is
// what an unprivileged writer can still use, so Used + Available can be less
// than Total on filesystems with reserved blocks.
func StatFS(path string) (FSStats, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return FSStats{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	// f_frsize is the unit of the block counts; f_bsize is only a hint for
	// I/O size, though on Linux the two usually agree.
	unit := s.Frsize
	if unit == 0 {
		unit = s.Bsize
	}
	bs := int64(unit)
	return FSStats{
		TotalBytes:     int64(s.Blocks) * bs,
		AvailableBytes: int64(s.Bavail) * bs,
		UsedBytes:      int64(s.Blocks-s.Bfree) * bs,
		TotalInodes:    int64(s.Files),
		FreeInodes:     int64(s.Ffree),
		UsedInodes:     int64(s.Files - s.Ffree),
	}, nil
}
