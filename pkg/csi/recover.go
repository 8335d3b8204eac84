package csi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

// recover brings the node back to what the records say after a restart of the driver or of the
// node: volumes re-attached, unfinished jobs resumed or failed cleanly, and links, loop devices
// and cut files that no job owns removed.
func (d *Driver) recover(ctx context.Context) error {
	if err := d.thawLeftovers(); err != nil {
		return err
	}
	// Metadata objects restored only to be read, by runs that died before removing them.
	if err := clearDir(d.tmpDir()); err != nil {
		return err
	}
	d.sweepStagedMeta(time.Now())
	keys, err := d.volumes.Keys()
	if err != nil {
		return err
	}
	for _, id := range keys {
		v, err := d.loadVolume(id)
		if err != nil {
			klog.ErrorS(err, "Unreadable volume record", "volumeID", id)
			continue
		}
		switch v.Phase {
		case phaseCreating:
			klog.InfoS("Removing a volume whose creation was interrupted", "volumeID", id)
			if err := d.destroyVolume(ctx, id); err != nil {
				return err
			}
		case phaseRestoring:
			ref, err := d.codec.decode(v.SourceSnapshot)
			if err != nil {
				return wrap(err, "volume %s restores from an invalid snapshot id", id)
			}
			klog.InfoS("Resuming an interrupted restore", "volumeID", id, "object", ref.Object)
			d.launchRestore(id, ref)
		case phaseReady:
			// The size comes from the record: a restore killed after its rename may have left a
			// smaller file, and growing is idempotent.
			if err := mount.GrowFile(d.backingFile(id), v.SizeBytes); err != nil {
				klog.ErrorS(err, "Growing a volume to its recorded size failed", "volumeID", id)
			}
			if _, err := d.device(ctx, id); err != nil {
				klog.ErrorS(err, "Re-attaching a volume failed", "volumeID", id)
			}
		}
	}

	if err := d.recoverGroups(ctx); err != nil {
		return err
	}
	owned := map[string]bool{} // cut files that a resumed upload still needs
	keys, err = d.snaps.keys()
	if err != nil {
		return err
	}
	for _, key := range keys {
		s, err := d.loadSnapshot(key)
		if err != nil {
			klog.ErrorS(err, "Unreadable snapshot record", "key", key)
			continue
		}
		switch s.Phase {
		case snapCutting:
			klog.InfoS("Removing a snapshot whose cut was interrupted", "snapshotID", s.ID)
			if err := d.removeSnapshotLeftovers(ctx, s); err != nil {
				return err
			}
		case snapUploading:
			if err := d.releaseUploadResources(ctx, s, false); err != nil {
				return err
			}
			if _, err := os.Stat(d.cutFile(key)); s.Cut != cutLive && errors.Is(err, os.ErrNotExist) {
				d.loseSnapshot(s, "its point-in-time image is gone from "+d.cutDir+" (was the state directory replaced?)")
				continue
			}
			klog.InfoS("Resuming an interrupted upload of the same cut", "snapshotID", s.ID)
			owned[d.cutFile(key)] = true
			if _, err := d.snaps.update(s.Key, s.ID, func(cur *snapshotRecord) (snapshotPhase, error) {
				d.startUpload(cur)
				return "", nil
			}); err != nil {
				return err
			}
		default:
			if err := d.releaseUploadResources(ctx, s, true); err != nil {
				return err
			}
		}
	}
	return d.removeOrphans(ctx, owned)
}

// removeOrphans deletes cut files without an upload, the loop devices over them, and links
// that point at this driver's cuts or volumes but belong to no upload. Links of other drivers
// sharing the link directory are left alone: a link is only ours if its device is backed by a
// file in this state directory.
func (d *Driver) removeOrphans(ctx context.Context, owned map[string]bool) error {
	entries, err := os.ReadDir(d.cutDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		cut := filepath.Join(d.cutDir, e.Name())
		if owned[cut] {
			continue
		}
		if dev, err := d.loops.Find(cut); err == nil && dev != "" {
			if err := d.loops.Detach(ctx, dev); err != nil {
				return err
			}
		}
		klog.InfoS("Removing an orphaned cut", "file", cut)
		if err := removeIfExists(cut); err != nil {
			return err
		}
	}
	uploading := map[string]bool{}
	keys, _ := d.snaps.keys()
	for _, k := range keys {
		if s, err := d.loadSnapshot(k); err == nil && s.Phase == snapUploading {
			uploading[filepath.Base(s.Object)] = true
		}
	}
	for _, dir := range []string{d.codec.imageDir, d.fileDir} {
		names, err := mount.ListLinks(dir, d.opts.VolumePrefix)
		if err != nil {
			return err
		}
		for _, name := range names {
			if uploading[name] || !d.ownsLink(filepath.Join(dir, name), dir == d.fileDir) {
				continue
			}
			klog.InfoS("Removing an orphaned link", "link", filepath.Join(dir, name))
			if err := mount.RemoveLink(dir, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Driver) ownsLink(link string, fileMode bool) bool {
	if fileMode {
		return true
	}
	dev, err := mount.LinkTarget(link)
	if err != nil || dev == "" {
		return false
	}
	backing, err := mount.BackingFile(dev)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return strings.HasPrefix(backing, d.opts.StateDir+string(filepath.Separator))
}

// clearDir removes everything inside dir and keeps dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// staleStaging is the age past which a staged metadata file in --tsm-meta-dir belongs to no
// upload: one is written, sent with a selective of a few hundred bytes, and removed within
// seconds. The directory may be shared with other drivers (the nodes of a test cluster on one
// host), so only files this old go, never one another driver may be sending right now.
const staleStaging = time.Hour

// sweepStagedMeta removes the staged metadata files of this driver's prefix that a SIGKILL
// left behind. What fails is logged: TSM's copies are what count.
func (d *Driver) sweepStagedMeta(now time.Time) {
	entries, err := os.ReadDir(d.opts.MetaDir)
	if err != nil {
		klog.ErrorS(err, "Listing the metadata directory failed", "dir", d.opts.MetaDir)
		return
	}
	for _, e := range entries {
		if _, ok := d.codec.metaKeyOf(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < staleStaging {
			continue
		}
		p := filepath.Join(d.opts.MetaDir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Removing a stale staged metadata file failed", "path", p)
			continue
		}
		klog.InfoS("Removed a staged metadata file a killed upload left", "path", p)
	}
}
