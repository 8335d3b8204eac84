package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/blockio"
	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// restartable reproduces sample 13: a pending restartable restore session
// blocks every new restore.
func (c *client) restartable() bool {
	if c.firstFiring(faultRestartable, nil) == nil {
		return false
	}
	c.msg("ANS1247I")
	c.printf("                                  \n")
	c.printf(">>>>>> Restore Processing Interrupted!! <<<<<<\n")
	c.msg("ANS1330S")
	c.printf("\nThe requested operation cannot complete until this session either\ncompletes or is canceled.\n")
	return true
}

// restoreImage implements "restore image <name> [<destination>]".
func (c *client) restoreImage() error {
	src := absName(c.cl.args[0])
	dst := src
	if len(c.cl.args) > 1 {
		dst = absName(c.cl.args[1])
	}
	c.printf("Restore Image Function Invoked.\n\n")
	if c.restartable() {
		return errStop
	}
	groups, _, err := c.objectsMatching(store.TypeImage, func(n string) bool { return n == src })
	if err != nil {
		return err
	}
	if len(groups[src]) == 0 {
		if c.fromNode != "" {
			c.msg("ANS1302E")
		} else {
			c.msg("ANS4000E", src)
		}
		return errStop
	}
	obj, err := c.choose(groups[src])
	if err != nil {
		c.diag("%v", err)
		c.msg("ANS1107E", "-pitdate")
		return errStop
	}
	if obj == nil {
		c.msg("ANS1302E")
		return errStop
	}
	toFile := c.cl.flag("imagetofile")
	out, sink, err := c.openImageDestination(dst, obj, toFile)
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	if !c.cl.flag("noprompt") {
		c.printf("Restore Image will overwrite the contents of '%s'.\n", dst)
		if !c.confirm("Do you wish to continue? (Yes (Y)/No (N)) ") {
			c.msg("ANS1034E")
			return errStop
		}
	}
	data, err := c.store.OpenData(obj.Data)
	if err != nil {
		return err
	}
	defer func() { _ = data.Close() }()
	x := c.transfer(sink, data, obj.Size, false, faultConnLost)
	if cerr := out.Close(); cerr != nil && x.err == nil {
		x.err = cerr // a write error the kernel reports only at close; the deferred Close is then a no-op
	}
	if x.connectionLost() {
		c.msg("ANS1029E")
		return errStop
	}
	if x.err != nil {
		c.diag("%v", x.err)
		c.msg("ANS1814E", src)
		c.printf("\n")
		c.printRestoreStats(restoreTotals{failed: 1, bytes: x.res.Bytes, xfer: x.dur})
		return errStop
	}
	if !c.quiet {
		c.printf("Restoring %10s %s --> %s [Done]\n", c.fm.count(obj.Size), src, dst)
	}
	c.printf("\nRestore processing finished.\n\n")
	c.printRestoreStats(restoreTotals{restored: 1, bytes: obj.Size, xfer: x.dur})
	return nil
}

// openImageDestination opens a block device exclusively (a mounted device is
// refused) and checks it can hold the image; with -imagetofile the destination
// is a regular file instead.
func (c *client) openImageDestination(dst string, obj *store.Object, toFile bool) (*os.File, blockio.Sink, error) {
	if toFile {
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			c.diag("%v", err)
			c.msg("ANS1063E")
			return nil, nil, errStop
		}
		sink, err := blockio.NewFileSink(f)
		if err != nil {
			_ = f.Close()
			return nil, nil, err
		}
		return f, sink, nil
	}
	fi, err := os.Stat(dst)
	if err != nil || blockio.KindOf(fi) != blockio.KindBlock {
		if err != nil {
			c.diag("%v", err)
		} else {
			c.diag("%s is not a block device (use -imagetofile for files)", dst)
		}
		c.msg("ANS1063E")
		return nil, nil, errStop
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|syscall.O_EXCL, 0)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			c.diag("%s is in use (mounted?)", dst)
		} else {
			c.diag("%v", err)
		}
		c.msg("ANS1814E", obj.Name)
		return nil, nil, errStop
	}
	size, _, err := blockio.Size(f)
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if size < obj.Size {
		_ = f.Close()
		c.msg("ANS1253E", dst, c.fm.sizeText(size), obj.Name, c.fm.sizeText(obj.Size))
		c.msg("ANS1814E", obj.Name)
		return nil, nil, errStop
	}
	// IBM, "Restore an image to file" (Storage Protect backup-archive client,
	// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=data-restore-image-file):
	// "when the data is restored, it skips the first sector to preserve the
	// original logical volume control block of the destination volume"; only
	// -imagetofile restores the entire contents. The page is tagged for Linux,
	// so a restore onto any block device keeps the destination's sector 0.
	return f, skipFirstSector{blockio.NewBlockSink(f)}, nil
}

