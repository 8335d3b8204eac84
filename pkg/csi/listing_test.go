package csi

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// listingTSM answers dsmc query image and query backup from lists of object names, and
// counts the runs and how many ran at once. gate, when set, holds every query until closed.
type listingTSM struct {
	mu         sync.Mutex
	images     []string
	files      []string
	fail       string // "image" or "backup": that query fails with ANS1017E
	runs       map[string]int
	running    int
	maxRunning int
	started    chan string
	gate       chan struct{}
	backupTime time.Time
}

func newListingTSM() *listingTSM {
	return &listingTSM{runs: map[string]int{}, backupTime: time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)}
}

func (f *listingTSM) Run(ctx context.Context, inv tsm.Invocation) (tsm.Output, error) {
	if len(inv.Args) < 2 || inv.Args[0] != "query" {
		return tsm.Output{RC: 12, Stdout: "ANS1107E Invalid option/value: " + strings.Join(inv.Args, " ") + "\n"}, nil
	}
	kind := inv.Args[1]
	if kind == "session" { // the driver's health check, not part of a listing
		return tsm.Output{Stdout: "Node Name: N1\nSession established with server FAKE: Linux/x86_64\n"}, nil
	}
	f.mu.Lock()
	f.runs[kind]++
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	names := slices.Clone(f.images)
	if kind == "backup" {
		names = slices.Clone(f.files)
	}
	fail := f.fail == kind
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if f.started != nil {
		f.started <- kind
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return tsm.Output{RC: -1}, ctx.Err()
		}
	}
	if fail {
		return tsm.Output{RC: 12, Stdout: "ANS1017E Session rejected: TCP/IP connection failure.\n"}, nil
	}
	if kind == "backup" {
		// Wildcards are the driver's concern to have put right; the fake lists what matches.
		spec := inv.Args[len(inv.Args)-1]
		names = slices.DeleteFunc(names, func(n string) bool {
			ok, _ := path.Match(spec, n)
			return !ok
		})
	}
	if len(names) == 0 {
		return tsm.Output{RC: 8, Stdout: "ANS1092W No files matching search criteria were found\n"}, nil
	}
	var b strings.Builder
	when := f.backupTime.Format("2006-01-02 15:04:05")
	for i, n := range names {
		if kind == "image" {
			fmt.Fprintf(&b, "%-3d%9s%13s %-9s %s   %-10s  %s  %s\n", i+1, "1.00 GB", "1.00 GB", "RAW", when, "DEFAULT", "A", n)
		} else {
			fmt.Fprintf(&b, "%14s %2s  %s    %-10s  %s  %s\n", "4,096", "B", when, "DEFAULT", "A", n)
		}
	}
	return tsm.Output{Stdout: b.String()}, nil
}

func (f *listingTSM) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[kind]
}

// listDriver is a driver over a fake dsmc that only answers queries.
func listDriver(t *testing.T, f tsm.Runner, slots int) *Driver {
	t.Helper()
	return unitDriver(t, "", f, newFakeLoops(), func(o *Options) {
		o.DefaultMode, o.MaxConcurrentDsmc = tsm.ModeImage, slots
	})
}

// object is the TSM object name of a snapshot of this driver: key and volume numbered by i and
// v, size 1 GiB.
func (d *Driver) object(mode tsm.Mode, i, v int) string {
	return d.codec.ref(mode, "", fmt.Sprintf("s%016x", i), fmt.Sprintf("vol-%020x", v), 1<<30).Object
}

