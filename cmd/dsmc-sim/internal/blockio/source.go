// Package blockio streams volumes between block devices, regular files and the
// simulator's sparse object files with fixed-size buffers, so that memory use does
// not depend on the size of the volume.
package blockio

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kind says what an opened path is.
type Kind int

const (
	KindOther Kind = iota
	KindFile
	KindBlock
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindBlock:
		return "block device"
	default:
		return "other"
	}
}

// KindOf classifies a stat result.
func KindOf(fi os.FileInfo) Kind {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return KindFile
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
		return KindBlock
	default:
		return KindOther
	}
}

// Size returns the number of bytes f holds: BLKGETSIZE64 for block devices (a
// stat of a device node reports 0), the stat size for regular files.
func Size(f *os.File) (int64, Kind, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, KindOther, err
	}
	k := KindOf(fi)
	switch k {
	case KindFile:
		return fi.Size(), k, nil
	case KindBlock:
		var sz uint64
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&sz)))
		if errno == 0 {
			return int64(sz), k, nil
		}
		// Some drivers do not implement the ioctl; the end offset is the size.
		end, err := f.Seek(0, 2)
		if err != nil {
			return 0, k, fmt.Errorf("size of %s: %v / %v", f.Name(), errno, err)
		}
		return end, k, nil
	default:
		return 0, k, fmt.Errorf("%s is neither a regular file nor a block device", f.Name())
	}
}