// firstSector is what an image restore onto a device leaves alone.
const firstSector = 512

// skipFirstSector drops every write and zeroing below firstSector.
type skipFirstSector struct{ blockio.Sink }

func (s skipFirstSector) WriteAt(p []byte, off int64) error {
	if off < firstSector {
		cut := min(int64(len(p)), firstSector-off)
		p, off = p[cut:], off+cut
	}
	if len(p) == 0 {
		return nil
	}
	return s.Sink.WriteAt(p, off)
}

func (s skipFirstSector) Zero(off, n int64) error {
	if off < firstSector {
		cut := min(n, firstSector-off)
		off, n = off+cut, n-cut
	}
	if n <= 0 {
		return nil
	}
	return s.Sink.Zero(off, n)
}

// restoreFiles implements "restore <spec> [<destination>]" for file backups.
func (c *client) restoreFiles() error {
	spec := absSpec(c.cl.args[0])
	var dest string
	if len(c.cl.args) > 1 {
		dest = c.cl.args[1]
	}
	c.printf("Restore function invoked.\n\n")
	if c.restartable() {
		return errStop
	}
	// IBM, ANS2039E: "The destination file specification must end with directory delimiter
	// when performing a file list restore, or when the restore specification is for more than
	// one file, or when the option SUBDIR YES is in effect" (message text verified,
	// https://www.ibm.com/support/knowledgecenter/SSGSG7_7.1.2/com.ibm.itsm.msgs.client.doc/msg-ANS2039E.html).
	// A wildcard spec counts as one for more than one file whatever it matches (assumed), and
	// so does a directory spec; where in the run the check falls is assumed too.
	multi := hasWildcard(spec) || strings.HasSuffix(spec, "/") || c.cl.yes("subdir", false)
	if dest != "" && multi && !strings.HasSuffix(dest, "/") {
		c.msg("ANS2039E")
		return errStop
	}
	groups, names, err := c.objectsMatching(store.TypeFile, specMatcher(spec, c.cl.yes("subdir", false)))
	if err != nil {
		return err
	}
	var picks []*store.Object
	for _, n := range names {
		o, err := c.choose(groups[n])
		if err != nil {
			c.diag("%v", err)
			c.msg("ANS1107E", "-pitdate")
			return errStop
		}
		if o != nil {
			picks = append(picks, o)
		}
	}
	if len(picks) == 0 {
		c.msg("ANS1302E")
		return errStop
	}
	replace, _ := c.cl.opt("replace")
	if replace == "" {
		replace = "prompt"
	}
	var t restoreTotals
	for _, o := range picks {
		target := restoreTarget(o.Name, spec, dest, len(picks) > 1)
		if _, err := os.Lstat(target); err == nil {
			switch replace {
			case "no":
				c.skipped = true
				continue
			case "prompt":
				switch c.askReplace(target) {
				case "1":
				case "2":
					replace = "all"
				case "3":
					c.skipped = true
					continue
				case "4":
					replace = "no"
					c.skipped = true
					continue
				default:
					c.msg("ANS1034E")
					return errStop
				}
			}
		}
		x, err := c.restoreOneFile(o, target)
		if err != nil {
			return err
		}
		if x.connectionLost() {
			c.msg("ANS1029E")
			return errStop
		}
		t.xfer += x.dur
		if x.err != nil {
			c.diag("%v", x.err)
			t.failed++
			continue
		}
		t.restored++
		t.bytes += o.Size
		if !c.quiet {
			c.printf("Restoring %10s %s --> %s [Done]\n", c.fm.count(o.Size), o.Name, target)
		}
	}
	c.printf("\nRestore processing finished.\n\n")
	c.printRestoreStats(t)
	if t.failed > 0 {
		c.rcOverride = 12
	}
	return nil
}

