package blockio

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sink receives a volume's bytes: data ranges through WriteAt, all-zero ranges
// through Zero, and Finish once everything arrived.
type Sink interface {
	WriteAt(p []byte, off int64) error
	Zero(off, n int64) error
	Finish(size int64) error
}

// NewObjectSink writes into a freshly created (empty) file: zero ranges are
// skipped, leaving holes, and Finish sets the length so trailing zeros cost nothing.
func NewObjectSink(f *os.File) Sink { return &fileSink{f: f, oldSize: 0} }

// NewFileSink overwrites an existing regular file in place (so hard links and
// loop devices attached to it see the restored bytes): zero ranges inside the old
// length are punched out, and the file is cut to the restored length at the end.
func NewFileSink(f *os.File) (Sink, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return &fileSink{f: f, oldSize: fi.Size()}, nil
}

// NewBlockSink writes onto a block device that may hold old data, so zero ranges
// must really become zero: BLKZEROOUT lets the device do it (a loop device turns
// it into an fallocate on its backing file), with plain zero writes as fallback.
func NewBlockSink(f *os.File) Sink { return &blockSink{f: f} }

type fileSink struct {
	f       *os.File
	oldSize int64
	noPunch bool
}

func (s *fileSink) WriteAt(p []byte, off int64) error {
	_, err := s.f.WriteAt(p, off)
	return err
}

func (s *fileSink) Zero(off, n int64) error {
	if off >= s.oldSize {
		return nil
	}
	n = min(n, s.oldSize-off)
	if !s.noPunch {
		err := unix.Fallocate(int(s.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
			return err
		}
		s.noPunch = true
	}
	return writeZeros(s.f, off, n)
}

func (s *fileSink) Finish(size int64) error { return s.f.Truncate(size) }

type blockSink struct {
	f         *os.File
	noZeroOut bool
}

func (s *blockSink) WriteAt(p []byte, off int64) error {
	_, err := s.f.WriteAt(p, off)
	return err
}

func (s *blockSink) Zero(off, n int64) error {
	if !s.noZeroOut && off%512 == 0 && n%512 == 0 {
		rng := [2]uint64{uint64(off), uint64(n)}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, s.f.Fd(), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&rng)))
		if errno == 0 {
			return nil
		}
		s.noZeroOut = true
	}
	return writeZeros(s.f, off, n)
}

func (s *blockSink) Finish(int64) error { return nil }

func writeZeros(f *os.File, off, n int64) error {
	for n > 0 {
		c := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}
