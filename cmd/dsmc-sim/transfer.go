package main

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/blockio"
	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// xfer is the outcome of one streamed object.
type xfer struct {
	res   blockio.Result
	dur   time.Duration
	fault *fault // the injected fault that ended it, if any
	err   error
}

// outOfSpace tells whether the transfer failed for lack of server storage,
// injected or real (the server directory's file system is full).
func (x xfer) outOfSpace() bool {
	if x.fault != nil {
		return x.fault.kind == faultNoSpace
	}
	return errors.Is(x.err, syscall.ENOSPC) || errors.Is(x.err, syscall.EDQUOT)
}

func (x xfer) connectionLost() bool { return x.fault != nil && x.fault.kind == faultConnLost }

// transfer streams src into sink under the transfer faults; hang and crash
// faults act here, mid-stream, after the bytes before their offset went through.
func (c *client) transfer(sink blockio.Sink, src *os.File, size int64, detectZeros bool, faultKinds ...string) xfer {
	g := c.newGate(faultKinds...)
	t0 := time.Now()
	res, err := blockio.Copy(sink, src, size, blockio.Options{BufSize: g.bufSize(), DetectZeros: detectZeros, Gate: g})
	x := xfer{res: res, dur: time.Since(t0), err: err}
	var fe *faultErr
	if errors.As(err, &fe) {
		x.fault = fe.f
		switch fe.f.kind {
		case faultHang:
			_ = c.out.Flush()
			hangForever()
		case faultCrash:
			c.crash(fe.f)
		}
	}
	return x
}

// storeObject uploads src as a new version of obj. The version appears only
// after the data is complete: it is written to a locked temporary file, renamed
// and recorded in one step under the server lock.
func (c *client) storeObject(obj *store.Object, src *os.File) xfer {
	up, err := c.store.NewUpload()
	if err != nil {
		return xfer{err: err}
	}
	setInflight(up.Abort)
	defer setInflight(nil)
	x := c.transfer(blockio.NewObjectSink(up.File()), src, obj.Size, true, faultConnLost, faultNoSpace)
	if x.err != nil {
		up.Abort()
		return x
	}
	obj.DataBytes = x.res.DataBytes
	x.err = up.Commit(func(st *store.State, data string) error {
		// The backup date is the commit time, taken under the server lock, so
		// that of two concurrent backups the one that becomes active is also
		// the newer one.
		now := time.Now()
		obj.Data = data
		obj.BackupTime = now
		st.EnsureNode(obj.Node, now)
		st.AddVersion(obj, now)
		return nil
	})
	return x
}

// sent is what the statistics call transferred: everything, or with
// compression only the non-zero data (zeros compress to nothing).
func (c *client) sent(obj *store.Object) int64 {
	if obj.Compressed {
		return obj.DataBytes
	}
	return obj.Size
}

func (c *client) compression() bool {
	def := false
	if c.stanza != nil {
		if v, ok := c.stanza.opts["compression"]; ok {
			def, _ = yesNo(v)
		}
	}
	return c.cl.yes("compression", def)
}

// imageCompression is the compression of a backup image. IBM, Compression
// option: "The backup image command uses the compression option value
// specified in the dsm.sys file"
// (https://www.ibm.com/support/knowledgecenter/SSEQVQ_8.1.2/client/r_opt_compression.html),
// so -compression on the command line and COMPRESSION in dsm.opt are ignored.
func (c *client) imageCompression() bool {
	if c.stanza != nil {
		if v, ok := c.stanza.opts["compression"]; ok {
			b, _ := yesNo(v)
			return b
		}
	}
	return false
}
