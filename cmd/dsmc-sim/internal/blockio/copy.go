package blockio

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// Gate is consulted before each piece of the stream: it may let fewer bytes pass
// than offered (the rest is offered again), delay the caller (rate limits), or
// fail after the bytes it let pass. off and n describe the logical byte range
// about to be handled.
type Gate interface {
	Pass(off, n int64) (int64, error)
}

// Options tune Copy. Zero values pick the defaults.
type Options struct {
	BufSize     int  // bytes per read; default 4 MiB
	Buffers     int  // buffers in flight between reader and writer; default 3
	DetectZeros bool // split data into zero and non-zero sub-blocks (backup side)
	Gate        Gate
}

// Result counts what Copy did.
type Result struct {
	Bytes     int64 // logical bytes handled, holes included
	DataBytes int64 // bytes that were not zero and went through WriteAt
}

// holeStep bounds how much of a hole is handed to the sink and the gate at once,
// so that rate limits and "fail after N bytes" stay precise on sparse volumes.
const holeStep = 64 << 20

type chunk struct {
	off int64
	n   int64
	buf []byte // nil for a hole
	err error
}

// Copy streams the first size bytes of src into sink. A reader goroutine fills a
// small ring of buffers while the caller's goroutine writes, so reading and
// writing overlap and memory stays at Buffers*BufSize whatever the size.
func Copy(sink Sink, src *os.File, size int64, opt Options) (Result, error) {
	if opt.BufSize <= 0 {
		opt.BufSize = 4 << 20
	}
	if opt.Buffers <= 0 {
		opt.Buffers = 3
	}
	free := make(chan []byte, opt.Buffers)
	for i := 0; i < opt.Buffers; i++ {
		free <- make([]byte, opt.BufSize)
	}
	full := make(chan chunk, opt.Buffers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(full)
		readAll(src, size, free, full, stop)
	}()
	res, err := writeAll(sink, full, free, opt)
	close(stop)
	for range full { // let the reader notice stop and exit
	}
	wg.Wait()
	if err != nil {
		return res, err
	}
	return res, sink.Finish(size)
}

func readAll(src *os.File, size int64, free chan []byte, full chan<- chunk, stop <-chan struct{}) {
	send := func(c chunk) bool {
		select {
		case full <- c:
			return true
		case <-stop:
			return false
		}
	}
	off := int64(0)
	for off < size {
		ds, de := nextData(src, off, size)
		for off < ds { // hole before the next data
			n := min(ds-off, holeStep)
			if !send(chunk{off: off, n: n}) {
				return
			}
			off += n
		}
		for off < de {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			want := min(de-off, int64(len(buf)))
			got, err := src.ReadAt(buf[:want], off)
			if err != nil && !(err == io.EOF && int64(got) == want) {
				if err == io.EOF {
					err = fmt.Errorf("%s ended at byte %d, expected %d", src.Name(), off+int64(got), size)
				}
				send(chunk{off: off, err: err})
				return
			}
			if !send(chunk{off: off, n: want, buf: buf[:want]}) {
				return
			}
			off += want
		}
	}
}

func writeAll(sink Sink, full <-chan chunk, free chan<- []byte, opt Options) (Result, error) {
	var res Result
	for c := range full {
		if c.err != nil {
			return res, c.err
		}
		off, rest := c.off, c.n
		for rest > 0 {
			n := rest
			var gerr error
			if opt.Gate != nil {
				n, gerr = opt.Gate.Pass(off, rest)
				n = max(0, min(n, rest))
			}
			if n > 0 {
				var err error
				if c.buf == nil {
					err = sink.Zero(off, n)
				} else {
					b := c.buf[off-c.off : off-c.off+n]
					err = writeData(sink, b, off, opt.DetectZeros, &res)
				}
				if err != nil {
					return res, err
				}
				res.Bytes += n
			}
			if gerr != nil {
				return res, gerr
			}
			if n == 0 {
				return res, fmt.Errorf("transfer gate made no progress at byte %d", off)
			}
			off += n
			rest -= n
		}
		if c.buf != nil {
			free <- c.buf[:cap(c.buf)]
		}
	}
	return res, nil
}

// writeData hands runs of non-zero sub-blocks to WriteAt and runs of zero
// sub-blocks to Zero, merging neighbours so large extents stay single calls.
func writeData(sink Sink, b []byte, off int64, detect bool, res *Result) error {
	if !detect {
		res.DataBytes += int64(len(b))
		return sink.WriteAt(b, off)
	}
	runStart, runZero := 0, false
	flush := func(end int) error {
		if end == runStart {
			return nil
		}
		if runZero {
			return sink.Zero(off+int64(runStart), int64(end-runStart))
		}
		res.DataBytes += int64(end - runStart)
		return sink.WriteAt(b[runStart:end], off+int64(runStart))
	}
	for i := 0; i < len(b); i += subBlock {
		end := min(i+subBlock, len(b))
		z := IsZero(b[i:end])
		if i == 0 {
			runZero = z
			continue
		}
		if z != runZero {
			if err := flush(i); err != nil {
				return err
			}
			runStart, runZero = i, z
		}
	}
	return flush(len(b))
}
