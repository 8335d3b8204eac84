package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// The inventory reads what TSM alone knows about this driver's snapshots: the backups of one
// TSM node under the driver's naming and the metadata object beside each. It needs no state
// directory and no Kubernetes, so that an administrator can list and bring back backups after
// losing the cluster (`tsm-csi-sidecar snapshots`).

// InventoryOptions name the driver's objects in TSM; each is the driver flag of the same name
// and must have the value the driver that took the backups had.
type InventoryOptions struct {
	VolumePrefix string // --tsm-volume-prefix
	LinkDir      string // --link-dir: the directory of image objects
	StateDir     string // --state-dir: file objects are in <StateDir>/tsm
	MetaDir      string // --tsm-meta-dir
	// ScratchDir receives metadata objects while they are read; "" means the system's
	// temporary directory. Nothing is left in it.
	ScratchDir string
}

// Inventory lists and describes backups; see NewInventory.
type Inventory struct {
	client  *tsm.Client
	codec   handleCodec
	fileDir string
	scratch string
}

// NewInventory checks opts as the driver checks its flags. client is configured as the
// driver's (binary, server, options file, password); its -asnodename is the default owner.
func NewInventory(opts InventoryOptions, client *tsm.Client) (*Inventory, error) {
	if opts.VolumePrefix == "" {
		opts.VolumePrefix = DefaultVolumePrefix
	}
	if opts.LinkDir == "" {
		opts.LinkDir = DefaultLinkDir
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.MetaDir == "" {
		opts.MetaDir = DefaultMetaDir
	}
	if opts.ScratchDir == "" {
		opts.ScratchDir = os.TempDir()
	}
	fileDir := filepath.Join(opts.StateDir, "tsm")
	codec, err := newHandleCodec(opts.VolumePrefix, filepath.Clean(opts.LinkDir), fileDir, opts.MetaDir)
	if err != nil {
		return nil, err
	}
	return &Inventory{client: client, codec: codec, fileDir: fileDir, scratch: opts.ScratchDir}, nil
}

// Backup is one snapshot as TSM holds it.
type Backup struct {
	ID             string    `json:"id"`
	Mode           tsm.Mode  `json:"mode"`
	Owner          string    `json:"owner"` // the TSM node the data is stored under
	Object         string    `json:"object"`
	SourceVolumeID string    `json:"sourceVolumeID"`
	SizeBytes      int64     `json:"sizeBytes"`
	BackedUp       time.Time `json:"backedUp,omitzero"` // TSM's backup date of the active version
	// Meta is what the metadata object says; nil when TSM holds none (a backup taken before
	// metadata objects existed) or it could not be read (MetaProblem says why).
	Meta        *BackupMeta `json:"metadata,omitempty"`
	MetaProblem string      `json:"metadataProblem,omitempty"`
}

// BackupMeta is the part of a metadata object that describes a backup (the chunk digests
// stay in TSM: Digest names their root).
type BackupMeta struct {
	CreationTime  time.Time        `json:"creationTime"`
	AccessType    string           `json:"accessType"`
	FSType        string           `json:"fsType,omitempty"`
	Node          string           `json:"node"`
	DriverName    string           `json:"driverName"`
	DriverVersion string           `json:"driverVersion"`
	Kubernetes    *catalog.KubeRef `json:"kubernetes,omitempty"`
	Group         string           `json:"group,omitempty"`
	// Digest is "<algorithm>:<root>", empty when the backup was read from a live volume and
	// restores unverified.
	Digest string `json:"digest,omitempty"`
}

func summary(m *catalog.Meta) *BackupMeta {
	b := &BackupMeta{
		CreationTime: m.CreationTime, AccessType: m.AccessType, FSType: m.FSType, Node: m.Node,
		DriverName: m.DriverName, DriverVersion: m.DriverVersion, Kubernetes: m.Kubernetes, Group: m.Group,
	}
	if m.Digest != nil {
		b.Digest = m.Digest.Algorithm + ":" + m.Digest.Root
	}
	return b
}

// ErrNoBackup: TSM holds no backup under the name a snapshot id gives.
var ErrNoBackup = errors.New("TSM holds no such backup")

// List returns every active backup of this driver's naming that TSM node owner holds ("" is
// the client's own node), joined with its metadata, oldest first; warnings name what was left
// out or looks wrong (metadata objects without a backup, rows dsmc printed that do not parse).
// Queries: one query image, one query backup per file directory, one restore of every
// metadata object.
func (inv *Inventory) List(ctx context.Context, owner string) ([]Backup, []string, error) {
	// The owner becomes -asnodename and part of every id: a name no id can carry lists nothing.
	if !ownerPattern.MatchString(owner) {
		return nil, nil, fmt.Errorf("TSM node name %q: want up to 64 letters, digits and . _ + & -", owner)
	}
	c := inv.client.WithNode(owner)
	var warnings []string
	found := map[string]Backup{}
	add := func(mode tsm.Mode, spec string) error {
		var l *tsm.Listing
		var err error
		if mode == tsm.ModeImage {
			l, err = c.QueryImageListing(ctx, "", false)
		} else {
			l, err = c.QueryBackupListing(ctx, spec, false)
		}
		if err != nil {
			return fmt.Errorf("query %s backups: %w", mode, err)
		}
		for _, row := range l.Skipped {
			warnings = append(warnings, "a row of dsmc's output was not understood: "+row)
		}
		for _, o := range l.Objects {
			if !o.Active {
				continue
			}
			ref, err := inv.codec.fromObject(mode, owner, o.Name)
			if err != nil {
				continue // another program's object, or another prefix
			}
			id, err := inv.codec.encode(ref)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s backup %s has no valid snapshot id: %v", mode, o.Name, err))
				continue
			}
			found[id] = Backup{ID: id, Mode: mode, Owner: owner, Object: o.Name,
				SourceVolumeID: ref.VolumeID, SizeBytes: ref.SizeBytes, BackedUp: o.BackupTime}
		}
		return nil
	}
	if err := add(tsm.ModeImage, ""); err != nil {
		return nil, nil, err
	}
	fileDirs := map[string]bool{inv.fileDir: true}
	if err := add(tsm.ModeFile, inv.filePattern(inv.fileDir)); err != nil {
		return nil, nil, err
	}
	metas, problems, err := inv.fetchAllMeta(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	// File backups of nodes whose --state-dir differs from this one's are under another
	// <state-dir>/tsm; their metadata objects (in the one shared directory) name them.
	for _, m := range metas {
		ref, err := inv.codec.decode(m.SnapshotID)
		if err != nil || ref.Mode != tsm.ModeFile || ref.Owner != owner || fileDirs[path.Dir(ref.Object)] {
			continue
		}
		fileDirs[path.Dir(ref.Object)] = true
		if err := add(tsm.ModeFile, inv.filePattern(path.Dir(ref.Object))); err != nil {
			return nil, nil, err
		}
	}

	out := make([]Backup, 0, len(found))
	used := map[string]bool{}
	for _, b := range found {
		base := inv.codec.metaKey(snapshotRef{Mode: b.Mode, Object: b.Object})
		switch m := metas[base]; {
		case problems[base] != "":
			b.MetaProblem = problems[base]
			used[base] = true
		case m == nil:
		case m.SnapshotID != b.ID:
			// Another owner's snapshot of the same name (a metadata object restored into this
			// listing by name, under another -asnodename), or a damaged one.
			b.MetaProblem = "the metadata object describes " + m.SnapshotID
		default:
			b.Meta = summary(m)
			used[base] = true
		}
		out = append(out, b)
	}
	for base, m := range metas {
		if _, held := found[m.SnapshotID]; !used[base] && !held {
			warnings = append(warnings, fmt.Sprintf("metadata object %s describes %s, which TSM does not hold", path.Join(inv.codec.metaDir, base+".json"), m.SnapshotID))
		}
	}
	for base, p := range problems {
		if !used[base] {
			warnings = append(warnings, fmt.Sprintf("metadata object %s, of no backup TSM holds, is unreadable: %s", path.Join(inv.codec.metaDir, base+".json"), p))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].BackedUp.Equal(out[j].BackedUp) {
			return out[i].BackedUp.Before(out[j].BackedUp)
		}
		return out[i].ID < out[j].ID
	})
	sort.Strings(warnings)
	return out, warnings, nil
}

