package csi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// fakeTSM is a dsmc stand-in behind tsm.Client's Runner seam: selective stores the digest of
// the file it is given (what a real backup would read at that moment), query backup lists
// what was stored, delete backup removes it. fail makes the next runs of an object fail.
type fakeTSM struct {
	mu       sync.Mutex
	stored   map[string][]string                                    // object -> digests of every version, newest last
	sizes    map[string]int64                                       // object -> size of the newest version
	data     map[string][]byte                                      // object -> contents of the newest version
	restore  func(object string, data []byte) ([]byte, *tsm.Output) // when set, shapes or fails restores
	runs     map[string]int                                         // object -> selective runs
	fail     map[string]int                                         // object -> selective runs still to fail
	hold     chan struct{}                                          // when set, selective waits for it
	started  chan string                                            // when set, selective reports its object
	session  string                                                 // when set, query session fails (rc 12) printing it
	failures int
}

func newFakeTSM() *fakeTSM {
	return &fakeTSM{stored: map[string][]string{}, sizes: map[string]int64{}, data: map[string][]byte{}, runs: map[string]int{}, fail: map[string]int{}}
}

func digestOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func (f *fakeTSM) Run(ctx context.Context, inv tsm.Invocation) (tsm.Output, error) {
	args := inv.Args
	object := args[len(args)-1]
	switch {
	case args[0] == "selective":
		if f.started != nil {
			f.started <- object
		}
		if f.hold != nil {
			select {
			case <-f.hold:
			case <-ctx.Done():
				return tsm.Output{RC: -1}, ctx.Err()
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.runs[object]++
		if f.fail[object] > 0 {
			f.fail[object]--
			f.failures++
			return tsm.Output{RC: 12, Stdout: "ANS1017E Session rejected: TCP/IP connection failure.\n"}, nil
		}
		sum, err := digestOf(object)
		if err != nil {
			return tsm.Output{RC: 12, Stdout: "ANS1228E Sending of object " + object + " failed.\n"}, nil
		}
		f.stored[object] = append(f.stored[object], sum)
		b, _ := os.ReadFile(object)
		f.sizes[object], f.data[object] = int64(len(b)), b
		return tsm.Output{Stdout: "Total number of objects inspected:  1\nTotal number of objects backed up:  1\nTotal number of objects failed:  0\n" +
			fmt.Sprintf("Total number of bytes transferred:  %d B\n", len(b))}, nil
	case args[0] == "query" && args[1] == "session":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.session != "" {
			return tsm.Output{RC: 12, Stdout: f.session}, nil
		}
		return tsm.Output{Stdout: "Node Name: N1\nSession established with server FAKE: Linux/x86_64\n"}, nil
	case args[0] == "query":
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.stored[object]) == 0 {
			return tsm.Output{RC: 8, Stdout: "ANS1092W No files matching search criteria were found\n"}, nil
		}
		return tsm.Output{Stdout: fmt.Sprintf("  %d  B  %s    DEFAULT   A  %s\n", f.sizes[object], time.Now().Format("2006-01-02 15:04:05"), object)}, nil
	case args[0] == "restore":
		object, dst := args[len(args)-2], args[len(args)-1]
		f.mu.Lock()
		b, ok := f.data[object]
		shape := f.restore
		f.mu.Unlock()
		if !ok {
			return tsm.Output{RC: 12, Stdout: "ANS1302E No objects on server match query\n"}, nil
		}
		if shape != nil {
			var out *tsm.Output
			if b, out = shape(object, b); out != nil {
				return *out, nil
			}
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return tsm.Output{}, err
		}
		return tsm.Output{Stdout: "Total number of objects restored:  1\nTotal number of objects failed:  0\n" +
			fmt.Sprintf("Total number of bytes transferred:  %d B\n", len(b))}, nil
	case args[0] == "delete":
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.stored, object)
		delete(f.sizes, object)
		return tsm.Output{Stdout: "Total number of objects deleted:  1\nTotal number of objects failed:  0\n"}, nil
	}
	return tsm.Output{RC: 12, Stdout: "ANS1107E Invalid option/value: " + strings.Join(args, " ") + "\n"}, nil
}

func (f *fakeTSM) versions(object string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stored[object]...)
}

// testDriver is a driver in-process over a temporary state directory, in file mode, whose
// dsmc is fake: no root, no loop device.
func testDriver(t *testing.T, dir string, f *fakeTSM) *Driver {
	t.Helper()
	return unitDriver(t, dir, f, newFakeLoops(), nil)
}

