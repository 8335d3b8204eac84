package mount

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FIEMAP (linux/fiemap.h); x/sys/unix does not define it.
const (
	fsIocFiemap       = 0xc020660b
	fiemapExtentLast  = 0x1
	fiemapExtentShare = 0x2000
	fiemapBatch       = 128
)

type fiemapHeader struct {
	start, length                  uint64
	flags, mapped, count, reserved uint32
}

type fiemapExtent struct {
	logical, physical, length uint64
	reserved64                [2]uint64
	flags                     uint32
	reserved                  [3]uint32
}

// SharedBytes is how many bytes of a file's data share their blocks with another file (after a
// reflink): each such block needs a new one when the file is overwritten there. A file system
// that cannot map extents cannot share them either, so it answers 0.
func SharedBytes(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read-only
	buf := make([]byte, unsafe.Sizeof(fiemapHeader{})+fiemapBatch*unsafe.Sizeof(fiemapExtent{}))
	hdr := (*fiemapHeader)(unsafe.Pointer(&buf[0]))
	extents := unsafe.Slice((*fiemapExtent)(unsafe.Pointer(&buf[unsafe.Sizeof(fiemapHeader{})])), fiemapBatch)
	var shared int64
	for start := uint64(0); ; {
		*hdr = fiemapHeader{start: start, length: ^uint64(0) - start, count: fiemapBatch}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
			if errors.Is(errno, unix.EOPNOTSUPP) || errors.Is(errno, unix.ENOTTY) {
				return 0, nil
			}
			return 0, fmt.Errorf("map extents of %s: %w", path, errno)
		}
		if hdr.mapped == 0 {
			return shared, nil
		}
		for _, e := range extents[:hdr.mapped] {
			if e.flags&fiemapExtentShare != 0 {
				shared += int64(e.length)
			}
			if e.flags&fiemapExtentLast != 0 {
				return shared, nil
			}
			start = e.logical + e.length
		}
	}
}