func (inv *Inventory) filePattern(dir string) string {
	return path.Join(dir, inv.codec.prefix+"-*")
}

// fetchAllMeta restores every metadata object of the prefix in one dsmc run and decodes them,
// by the base name of the backup they describe; problems holds the objects that do not decode.
func (inv *Inventory) fetchAllMeta(ctx context.Context, c *tsm.Client) (map[string]*catalog.Meta, map[string]string, error) {
	dir, err := os.MkdirTemp(inv.scratch, "tsm-csi-meta-")
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	metas, problems := map[string]*catalog.Meta{}, map[string]string{}
	_, err = c.RestoreMatching(ctx, path.Join(inv.codec.metaDir, inv.codec.prefix+"-*.json"), dir)
	if tsm.IsNotFound(err) {
		return metas, problems, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("restore the metadata objects: %w", err)
	}
	// Where below dir a file lands depends on the site's PRESERVEPATH: find them by name.
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		base, ok := inv.codec.metaKeyOf(e.Name())
		if !ok {
			return nil // not of this prefix (a longer one matches the pattern too)
		}
		m, err := readMeta(p)
		if err != nil {
			problems[base] = err.Error()
			return nil
		}
		m.Digest = digestRootOnly(m.Digest)
		metas[base] = m
		return nil
	})
	return metas, problems, err
}

