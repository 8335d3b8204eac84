package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/blockio"
	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// backupImage implements "backup image": each spec must be a block device; the
// image is stored in a file space named exactly as the spec was written.
func (c *client) backupImage() error {
	c.printf("Backup Image Function Invoked.\n\n")
	var t backupTotals
	for _, spec := range c.cl.args {
		name := absName(spec)
		t.inspected++
		if c.cfg.excluded(name, true) {
			// EXCLUDE.IMAGE skips the volume with a warning only (id assumed,
			// see excludeFile).
			c.msg("ANS1115W", name)
			continue
		}
		obj, f, ok := c.openImageSource(name)
		if !ok {
			t.failed++
			c.msg("ANS1813E", name)
			continue
		}
		t.bytesInspected += obj.Size
		c.printf("Image backup of volume '%s'\n\n", name)
		x := c.storeObject(obj, f)
		_ = f.Close()
		if x.connectionLost() {
			c.msg("ANS1029E")
			return errStop
		}
		if x.err != nil {
			c.reportSendFailure(name, x)
			t.failed++
			c.msg("ANS1813E", name)
			t.xfer += x.dur
			continue
		}
		t.backedUp++
		t.bytesSent += c.sent(obj)
		t.xfer += x.dur
		if !c.quiet {
			c.printf("Volume-->%14s %s [Sent]\n", c.fm.count(obj.Size), name)
		}
		c.printf("Image Backup processing of '%s' finished without failure.\n", name)
	}
	c.printf("\n")
	c.printBackupStats(t)
	return nil
}

func (c *client) openImageSource(name string) (*store.Object, *os.File, bool) {
	f, err := os.Open(name)
	if err != nil {
		c.diag("%v", err)
		c.msg("ANS1063E")
		return nil, nil, false
	}
	size, kind, err := blockio.Size(f)
	if err != nil || kind != blockio.KindBlock {
		_ = f.Close()
		if err == nil {
			c.diag("%s is a %s, not a block device", name, kind)
		} else {
			c.diag("%v", err)
		}
		c.msg("ANS1063E")
		return nil, nil, false
	}
	obj := &store.Object{
		Node: c.owner, Type: store.TypeImage, Name: name, Filespace: name, FSType: "RAW",
		Size: size, Compressed: c.imageCompression(), MgmtClass: "DEFAULT", BackupTime: time.Now(), Owner: c.user,
	}
	return obj, f, true
}

func (c *client) reportSendFailure(name string, x xfer) {
	if x.fault == nil {
		c.diag("%v", x.err)
	}
	c.msg("ANS1228E", name)
	if x.outOfSpace() {
		c.msg("ANS1311E")
	}
}

// selective implements "selective" (and the undocumented bare "backup"): every
// named regular file is sent, whatever changed.
func (c *client) selective() error {
	c.printf("Selective Backup function invoked.\n\n")
	var t backupTotals
	subdir := c.cl.yes("subdir", false)
	for _, raw := range c.cl.args {
		spec := absSpec(raw)
		files, err := expandFiles(spec, subdir)
		failures := 0
		if err != nil || len(files) == 0 {
			if err != nil {
				c.diag("%v", err)
			}
			c.msg("ANS1089E")
			t.failed++
			failures++
		}
		for _, name := range files {
			t.inspected++
			if c.cfg.excluded(name, false) {
				c.excludeFile(name, &t)
				continue
			}
			x, obj, ok := c.backupFile(name)
			if !ok {
				t.failed++
				failures++
				continue
			}
			if x.connectionLost() {
				c.msg("ANS1029E")
				return errStop
			}
			t.bytesInspected += obj.Size
			t.xfer += x.dur
			if x.err != nil {
				c.reportSendFailure(name, x)
				t.failed++
				failures++
				continue
			}
			t.backedUp++
			t.bytesSent += c.sent(obj)
			if !c.quiet {
				c.printf("Normal File-->%14s %s [Sent]\n", c.fm.count(obj.Size), name)
			}
		}
		if failures > 0 {
			c.msg("ANS1803E", spec, failures)
		} else {
			c.printf("Selective Backup processing of '%s' finished without failure.\n", spec)
		}
	}
	c.printf("\n")
	c.printBackupStats(t)
	return nil
}

// excludeFile is what a selective backup does with a file an include-exclude
// rule (dsm.sys, dsm.opt or the server's client option set) excludes: a
// warning, nothing stored, and the parent directory still processed and
// counted as backed up — a directory is an object of its own, and IBM notes
// that a file backup includes its parent directories (the Cinder driver's
// comment, docs/dsmc.md §0). The message id ANS1115W and its wording are
// from memory of real clients, not from an IBM page (unverified).
func (c *client) excludeFile(name string, t *backupTotals) {
	c.msg("ANS1115W", name)
	t.inspected++
	t.backedUp++
	if !c.quiet {
		c.printf("Directory-->%14s %s [Sent]\n", c.fm.count(0), filepath.Dir(name))
	}
}

func (c *client) backupFile(name string) (xfer, *store.Object, bool) {
	f, err := os.Open(name)
	if err != nil {
		c.diag("%v", err)
		c.msg("ANS1089E")
		return xfer{}, nil, false
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		c.diag("%s is not a regular file", name)
		c.msg("ANS1228E", name)
		return xfer{}, nil, false
	}
	fs, fstype := filespaceOf(name)
	obj := &store.Object{
		Node: c.owner, Type: store.TypeFile, Name: name, Filespace: fs, FSType: fstype,
		Size: fi.Size(), Compressed: c.compression(), MgmtClass: "DEFAULT", BackupTime: time.Now(),
		Mode: uint32(fi.Mode().Perm()), ModTime: fi.ModTime(), Owner: c.user,
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		obj.UID, obj.GID = int(sys.Uid), int(sys.Gid)
		obj.AccessTime = time.Unix(sys.Atim.Unix())
		obj.ChangeTime = time.Unix(sys.Ctim.Unix())
	}
	return c.storeObject(obj, f), obj, true
}

// expandFiles resolves a selective spec to regular files: a plain path is
// itself, a trailing slash or a wildcard in the last element lists the directory
// (recursively with -subdir=yes).
func expandFiles(spec string, subdir bool) ([]string, error) {
	if !strings.HasSuffix(spec, "/") && !hasWildcard(filepath.Base(spec)) {
		if _, err := os.Stat(spec); err != nil {
			return nil, err
		}
		return []string{spec}, nil
	}
	dir, pat := filepath.Dir(spec), filepath.Base(spec)
	if strings.HasSuffix(spec, "/") {
		dir, pat = strings.TrimSuffix(spec, "/"), "*"
	}
	var out []string
	walk := func(d string) error {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.Type().IsRegular() && globMatch(pat, e.Name(), false) {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
		return nil
	}
	if !subdir {
		if err := walk(dir); err != nil {
			return nil, err
		}
	} else {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return walk(p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}
