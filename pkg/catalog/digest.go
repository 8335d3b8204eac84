package catalog

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// Algorithm is the hash of a Digest: BLAKE3 (github.com/zeebo/blake3), chosen because it is
// a cryptographic hash (a restore proves the bytes, not just a checksum) that runs at over 2 GB/s
// on one core of an AVX2 machine (BenchmarkSum, "make bench"), faster than the reader it shares
// the page cache with.
const Algorithm = "blake3-256"

// ChunkSize is the unit of a Digest: small enough that a mismatch names a narrow range and that
// the chunks of a volume spread over every core, large enough that the list stays small (256
// digests per GiB).
const ChunkSize = 4 << 20

// Digest is the content of the first Size bytes of a volume, one hash per chunk and a root
// over them, so a check can run chunks in parallel and a mismatch is located.
type Digest struct {
	Algorithm string `json:"algorithm"`
	ChunkSize int64  `json:"chunkSize"`
	Size      int64  `json:"size"`
	// Root is the hash of Size (8 bytes, big-endian) followed by every chunk hash in order.
	Root   string   `json:"root"`
	Chunks []string `json:"chunks"`
}

func (d *Digest) chunkCount() int64 { return (d.Size + d.ChunkSize - 1) / d.ChunkSize }

func (d *Digest) check() error {
	switch {
	case d.Algorithm != Algorithm:
		return fmt.Errorf("digest algorithm %q, this driver knows %q", d.Algorithm, Algorithm)
	case d.ChunkSize < 64<<10 || d.ChunkSize > 64<<20 || d.ChunkSize&(d.ChunkSize-1) != 0:
		return fmt.Errorf("digest chunk size %d", d.ChunkSize)
	case d.Size <= 0:
		return fmt.Errorf("digest size %d", d.Size)
	case int64(len(d.Chunks)) != d.chunkCount():
		return fmt.Errorf("digest has %d chunks, %d bytes need %d", len(d.Chunks), d.Size, d.chunkCount())
	}
	sums := make([][32]byte, len(d.Chunks))
	for i, c := range d.Chunks {
		b, err := hex.DecodeString(c)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("digest chunk %d is not a 256-bit hex hash", i)
		}
		copy(sums[i][:], b)
	}
	if root := rootOf(d.Size, sums); root != d.Root {
		return errors.New("digest root does not match its chunks")
	}
	return nil
}

func rootOf(size int64, sums [][32]byte) string {
	h := blake3.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(size))
	_, _ = h.Write(n[:])
	for i := range sums {
		_, _ = h.Write(sums[i][:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Sum hashes the first size bytes of the file at path with workers goroutines (0: one per CPU).
// Chunks that lie entirely in a hole of a sparse file are not read: their hash is that of zeros,
// which is what reading them would give.
func Sum(ctx context.Context, path string, size int64, workers int) (*Digest, error) {
	if size <= 0 {
		return nil, fmt.Errorf("digest of %s: size %d", path, size)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < size {
		return nil, fmt.Errorf("digest of %s: %d bytes, want at least %d", path, st.Size(), size)
	}
	d := &Digest{Algorithm: Algorithm, ChunkSize: ChunkSize, Size: size}
	n := d.chunkCount()
	sums := make([][32]byte, n)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = int(min(int64(workers), n))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, ChunkSize)
			for {
				i := next.Add(1) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				off := i * ChunkSize
				length := min(ChunkSize, size-off)
				sum, err := sumChunk(f, off, length, buf)
				if err != nil {
					cancel(fmt.Errorf("digest of %s at %d: %w", path, off, err))
					return
				}
				sums[i] = sum
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	d.Chunks = make([]string, n)
	for i := range sums {
		d.Chunks[i] = hex.EncodeToString(sums[i][:])
	}
	d.Root = rootOf(size, sums)
	return d, nil
}

var zeroSums sync.Map // length -> [32]byte

func zeroSum(length int64) [32]byte {
	if s, ok := zeroSums.Load(length); ok {
		return s.([32]byte)
	}
	s := blake3.Sum256(make([]byte, length))
	zeroSums.Store(length, s)
	return s
}

func sumChunk(f *os.File, off, length int64, buf []byte) ([32]byte, error) {
	// pread ignores the file offset that lseek moves, so workers may share the descriptor.
	data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO) || (err == nil && data >= off+length):
		return zeroSum(length), nil
	case err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP):
		return [32]byte{}, fmt.Errorf("seek data: %w", err)
	}
	b := buf[:length]
	if _, err := f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return [32]byte{}, err
	}
	return blake3.Sum256(b), nil
}

// MismatchError says where restored data first differs from its digest.
type MismatchError struct {
	Chunk      int64 // index of the first chunk that differs
	Offset     int64
	Length     int64
	Mismatched int // chunks that differ in all
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("data differs from the backup's digest in %d chunk(s), first chunk %d (bytes %d-%d)",
		e.Mismatched, e.Chunk, e.Offset, e.Offset+e.Length-1)
}

// Verify hashes the first want.Size bytes of path and compares them with want; the error is a
// *MismatchError when the content differs.
func Verify(ctx context.Context, path string, want *Digest, workers int) error {
	if err := want.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if want.ChunkSize != ChunkSize {
		// Only one chunk size is written today; a reader for others is written with them.
		return fmt.Errorf("%w: chunk size %d, this driver verifies %d", ErrFormat, want.ChunkSize, ChunkSize)
	}
	got, err := Sum(ctx, path, want.Size, workers)
	if err != nil {
		return err
	}
	if got.Root == want.Root {
		return nil
	}
	var mm *MismatchError
	for i := range want.Chunks {
		if got.Chunks[i] == want.Chunks[i] {
			continue
		}
		if mm == nil {
			off := int64(i) * want.ChunkSize
			mm = &MismatchError{Chunk: int64(i), Offset: off, Length: min(want.ChunkSize, want.Size-off)}
		}
		mm.Mismatched++
	}
	if mm == nil {
		return errors.New("digest roots differ while every chunk matches")
	}
	return mm
}