// digestRootOnly drops the chunk list, which a listing never needs and which is most of a
// metadata object's size (256 digests per GiB).
func digestRootOnly(d *catalog.Digest) *catalog.Digest {
	if d == nil {
		return nil
	}
	cp := *d
	cp.Chunks = nil
	return &cp
}

func readMeta(p string) (*catalog.Meta, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return catalog.Decode(f)
}

// Show describes the backup snapshot id names: what the id itself says, the backup date
// TSM has for it and its metadata. The returned Backup holds what the id says even when err
// is not nil; err wraps ErrNoBackup when TSM does not hold the object.
func (inv *Inventory) Show(ctx context.Context, id string) (Backup, error) {
	ref, err := inv.codec.decode(id)
	if err != nil {
		return Backup{}, fmt.Errorf("%q is not a snapshot id of this driver's naming (--tsm-volume-prefix, --link-dir, --state-dir): %w", id, err)
	}
	b := Backup{ID: id, Mode: ref.Mode, Owner: ref.Owner, Object: ref.Object, SourceVolumeID: ref.VolumeID, SizeBytes: ref.SizeBytes}
	c := inv.client.WithNode(ref.Owner)
	var objs []tsm.Object
	if ref.Mode == tsm.ModeImage {
		objs, err = c.QueryImage(ctx, ref.Object, false)
	} else {
		objs, err = c.QueryBackup(ctx, ref.Object, false)
	}
	if err != nil {
		return b, fmt.Errorf("query TSM: %w", err)
	}
	held := false
	for _, o := range objs {
		if o.Name == ref.Object && o.Active {
			held, b.BackedUp = true, o.BackupTime
		}
	}
	m, err := fetchMeta(ctx, c, inv.codec.metaObject(ref), inv.scratch)
	switch {
	case errors.Is(err, errNoMeta):
	case err != nil:
		b.MetaProblem = err.Error()
	case m.SnapshotID != id:
		b.MetaProblem = "the metadata object describes " + m.SnapshotID
	default:
		b.Meta = summary(m)
	}
	if !held {
		return b, fmt.Errorf("%s backup %s of node %q: %w", ref.Mode, ref.Object, ref.Owner, ErrNoBackup)
	}
	return b, nil
}

// RestoreCommand is the dsmc command line that restores b into the file dst by hand, with
// this inventory's client options and b's owner node.
func (inv *Inventory) RestoreCommand(b Backup, dst string) string {
	return inv.client.WithNode(b.Owner).ManualRestore(b.Mode, b.Object, dst)
}