// unitDriver is the one set-up of an in-process driver: a state directory (a new short one
// for ""), its own metadata directory, the given dsmc runner and loop devices, the options of
// testDriver changed by edit; started, and stopped when the test ends.
func unitDriver(t *testing.T, dir string, r tsm.Runner, loops loopDevices, edit func(*Options)) *Driver {
	t.Helper()
	if dir == "" {
		dir = shortDir(t)
	}
	client := tsm.NewClient(tsm.Config{Binary: "dsmc", WorkDir: t.TempDir()}, r)
	opts := Options{
		DriverName: "test.tsm.csi", NodeID: "n1", StateDir: dir, LinkDir: "/dev",
		VolumePrefix: "ut-" + fmt.Sprint(os.Getpid()), DefaultMode: tsm.ModeFile, MaxConcurrentDsmc: 4,
		MetaDir: filepath.Join(dir, "meta"),
	}
	if edit != nil {
		edit(&opts)
	}
	d, err := NewDriver(opts, client, mount.NewMounter())
	if err != nil {
		t.Fatal(err)
	}
	d.loops = loops
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// shortDir is a state directory short enough for file-mode ids (128 bytes) to fit.
func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// addVolume records a ready block volume whose backing file holds content, as CreateVolume
// would leave it (without the loop device, which no call here needs).
func addVolume(t *testing.T, d *Driver, name string, content []byte) *volumeRecord {
	t.Helper()
	v := &volumeRecord{ID: volumeIDFor(name), Name: name, SizeBytes: int64(len(content)), Access: "block", Phase: phaseReady, CreatedAt: time.Now()}
	if err := os.WriteFile(d.backingFile(v.ID), content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.volumes.Put(v.ID, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func digestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pollUntilReady calls CreateSnapshot as csi-snapshotter does until ready_to_use; errors
// other than those a retry may clear end the test.
func pollUntilReady(t *testing.T, d *Driver, req *csi.CreateSnapshotRequest) (*csi.Snapshot, []error) {
	t.Helper()
	var errs []error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := d.CreateSnapshot(t.Context(), req)
		if err != nil {
			// ABORTED is the in-flight guard answering a concurrent poller.
			if c := codeOf(err); c != codes.Aborted {
				errs = append(errs, err)
			}
			if c := codeOf(err); c != codes.Unavailable && c != codes.Aborted {
				return nil, errs
			}
			continue
		}
		if resp.Snapshot.ReadyToUse {
			return resp.Snapshot, errs
		}
		if d.jobs.running("upload:" + snapshotKeyFor(req.Name)) {
			d.jobs.wait(t.Context(), "upload:"+snapshotKeyFor(req.Name))
		}
	}
	t.Fatalf("snapshot %s not ready after 30 s", req.Name)
	return nil, nil
}

// TestSnapshotPollingNeverRecuts is the race in which a retried CreateSnapshot read a stale
// "uploading" record after the upload job had recorded "ready", started a second upload and,
// once that failed for the lack of a cut, a new cut with later data. Each of many snapshots is
// polled from several goroutines at once while its volume changes right after the cut; each
// must end ready, uploaded exactly once, holding the data of its cut.
func TestSnapshotPollingNeverRecuts(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	const snapshots, pollers = 500, 4
	for i := range snapshots {
		name := fmt.Sprintf("pvc-%d", i)
		before := []byte(strings.Repeat(fmt.Sprintf("before %d ", i), 64))
		v := addVolume(t, d, name, before)
		req := &csi.CreateSnapshotRequest{Name: fmt.Sprintf("snap-%d", i), SourceVolumeId: v.ID}
		first, err := d.CreateSnapshot(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		// Written after creation_time was answered: never part of this snapshot.
		after := []byte(strings.Repeat(fmt.Sprintf("AFTER! %d ", i), 64))
		if err := os.WriteFile(d.backingFile(v.ID), after, 0o600); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		results := make([]*csi.Snapshot, pollers)
		for p := range pollers {
			wg.Go(func() {
				s, errs := pollUntilReady(t, d, req)
				if len(errs) > 0 {
					t.Errorf("snapshot %d: errors while polling: %v", i, errs)
				}
				results[p] = s
			})
		}
		wg.Wait()
		object := filepathOfID(t, d, first.Snapshot.SnapshotId)
		got := f.versions(object)
		if len(got) != 1 || got[0] != digestBytes(before) {
			t.Fatalf("snapshot %d: TSM holds %d version(s) %v, want exactly the cut's data %s", i, len(got), got, digestBytes(before))
		}
		for _, s := range results {
			if s == nil || !s.CreationTime.AsTime().Equal(first.Snapshot.CreationTime.AsTime()) {
				t.Fatalf("snapshot %d: creation time moved: %v then %v", i, first.Snapshot.CreationTime, s)
			}
		}
	}
}

func filepathOfID(t *testing.T, d *Driver, id string) string {
	t.Helper()
	ref, err := d.codec.decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Object
}

// TestFailedUploadRetriesTheSameCut: after a failed run, the error is answered once, and the
// next run sends the cut taken at creation, not the volume as it is now.
func TestFailedUploadRetriesTheSameCut(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	before := []byte(strings.Repeat("before ", 1000))
	v := addVolume(t, d, "pvc-a", before)
	req := &csi.CreateSnapshotRequest{Name: "snap-a", SourceVolumeId: v.ID}
	ref := d.codec.ref(tsm.ModeFile, "", snapshotKeyFor(req.Name), v.ID, v.SizeBytes)
	f.fail[ref.Object] = 2
	first, err := d.CreateSnapshot(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.backingFile(v.ID), []byte(strings.Repeat("AFTER! ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	var reported []codes.Code
	for range 2 {
		d.jobs.wait(t.Context(), "upload:"+ref.Key)
		_, err := d.CreateSnapshot(t.Context(), req)
		reported = append(reported, codeOf(err))
		if err == nil {
			t.Fatal("a failed upload was not reported")
		}
		// The next call starts the next run of the same cut.
		if _, err := d.CreateSnapshot(t.Context(), req); err != nil {
			t.Fatalf("retry after the reported failure: %v", err)
		}
	}
	s, errs := pollUntilReady(t, d, req)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if !s.CreationTime.AsTime().Equal(first.Snapshot.CreationTime.AsTime()) {
		t.Errorf("creation time moved from %v to %v", first.Snapshot.CreationTime.AsTime(), s.CreationTime.AsTime())
	}
	if got := f.versions(ref.Object); len(got) != 1 || got[0] != digestBytes(before) {
		t.Errorf("TSM holds %v, want the creation-time data only", got)
	}
	for _, c := range reported {
		if c != codes.Unavailable {
			t.Errorf("a lost connection was reported as %s, want Unavailable", c)
		}
	}
	// Ready is recorded before the cut is released; the job ends after both.
	d.jobs.wait(t.Context(), "upload:"+ref.Key)
	if _, err := os.Stat(d.cutFile(ref.Key)); !os.IsNotExist(err) {
		t.Errorf("the cut outlived its upload: %v", err)
	}
}

// TestLostCutFailsForGood: a cut that is gone (a wiped state directory, say) is never replaced
// by a new one; the snapshot fails for good and says to take a new one.
func TestLostCutFailsForGood(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	v := addVolume(t, d, "pvc-b", []byte(strings.Repeat("b", 4096)))
	req := &csi.CreateSnapshotRequest{Name: "snap-b", SourceVolumeId: v.ID}
	key := snapshotKeyFor(req.Name)
	ref := d.codec.ref(tsm.ModeFile, "", key, v.ID, v.SizeBytes)
	f.fail[ref.Object] = 1
	if _, err := d.CreateSnapshot(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	d.jobs.wait(t.Context(), "upload:"+key)
	if err := os.Remove(d.cutFile(key)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateSnapshot(t.Context(), req); codeOf(err) != codes.Unavailable {
		t.Fatalf("first retry: %v, want the upload failure once", err)
	}
	for i := range 3 {
		_, err := d.CreateSnapshot(t.Context(), req)
		d.jobs.wait(t.Context(), "upload:"+key)
		if i > 0 && (codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "take a new one")) {
			t.Fatalf("retry %d: %v, want FailedPrecondition saying to take a new snapshot", i, err)
		}
	}
	if got := f.versions(ref.Object); len(got) != 0 {
		t.Errorf("a snapshot without its cut reached TSM: %v", got)
	}
	if _, err := os.Stat(d.cutFile(key)); !os.IsNotExist(err) {
		t.Errorf("a new cut was made: %v", err)
	}
}

// TestRestartResumesTheSameCut: a driver stopped during an upload resumes it at its next start
// from the cut it held, whatever the volume holds by then.
func TestRestartResumesTheSameCut(t *testing.T) {
	f := newFakeTSM()
	f.hold = make(chan struct{})
	f.started = make(chan string, 4)
	dir := shortDir(t)
	d := testDriver(t, dir, f)
	before := []byte(strings.Repeat("before ", 512))
	v := addVolume(t, d, "pvc-c", before)
	req := &csi.CreateSnapshotRequest{Name: "snap-c", SourceVolumeId: v.ID}
	if _, err := d.CreateSnapshot(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	<-f.started
	d.Stop() // cancels the held upload
	if err := os.WriteFile(d.backingFile(v.ID), []byte(strings.Repeat("AFTER! ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The volume's record goes so that the restart attaches no loop device.
	if err := d.volumes.Delete(v.ID); err != nil {
		t.Fatal(err)
	}
	f.hold, f.started = nil, nil
	d2 := testDriver(t, dir, f)
	key := snapshotKeyFor(req.Name)
	d2.jobs.wait(t.Context(), "upload:"+key)
	s, err := d2.loadSnapshot(key)
	if err != nil || s.Phase != snapReady {
		t.Fatalf("after the restart: %+v %v", s, err)
	}
	if got := f.versions(s.Object); len(got) != 1 || got[0] != digestBytes(before) {
		t.Errorf("TSM holds %v, want the creation-time data", got)
	}
}

// TestDeleteSnapshotOfAnotherOwnerTouchesNothing: an id that differs from a local snapshot's
// only in its owner is another object; the local upload keeps running.
func TestDeleteSnapshotOfAnotherOwnerTouchesNothing(t *testing.T) {
	f := newFakeTSM()
	f.hold = make(chan struct{})
	f.started = make(chan string, 1)
	d := testDriver(t, "", f)
	v := addVolume(t, d, "pvc-d", []byte(strings.Repeat("d", 4096)))
	resp, err := d.CreateSnapshot(t.Context(), &csi.CreateSnapshotRequest{Name: "snap-d", SourceVolumeId: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	<-f.started
	forged := strings.Replace(resp.Snapshot.SnapshotId, "tsm1:f::", "tsm1:f:OTHER:", 1)
	if forged == resp.Snapshot.SnapshotId {
		t.Fatalf("unexpected id layout %q", forged)
	}
	if _, err := d.DeleteSnapshot(t.Context(), &csi.DeleteSnapshotRequest{SnapshotId: forged}); err != nil {
		t.Fatal(err)
	}
	key := snapshotKeyFor("snap-d")
	if !d.jobs.running("upload:" + key) {
		t.Fatal("deleting another owner's id cancelled this snapshot's upload")
	}
	close(f.hold)
	d.jobs.wait(t.Context(), "upload:"+key)
	if s, err := d.loadSnapshot(key); err != nil || s.Phase != snapReady {
		t.Fatalf("snapshot after the forged delete: %+v %v", s, err)
	}
}

// TestForeignFileIDsReachNoDsmc: file-mode ids outside the driver's file directory, wildcards
// included, are answered without running dsmc.
func TestForeignFileIDsReachNoDsmc(t *testing.T) {
	f := newFakeTSM()
	calls := 0
	counting := runnerFunc(func(ctx context.Context, inv tsm.Invocation) (tsm.Output, error) {
		if inv.Args[1] == "session" { // the driver's health check, not an answer to these ids
			return f.Run(ctx, inv)
		}
		calls++
		return f.Run(ctx, inv)
	})
	client := tsm.NewClient(tsm.Config{Binary: "dsmc", WorkDir: t.TempDir()}, counting)
	dir := shortDir(t)
	d, err := NewDriver(Options{DriverName: "test.tsm.csi", NodeID: "n1", StateDir: dir, VolumePrefix: "backup", MetaDir: filepath.Join(dir, "meta")}, client, mount.NewMounter())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	good := "0123456789abcdef-0123456789abcdef0123-400"
	for _, id := range []string{
		"tsm1:f::/var/lib/*/tsm/backup-" + good,
		"tsm1:f::/etc/backup-" + good,
		"tsm1:f::/tmp/?/tsm/backup-" + good,
		"tsm1:f::/tmp/[ab]/tsm/backup-" + good,
	} {
		if _, err := d.DeleteSnapshot(t.Context(), &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
			t.Errorf("DeleteSnapshot(%q): %v, want OK", id, err)
		}
		if _, err := d.GetSnapshot(t.Context(), &csi.GetSnapshotRequest{SnapshotId: id}); codeOf(err) != codes.NotFound {
			t.Errorf("GetSnapshot(%q): %v, want NotFound", id, err)
		}
		if r, err := d.ListSnapshots(t.Context(), &csi.ListSnapshotsRequest{SnapshotId: id}); err != nil || len(r.Entries) != 0 {
			t.Errorf("ListSnapshots(%q): %v %v, want nothing", id, r, err)
		}
	}
	if calls != 0 {
		t.Errorf("%d dsmc runs for ids that are not this driver's", calls)
	}
}

type runnerFunc func(ctx context.Context, inv tsm.Invocation) (tsm.Output, error)

func (f runnerFunc) Run(ctx context.Context, inv tsm.Invocation) (tsm.Output, error) {
	return f(ctx, inv)
}
