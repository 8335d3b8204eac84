package blockio

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// nextData finds the data range that starts at or after off, using SEEK_DATA and
// SEEK_HOLE so that holes of sparse files are never read. Block devices and file
// systems without hole support report everything as data, which is still correct.
func nextData(f *os.File, off, size int64) (start, end int64) {
	fd := int(f.Fd())
	ds, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return size, size
		}
		return off, size
	}
	if ds >= size {
		return size, size
	}
	he, err := unix.Seek(fd, ds, unix.SEEK_HOLE)
	if err != nil || he > size {
		he = size
	}
	return ds, he
}