// restoreTarget maps an object to its destination: the original name, the
// destination file, or the destination directory plus the path below the spec.
func restoreTarget(name, spec, dest string, many bool) string {
	if dest == "" {
		return name
	}
	isDir := strings.HasSuffix(dest, "/")
	if !isDir {
		if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
			isDir = true
		}
	}
	if !isDir && !many {
		return absName(dest)
	}
	base := filepath.Dir(strings.TrimSuffix(spec, "/"))
	if strings.HasSuffix(spec, "/") {
		base = strings.TrimSuffix(spec, "/")
	}
	rel, err := filepath.Rel(base, name)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = filepath.Base(name)
	}
	return filepath.Join(absName(dest), rel)
}

// askReplace is the client's replace prompt (wording unverified).
func (c *client) askReplace(target string) string {
	c.printf("--- User Action is Required ---\nFile '%s' exists\n\n", target)
	c.printf("Select an appropriate action\n  1. Replace this object\n  2. Replace all objects that already exist\n  3. Skip this object\n  4. Skip all objects that already exist\n  A. Abort this operation\n")
	c.printf("Action [1,2,3,4,A] : ")
	ans, err := c.readLine()
	c.printf("\n")
	if err != nil {
		return "A"
	}
	return strings.ToUpper(strings.TrimSpace(ans))
}

// restoreOneFile writes one version in place: an existing file keeps its inode
// (hard links and attached loop devices see the new bytes) and is cut to size.
func (c *client) restoreOneFile(o *store.Object, target string) (xfer, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return xfer{err: err}, nil
	}
	data, err := c.store.OpenData(o.Data)
	if err != nil {
		return xfer{err: err}, nil
	}
	defer func() { _ = data.Close() }()
	var out *os.File
	var sink blockio.Sink
	if fi, err := os.Stat(target); err == nil && blockio.KindOf(fi) == blockio.KindBlock {
		out, err = os.OpenFile(target, os.O_WRONLY|syscall.O_EXCL, 0)
		if err != nil {
			return xfer{err: err}, nil
		}
		size, _, err := blockio.Size(out)
		if err == nil && size < o.Size {
			err = fmtErr("%s holds %d bytes, the object has %d", target, size, o.Size)
		}
		if err != nil {
			_ = out.Close()
			return xfer{err: err}, nil
		}
		sink = blockio.NewBlockSink(out)
	} else {
		mode := os.FileMode(o.Mode)
		if mode == 0 {
			mode = 0o600
		}
		out, err = os.OpenFile(target, os.O_WRONLY|os.O_CREATE, mode)
		if err != nil {
			return xfer{err: err}, nil
		}
		if sink, err = blockio.NewFileSink(out); err != nil {
			_ = out.Close()
			return xfer{err: err}, nil
		}
	}
	x := c.transfer(sink, data, o.Size, false, faultConnLost)
	if cerr := out.Close(); cerr != nil && x.err == nil {
		x.err = cerr // a write error the kernel reports only at close
	}
	if x.err == nil {
		c.restoreAttributes(o, target)
	}
	return x, nil
}

func (c *client) restoreAttributes(o *store.Object, target string) {
	fi, err := os.Stat(target)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if o.Mode != 0 {
		_ = os.Chmod(target, os.FileMode(o.Mode))
	}
	if os.Geteuid() == 0 {
		_ = os.Lchown(target, o.UID, o.GID)
	}
	if !o.ModTime.IsZero() {
		at := o.AccessTime
		if at.IsZero() {
			at = time.Now()
		}
		_ = os.Chtimes(target, at, o.ModTime)
	}
}
