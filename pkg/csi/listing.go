package csi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// Listing at scale.
//
// A listing of every snapshot merges the local records with two dsmc queries (query image and
// query backup of the file-mode directory), which with thousands of backups cost far more than
// the rest of the call. So the two queries run side by side, and a walk through the pages
// (max_entries, next_token) queries TSM once: its first page keeps the merged, sorted listing
// as compact entries under a walk id, and the walk's later pages are cut from it. The token is
// "<walk id>:<last id served>" (base64url): a page continues after that id, so a walk whose
// listing is gone (expired, evicted, or the driver restarted) lists again and continues at the
// same place instead of failing; only a token that does not parse is ABORTED.
//
// The pages of one walk are therefore a listing of the moment of its first page: a snapshot
// created after it is not in the later pages, and one deleted meanwhile is still there. The CSI
// spec allows it ("The CO SHALL NOT expect a consistent "view" of all snapshots when paging
// through the snapshot list via multiple calls to ListSnapshots"), and the first page of every
// walk lists afresh.

const (
	// walkTTL bounds how old a walk's listing may be when it serves a page. A CO pages through
	// a listing in well under a second per page; a minute lets a slow caller finish its walk
	// from one query, while a listing never lags TSM by more than that.
	walkTTL = 60 * time.Second
	// walkBudget bounds the memory of all kept listings (about 150 bytes an entry, so some
	// 100,000 snapshots). When a new walk does not fit, the oldest are dropped; a listing
	// larger than the whole budget is not kept, and its pages each list again.
	walkBudget = 16 << 20
	// maxWalks bounds the number of kept listings, whatever their size.
	maxWalks = 64
)

// listEntry is one snapshot of a kept listing: what its CSI answer needs, and no more.
type listEntry struct {
	id      string
	source  string
	size    int64
	created int64 // Unix nanoseconds
	ready   bool
}

func (e *listEntry) cost() int { return int(unsafe.Sizeof(*e)) + len(e.id) + len(e.source) }

func (e *listEntry) snapshot() *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId: e.id, SourceVolumeId: e.source, SizeBytes: e.size,
		CreationTime: timestamppb.New(time.Unix(0, e.created)), ReadyToUse: e.ready,
	}
}

type walk struct {
	entries []listEntry // sorted by id; never changed once kept
	bytes   int
	expires time.Time
}

// walkCache holds the listings of walks in progress.
type walkCache struct {
	mu    sync.Mutex
	now   func() time.Time
	walks map[string]*walk
	bytes int
}

func newWalkCache(now func() time.Time) *walkCache {
	return &walkCache{now: now, walks: map[string]*walk{}}
}

// keep stores a listing for a new walk and returns the walk's id, or "" if it is larger than
// the budget.
func (c *walkCache) keep(entries []listEntry) string {
	size := int(unsafe.Sizeof(walk{}))
	for i := range entries {
		size += entries[i].cost()
	}
	if size > walkBudget {
		return ""
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand panics instead)
	id := hex.EncodeToString(raw[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	for len(c.walks) > 0 && (c.bytes+size > walkBudget || len(c.walks) >= maxWalks) {
		oldest := ""
		for wid, w := range c.walks {
			if oldest == "" || w.expires.Before(c.walks[oldest].expires) {
				oldest = wid
			}
		}
		c.drop(oldest)
	}
	c.walks[id] = &walk{entries: entries, bytes: size, expires: now.Add(walkTTL)}
	c.bytes += size
	return id
}

// get returns the listing of walk id, or nil when there is none (unknown, expired or dropped).
func (c *walkCache) get(id string) []listEntry {
	if id == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(c.now())
	if w := c.walks[id]; w != nil {
		return w.entries
	}
	return nil
}

// done forgets walk id once its last page was served.
func (c *walkCache) done(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop(id)
}

func (c *walkCache) dropExpired(now time.Time) {
	for id, w := range c.walks {
		if !now.Before(w.expires) {
			c.drop(id)
		}
	}
}

func (c *walkCache) drop(id string) {
	if w := c.walks[id]; w != nil {
		c.bytes -= w.bytes
		delete(c.walks, id)
	}
}

// pageToken is where a walk stands: its id ("" for a walk whose listing was not kept) and the
// last snapshot id it served.
type pageToken struct {
	walk  string
	after string
}

var walkIDPattern = regexp.MustCompile(`^([0-9a-f]{16})?$`)

func (t pageToken) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.walk + ":" + t.after))
}

// parseToken reads a starting_token. Anything the driver did not issue is ABORTED, as the
// spec asks for an invalid token.
func (c handleCodec) parseToken(s string) (pageToken, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageToken{}, errAborted("invalid starting token %q", s)
	}
	walk, after, ok := strings.Cut(string(raw), ":")
	if !ok || !walkIDPattern.MatchString(walk) {
		return pageToken{}, errAborted("invalid starting token %q", s)
	}
	if _, err := c.decode(after); err != nil {
		return pageToken{}, errAborted("invalid starting token %q", s)
	}
	return pageToken{walk: walk, after: after}, nil
}