func (d *Driver) idOf(t *testing.T, mode tsm.Mode, object string) string {
	t.Helper()
	ref, err := d.codec.fromObject(mode, "", object)
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.codec.encode(ref)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// addSnapshotRecord records a snapshot of this node in phase, as CreateSnapshot and the upload
// job leave it.
func addSnapshotRecord(t *testing.T, d *Driver, mode tsm.Mode, i, v int, phase snapshotPhase) string {
	t.Helper()
	key, vol := fmt.Sprintf("s%016x", i), fmt.Sprintf("vol-%020x", v)
	ref := d.codec.ref(mode, "", key, vol, 1<<30)
	id, err := d.codec.encode(ref)
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshotRecord{Key: key, Name: key, ID: id, SourceVolumeID: vol, Mode: mode, Object: ref.Object,
		SizeBytes: 1 << 30, CreatedAt: time.Now()}
	if err := d.snaps.create(key, s, snapCutting); err != nil {
		t.Fatal(err)
	}
	for _, to := range map[snapshotPhase][]snapshotPhase{snapCutting: nil, snapUploading: {snapUploading}, snapReady: {snapUploading, snapReady}}[phase] {
		if _, err := d.snaps.update(key, id, func(*snapshotRecord) (snapshotPhase, error) { return to, nil }); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// walkAll pages through ListSnapshots and returns the ids in the order served.
func walkAll(t *testing.T, d *Driver, req *csi.ListSnapshotsRequest) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the walk does not end")
		}
		resp, err := d.ListSnapshots(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if req.MaxEntries > 0 && len(resp.Entries) > int(req.MaxEntries) {
			t.Fatalf("%d entries, max_entries %d", len(resp.Entries), req.MaxEntries)
		}
		for _, e := range resp.Entries {
			ids = append(ids, e.Snapshot.SnapshotId)
		}
		if resp.NextToken == "" {
			return ids
		}
		req = &csi.ListSnapshotsRequest{MaxEntries: req.MaxEntries, SourceVolumeId: req.SourceVolumeId, StartingToken: resp.NextToken}
	}
}

// TestListSnapshotsWalk: a walk by pages lists every snapshot of this driver once, sorted, with
// what TSM holds and what is only on this node (uploading), and queries TSM once per walk.
func TestListSnapshotsWalk(t *testing.T) {
	f := newListingTSM()
	d := listDriver(t, f, 4)
	var want, ofVolume2 []string
	for i := range 23 {
		o := d.object(tsm.ModeImage, i, i%5)
		f.images = append(f.images, o)
		want = append(want, d.idOf(t, tsm.ModeImage, o))
		if i%5 == 2 {
			ofVolume2 = append(ofVolume2, want[len(want)-1])
		}
	}
	for i := 100; i < 105; i++ {
		o := d.object(tsm.ModeFile, i, 9)
		f.files = append(f.files, o)
		want = append(want, d.idOf(t, tsm.ModeFile, o))
	}
	// Not this driver's: another prefix, another directory, no size.
	f.images = append(f.images, "/dev/other-0000000000000001-00000000000000000001-40000000", "/srv/"+path.Base(f.images[0]))
	f.files = append(f.files, strings.TrimSuffix(f.files[0], "-40000000"))
	// On this node only: uploading, ready but listed by TSM too, and a cut never answered.
	want = append(want, addSnapshotRecord(t, d, tsm.ModeImage, 200, 2, snapUploading), addSnapshotRecord(t, d, tsm.ModeFile, 201, 2, snapUploading))
	ofVolume2 = append(ofVolume2, want[len(want)-2:]...)
	addSnapshotRecord(t, d, tsm.ModeImage, 0, 0, snapReady)
	addSnapshotRecord(t, d, tsm.ModeImage, 300, 3, snapCutting)
	slices.Sort(want)
	slices.Sort(ofVolume2)

	for _, tc := range []struct {
		name   string
		req    *csi.ListSnapshotsRequest
		want   []string
		dsmcs  int // query image + query backup runs
		detail string
	}{
		{"all at once", &csi.ListSnapshotsRequest{}, want, 2, ""},
		{"pages of 4", &csi.ListSnapshotsRequest{MaxEntries: 4}, want, 2, ""},
		{"pages of 1", &csi.ListSnapshotsRequest{MaxEntries: 1}, want, 2, ""},
		{"one page exactly", &csi.ListSnapshotsRequest{MaxEntries: int32(len(want))}, want, 2, ""},
		{"of one volume, pages of 2", &csi.ListSnapshotsRequest{MaxEntries: 2, SourceVolumeId: fmt.Sprintf("vol-%020x", 2)}, ofVolume2, 2, ""},
		{"of an unknown volume", &csi.ListSnapshotsRequest{MaxEntries: 2, SourceVolumeId: fmt.Sprintf("vol-%020x", 77)}, nil, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count("image") + f.count("backup")
			got := walkAll(t, d, tc.req)
			if !slices.Equal(got, tc.want) {
				t.Errorf("walk listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if n := f.count("image") + f.count("backup") - before; n != tc.dsmcs {
				t.Errorf("%d dsmc queries for the walk, want %d", n, tc.dsmcs)
			}
			if n := len(d.walks.walks); n != 0 {
				t.Errorf("%d listings kept after the walk ended, want 0", n)
			}
		})
	}
	resp, err := d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range resp.Entries {
		s := e.Snapshot
		ref, err := d.codec.decode(s.SnapshotId)
		if err != nil || s.SourceVolumeId != ref.VolumeID || s.SizeBytes != 1<<30 || s.CreationTime == nil {
			t.Errorf("entry %v: %v", s, err)
		}
		if uploading := strings.Contains(s.SnapshotId, fmt.Sprintf("%016x", 200)) || strings.Contains(s.SnapshotId, fmt.Sprintf("%016x", 201)); s.ReadyToUse == uploading {
			t.Errorf("%s ready_to_use=%v", s.SnapshotId, s.ReadyToUse)
		}
		if strings.Contains(s.SnapshotId, fmt.Sprintf("-%016x-", 5)) && !s.CreationTime.AsTime().Equal(f.backupTime) {
			t.Errorf("%s created %v, want the backup time %v", s.SnapshotId, s.CreationTime.AsTime(), f.backupTime)
		}
	}
}

// TestWalkExpiry: a walk's later pages come from its first page's listing until walkTTL has
// passed; then the next page lists again and continues after the last snapshot served.
func TestWalkExpiry(t *testing.T) {
	f := newListingTSM()
	d := listDriver(t, f, 4)
	for i := range 10 {
		f.images = append(f.images, d.object(tsm.ModeImage, i, 1))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.walks.now = func() time.Time { return now }
	page := func(token string) *csi.ListSnapshotsResponse {
		t.Helper()
		resp, err := d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{MaxEntries: 3, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var got []string
	collect := func(r *csi.ListSnapshotsResponse) string {
		for _, e := range r.Entries {
			got = append(got, e.Snapshot.SnapshotId)
		}
		return r.NextToken
	}
	tok := collect(page(""))
	// A snapshot backed up during the walk, sorting last: not in this walk's pages.
	f.mu.Lock()
	f.images = append(f.images, d.object(tsm.ModeImage, 0xfff, 1))
	f.mu.Unlock()
	now = now.Add(walkTTL - time.Nanosecond)
	tok = collect(page(tok))
	if n := f.count("image"); n != 1 {
		t.Fatalf("%d image queries before the walk expired, want 1", n)
	}
	first, _ := d.codec.parseToken(tok)
	now = now.Add(time.Nanosecond)
	tok = collect(page(tok))
	if n := f.count("image"); n != 2 {
		t.Fatalf("%d image queries after the walk expired, want 2", n)
	}
	if second, _ := d.codec.parseToken(tok); second.walk == first.walk || second.walk == "" {
		t.Errorf("after expiry the walk goes on as %q (was %q), want a new kept listing", second.walk, first.walk)
	}
	for tok != "" {
		tok = collect(page(tok))
	}
	var want []string
	for _, o := range f.images {
		want = append(want, d.idOf(t, tsm.ModeImage, o))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("walk across the expiry listed\n%s\nwant (the listing of the moment it went on)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStaleToken: a well-formed token of a walk this driver does not hold (another driver
// process issued it, or it was dropped) lists again and continues after its snapshot, even if
// that snapshot is gone meanwhile; a token the driver cannot have issued is ABORTED.
func TestStaleToken(t *testing.T) {
	f := newListingTSM()
	d := listDriver(t, f, 4)
	var ids []string
	for i := range 6 {
		o := d.object(tsm.ModeImage, i, 1)
		f.images = append(f.images, o)
		ids = append(ids, d.idOf(t, tsm.ModeImage, o))
	}
	slices.Sort(ids)
	gone := slices.IndexFunc(f.images, func(o string) bool { return d.idOf(t, tsm.ModeImage, o) == ids[2] })
	f.images = slices.Delete(f.images, gone, gone+1)
	for _, tc := range []struct {
		name  string
		token string
		want  []string
		code  codes.Code
	}{
		{"unknown walk", pageToken{walk: "0123456789abcdef", after: ids[1]}.String(), ids[3:5], codes.OK},
		{"no kept listing", pageToken{after: ids[0]}.String(), []string{ids[1], ids[3]}, codes.OK},
		{"its snapshot deleted", pageToken{walk: "fedcba9876543210", after: ids[2]}.String(), ids[3:5], codes.OK},
		{"the last one", pageToken{walk: "fedcba9876543210", after: ids[5]}.String(), nil, codes.OK},
		{"not base64", "!!", nil, codes.Aborted},
		{"a bare id (no walk)", base64.RawURLEncoding.EncodeToString([]byte(ids[1])), nil, codes.Aborted},
		{"walk id not hex", base64.RawURLEncoding.EncodeToString([]byte("0123456789ABCDEF:" + ids[1])), nil, codes.Aborted},
		{"walk id short", base64.RawURLEncoding.EncodeToString([]byte("0123:" + ids[1])), nil, codes.Aborted},
		{"not a snapshot id", pageToken{walk: "0123456789abcdef", after: "tsm1:i::/etc/passwd"}.String(), nil, codes.Aborted},
		{"empty after", pageToken{walk: "0123456789abcdef"}.String(), nil, codes.Aborted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{MaxEntries: 2, StartingToken: tc.token})
			if codeOf(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", codeOf(err), err, tc.code)
			}
			if err != nil {
				return
			}
			var got []string
			for _, e := range resp.Entries {
				got = append(got, e.Snapshot.SnapshotId)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("page %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPageTokenRoundTrip: what the driver issues it reads back.
func TestPageTokenRoundTrip(t *testing.T) {
	c := testCodec(t)
	id, err := c.encode(c.ref(tsm.ModeFile, "K8S-PROD", "s0123456789abcdef", "vol-0123456789abcdef0123", 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []pageToken{{walk: "00ff00ff00ff00ff", after: id}, {after: id}} {
		s := want.String()
		if strings.ContainsAny(s, "+/=:") {
			t.Errorf("token %q is not URL-safe", s)
		}
		if got, err := c.parseToken(s); err != nil || got != want {
			t.Errorf("parseToken(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
}

// TestConcurrentWalks: walks interleaved and in parallel each see the listing of their own
// first page.
func TestConcurrentWalks(t *testing.T) {
	f := newListingTSM()
	d := listDriver(t, f, 4)
	for i := range 20 {
		f.images = append(f.images, d.object(tsm.ModeImage, i, 1))
	}
	first := func() *csi.ListSnapshotsResponse {
		resp, err := d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{MaxEntries: 5})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	rest := func(resp *csi.ListSnapshotsResponse) (n int, err error) {
		n = len(resp.Entries)
		for resp.NextToken != "" {
			if resp, err = d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{MaxEntries: 5, StartingToken: resp.NextToken}); err != nil {
				return n, err
			}
			n += len(resp.Entries)
		}
		return n, nil
	}
	a := first()
	f.mu.Lock()
	for i := 20; i < 30; i++ {
		f.images = append(f.images, d.object(tsm.ModeImage, i, 1))
	}
	f.mu.Unlock()
	b := first()
	if n, err := rest(a); n != 20 || err != nil {
		t.Errorf("walk begun before the new backups listed %d (%v), want 20", n, err)
	}
	if n, err := rest(b); n != 30 || err != nil {
		t.Errorf("walk begun after the new backups listed %d (%v), want 30", n, err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := d.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{MaxEntries: 3})
			if err == nil {
				var n int
				if n, err = rest(resp); err == nil && n != 30 {
					err = fmt.Errorf("a parallel walk listed %d, want 30", n)
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestListQueriesRunSideBySide: the two dsmc queries of a listing run at the same time when
// slots are free, one after the other when only one is (--max-concurrent-dsmc=1, or uploads
// holding all the others), and a failure of either fails the listing with its code.
func TestListQueriesRunSideBySide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		slots   int
		uploads int // slots held as by running uploads
		fail    string
		want    int // dsmc runs at once
		code    codes.Code
	}{
		{"free slots", 4, 0, "", 2, codes.OK},
		{"one slot", 1, 0, "", 1, codes.OK},
		{"uploads hold all but one", 3, 2, "", 1, codes.OK},
		{"query image fails", 4, 0, "image", 2, codes.Unavailable},
		{"query backup fails", 4, 0, "backup", 2, codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newListingTSM()
			f.fail = tc.fail
			d := listDriver(t, f, tc.slots)
			f.images = []string{d.object(tsm.ModeImage, 1, 1)}
			for range tc.uploads {
				d.longSlots <- struct{}{}
				d.slots <- struct{}{}
			}
			f.started, f.gate = make(chan string, 2), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				_, err := d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{})
				done <- err
			}()
			// Both queries start before either may finish, or one after the other.
			for range tc.want {
				select {
				case <-f.started:
				case <-time.After(10 * time.Second):
					t.Fatal("the queries of a listing did not start side by side")
				}
			}
			close(f.gate)
			if err := <-done; codeOf(err) != tc.code {
				t.Fatalf("ListSnapshots: %v, want %v", err, tc.code)
			}
			if f.maxRunning != tc.want {
				t.Errorf("%d dsmc runs at once, want %d", f.maxRunning, tc.want)
			}
		})
	}
}

// TestWalkCacheBounds: kept listings stay within walkBudget and maxWalks, the oldest going
// first; a listing larger than the budget is not kept.
func TestWalkCacheBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newWalkCache(func() time.Time { now = now.Add(time.Millisecond); return now })
	big := func(bytes int) []listEntry { return []listEntry{{id: strings.Repeat("x", bytes)}} }
	if id := c.keep(big(walkBudget)); id != "" {
		t.Errorf("a listing over the budget was kept as %q", id)
	}
	a := c.keep(big(walkBudget / 2))
	b := c.keep(big(walkBudget / 3))
	if c.get(a) == nil || c.get(b) == nil {
		t.Fatal("listings within the budget were not kept")
	}
	d := c.keep(big(walkBudget / 3))
	if c.get(a) != nil || c.get(b) == nil || c.get(d) == nil {
		t.Errorf("over the budget: oldest kept %v, newer %v %v; want the oldest dropped", c.get(a) != nil, c.get(b) != nil, c.get(d) != nil)
	}
	if c.bytes > walkBudget {
		t.Errorf("%d bytes kept, budget %d", c.bytes, walkBudget)
	}
	var ids []string
	for range maxWalks + 1 {
		ids = append(ids, c.keep(big(10)))
	}
	if len(c.walks) != maxWalks || c.get(ids[0]) != nil || c.get(ids[maxWalks]) == nil {
		t.Errorf("%d listings kept (max %d); first kept %v", len(c.walks), maxWalks, c.get(ids[0]) != nil)
	}
	for _, id := range ids {
		c.done(id)
	}
	c.done(b)
	c.done(d)
	if len(c.walks) != 0 || c.bytes != 0 {
		t.Errorf("after every walk ended: %d listings, %d bytes", len(c.walks), c.bytes)
	}
}

// BenchmarkListFirstPage is the driver's own share of a first page over 10,000 image backups:
// parsing dsmc's answer (made once, before the timing), merging, sorting, keeping the listing
// for the walk and the page of 1,000. Metric: kept-bytes/snapshot, what a kept listing costs
// per snapshot by the budget's count.
func BenchmarkListFirstPage(b *testing.B) {
	f := newListingTSM()
	answers := map[string]tsm.Output{"session": {Stdout: "Node Name: N1\nSession established with server FAKE: Linux/x86_64\n"}}
	client := tsm.NewClient(tsm.Config{Binary: "dsmc", WorkDir: b.TempDir()}, runnerFunc(func(_ context.Context, inv tsm.Invocation) (tsm.Output, error) {
		return answers[inv.Args[1]], nil
	}))
	dir, err := os.MkdirTemp("", "c")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	d, err := NewDriver(Options{DriverName: "test.tsm.csi", NodeID: "n1", StateDir: dir, VolumePrefix: "bench",
		MetaDir: filepath.Join(dir, "meta")}, client, mount.NewMounter())
	if err != nil {
		b.Fatal(err)
	}
	d.loops = newFakeLoops()
	if err := d.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer d.Stop()
	for i := range 10000 {
		f.images = append(f.images, d.object(tsm.ModeImage, i*7919, i))
	}
	for _, kind := range []string{"image", "backup"} {
		if answers[kind], err = f.Run(b.Context(), tsm.Invocation{Args: []string{"query", kind, "/none"}}); err != nil {
			b.Fatal(err)
		}
	}
	var resp *csi.ListSnapshotsResponse
	for b.Loop() {
		if resp, err = d.ListSnapshots(b.Context(), &csi.ListSnapshotsRequest{MaxEntries: 1000}); err != nil || len(resp.Entries) != 1000 {
			b.Fatal(len(resp.GetEntries()), err)
		}
	}
	tok, err := d.codec.parseToken(resp.NextToken)
	if err != nil {
		b.Fatal(err)
	}
	w := d.walks.walks[tok.walk]
	if w == nil || len(w.entries) != 10000 {
		b.Fatalf("the walk's listing was not kept: %+v", w)
	}
	b.ReportMetric(float64(w.bytes)/float64(len(w.entries)), "kept-bytes/snapshot")
}