func (d *Driver) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, errInvalid("max_entries must not be negative")
	}
	var tok pageToken
	if t := req.GetStartingToken(); t != "" {
		var err error
		if tok, err = d.codec.parseToken(t); err != nil {
			return nil, err
		}
	}
	source := req.GetSourceVolumeId()
	resp := &csi.ListSnapshotsResponse{}
	if id := req.GetSnapshotId(); id != "" {
		// One object: one exact query, no walk.
		found, err := d.snapshotByID(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, s := range found {
			if s.SnapshotId > tok.after && (source == "" || s.SourceVolumeId == source) {
				resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: s})
			}
		}
		return resp, nil
	}

	walkID := tok.walk
	entries := d.walks.get(walkID)
	if entries == nil {
		if walkID != "" {
			klog.V(4).InfoS("Listing of a walk expired; listing again", "walk", walkID)
		}
		walkID = ""
		var err error
		if entries, err = d.listAll(ctx); err != nil {
			return nil, err
		}
	}
	start, _ := slices.BinarySearchFunc(entries, tok.after, func(e listEntry, after string) int {
		return strings.Compare(e.id, after)
	})
	if start < len(entries) && entries[start].id == tok.after {
		start++
	}
	page, more := pageOf(entries[start:], source, int(req.GetMaxEntries()))
	resp.Entries = make([]*csi.ListSnapshotsResponse_Entry, len(page))
	for i := range page {
		resp.Entries[i] = &csi.ListSnapshotsResponse_Entry{Snapshot: page[i].snapshot()}
	}
	switch {
	case more:
		if walkID == "" {
			walkID = d.walks.keep(entries)
		}
		resp.NextToken = pageToken{walk: walkID, after: page[len(page)-1].id}.String()
	case walkID != "":
		d.walks.done(walkID)
	}
	return resp, nil
}

// pageOf picks the first max entries (all for 0) of source ("" for any) and says whether more
// follow.
func pageOf(entries []listEntry, source string, max int) (page []listEntry, more bool) {
	if source == "" {
		if max == 0 || len(entries) <= max {
			return entries, false
		}
		return entries[:max], true
	}
	for i := range entries {
		if entries[i].source != source {
			continue
		}
		if max > 0 && len(page) == max {
			return page, true
		}
		page = append(page, entries[i])
	}
	return page, false
}

// listAll merges the local records (snapshots in flight, and those taken here) with what TSM
// holds, so that backups made before a node was lost are still listed. Sorted by id; a local
// record wins over its TSM object.
func (d *Driver) listAll(ctx context.Context) ([]listEntry, error) {
	keys, err := d.snaps.keys()
	if err != nil {
		return nil, err
	}
	var images, files []tsm.Object
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		images, err = d.queryObjects(gctx, d.tsm, tsm.ModeImage, "")
		return err
	})
	g.Go(func() (err error) {
		files, err = d.queryObjects(gctx, d.tsm, tsm.ModeFile, filepath.Join(d.fileDir, d.opts.VolumePrefix+"-*"))
		return err
	})
	// The records are read while dsmc runs.
	entries := make([]listEntry, 0, len(keys))
	for _, k := range keys {
		s, err := d.loadSnapshot(k)
		if err != nil || s.Phase == snapCutting {
			continue
		}
		entries = append(entries, listEntry{id: s.ID, source: s.SourceVolumeID, size: s.SizeBytes,
			created: s.CreatedAt.UnixNano(), ready: s.Phase == snapReady})
	}
	local := len(entries)
	if err := g.Wait(); err != nil {
		return nil, err
	}
	owner := d.tsm.AsNodeName()
	entries = slices.Grow(entries, len(images)+len(files))
	for _, l := range []struct {
		mode tsm.Mode
		objs []tsm.Object
	}{{tsm.ModeImage, images}, {tsm.ModeFile, files}} {
		for i := range l.objs {
			o := &l.objs[i]
			ref, err := d.codec.fromObject(l.mode, owner, o.Name)
			if err != nil {
				continue
			}
			id, err := d.codec.encodeChecked(ref)
			if err != nil {
				continue
			}
			entries = append(entries, listEntry{id: id, source: ref.VolumeID, size: ref.SizeBytes,
				created: o.BackupTime.UnixNano(), ready: true})
		}
	}
	// Stable, so that of equal ids the local record (appended first) stays first and is kept.
	slices.SortStableFunc(entries, func(a, b listEntry) int { return strings.Compare(a.id, b.id) })
	entries = slices.CompactFunc(entries, func(a, b listEntry) bool { return a.id == b.id })
	klog.V(5).InfoS("Listed snapshots", "local", local, "images", len(images), "files", len(files), "snapshots", len(entries))
	return slices.Clip(entries), nil
}
