package csi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// fakeLoops stands in for the kernel's loop devices: it only remembers which file is attached.
type fakeLoops struct {
	mu    sync.Mutex
	next  int
	devOf map[string]string
}

func newFakeLoops() *fakeLoops { return &fakeLoops{devOf: map[string]string{}} }

func (l *fakeLoops) Attach(_ context.Context, file string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Stat(file); err != nil {
		return "", err
	}
	if dev, ok := l.devOf[file]; ok {
		return dev, nil
	}
	l.next++
	l.devOf[file] = fmt.Sprintf("/dev/fakeloop%d", l.next)
	return l.devOf[file], nil
}

func (l *fakeLoops) Find(file string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.devOf[file], nil
}

func (l *fakeLoops) Detach(_ context.Context, dev string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for f, d := range l.devOf {
		if d == dev {
			delete(l.devOf, f)
			return nil
		}
	}
	return errors.New("not attached")
}

func (l *fakeLoops) Refresh(context.Context, string) error { return nil }
func (l *fakeLoops) Flush(string) error                    { return nil }

// readySnapshot makes a volume with data and a ready file-mode snapshot of it.
func readySnapshot(t *testing.T, d *Driver, name string, data []byte) *csi.Snapshot {
	t.Helper()
	v := addVolume(t, d, "src-"+name, data)
	s, errs := pollUntilReady(t, d, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: v.ID})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	d.jobs.wait(t.Context(), "upload:"+snapshotKeyFor(name))
	return s
}

func restoreRequest(name, snapshotID string, size int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{capBlock()},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapshotID}}},
	}
}

func capBlock() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// createUntilDone repeats CreateVolume as the provisioner does while it answers ABORTED.
func createUntilDone(t *testing.T, d *Driver, req *csi.CreateVolumeRequest) (*csi.Volume, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		resp, err := d.CreateVolume(ctx, req)
		cancel()
		if codeOf(err) == codes.Aborted {
			continue
		}
		if err != nil {
			return nil, err
		}
		return resp.Volume, nil
	}
	t.Fatal("CreateVolume still ABORTED after 30 s")
	return nil, nil
}

// assertNoVolume checks that nothing of a volume is left: record, backing file, restore file,
// loop device.
func assertNoVolume(t *testing.T, d *Driver, loops *fakeLoops, id string) {
	t.Helper()
	if _, err := d.loadVolume(id); codeOf(err) != codes.NotFound {
		t.Errorf("volume record left: %v", err)
	}
	for _, f := range []string{d.backingFile(id), d.backingFile(id) + ".restore"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", f, err)
		}
	}
	if dev, _ := loops.Find(d.backingFile(id)); dev != "" {
		t.Errorf("loop device %s left", dev)
	}
}

func TestRestoreRoundTripIntoALargerVolume(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	data := []byte(strings.Repeat("restore me ", 400))
	snap := readySnapshot(t, d, "snap-r", data)
	vol, err := createUntilDone(t, d, restoreRequest("pvc-r", snap.SnapshotId, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.backingFile(vol.VolumeId))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != vol.CapacityBytes || !bytes.Equal(got[:len(data)], data) {
		t.Fatalf("restored %d bytes (want %d) holding the snapshot's data: %v", len(got), vol.CapacityBytes, bytes.Equal(got[:len(data)], data))
	}
	if dev, _ := d.loops.Find(d.backingFile(vol.VolumeId)); dev == "" {
		t.Error("the restored volume is not attached")
	}
}

// TestRestoreFailures runs every way a restore can fail: each is reported once with its code,
// leaves nothing of the volume behind, and the next call starts a clean restore.
func TestRestoreFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape func(object string, data []byte) ([]byte, *tsm.Output)
		code  codes.Code
	}{
		{"connection lost", func(string, []byte) ([]byte, *tsm.Output) {
			return nil, &tsm.Output{RC: 12, Stdout: "ANS1017E Session rejected: TCP/IP connection failure.\n"}
		}, codes.Unavailable},
		{"object gone", func(string, []byte) ([]byte, *tsm.Output) {
			return nil, &tsm.Output{RC: 12, Stdout: "ANS1302E No objects on server match query\n"}
		}, codes.NotFound},
		{"more data than the volume", func(_ string, b []byte) ([]byte, *tsm.Output) {
			return append(b, make([]byte, 1<<21)...), nil
		}, codes.FailedPrecondition},
		{"nothing written", func(string, []byte) ([]byte, *tsm.Output) { return []byte{}, nil }, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTSM()
			d := testDriver(t, "", f)
			loops := d.loops.(*fakeLoops)
			data := []byte(strings.Repeat("x", 8192))
			snap := readySnapshot(t, d, "snap-f", data)
			// The failures hit the data; the metadata object (fetched first) comes back whole.
			f.restore = func(object string, b []byte) ([]byte, *tsm.Output) {
				if strings.HasSuffix(object, ".json") {
					return b, nil
				}
				return tc.shape(object, b)
			}
			req := restoreRequest("pvc-f", snap.SnapshotId, 1<<20)
			_, err := createUntilDone(t, d, req)
			if codeOf(err) != tc.code {
				t.Fatalf("restore failure answered %v, want %s", err, tc.code)
			}
			assertNoVolume(t, d, loops, volumeIDFor(req.Name))
			f.restore = nil
			vol, err := createUntilDone(t, d, req)
			if err != nil {
				t.Fatalf("the restore after a reported failure: %v", err)
			}
			if got, _ := os.ReadFile(d.backingFile(vol.VolumeId)); !bytes.Equal(got[:len(data)], data) {
				t.Error("the second restore does not hold the snapshot's data")
			}
		})
	}
}

// TestRecoveryFromEveryPhase writes the records a crash can leave in each phase and starts a
// driver over them.
func TestRecoveryFromEveryPhase(t *testing.T) {
	f := newFakeTSM()
	dir := shortDir(t)
	d := testDriver(t, dir, f)
	data := []byte(strings.Repeat("y", 8192))
	snap := readySnapshot(t, d, "snap-rec", data)
	ref, _ := d.codec.decode(snap.SnapshotId)
	// A creation interrupted before its volume was made.
	creating := &volumeRecord{ID: volumeIDFor("pvc-creating"), Name: "pvc-creating", SizeBytes: 1 << 20, Access: "block", Phase: phaseCreating}
	// A restore interrupted after dsmc wrote part of it.
	restoring := &volumeRecord{ID: volumeIDFor("pvc-restoring"), Name: "pvc-restoring", SizeBytes: 1 << 20, Access: "block", Phase: phaseRestoring, SourceSnapshot: snap.SnapshotId}
	// A restore killed right after its rename: the file is smaller than the record says.
	renamed := &volumeRecord{ID: volumeIDFor("pvc-renamed"), Name: "pvc-renamed", SizeBytes: 1 << 20, Access: "block", Phase: phaseReady, SourceSnapshot: snap.SnapshotId}
	for _, v := range []*volumeRecord{creating, restoring, renamed} {
		if err := d.volumes.Put(v.ID, v); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.backingFile(v.ID), data[:100], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(d.backingFile(restoring.ID)+".restore", data[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	// A cut interrupted: never answered, so it goes.
	cutting := &snapshotRecord{Key: snapshotKeyFor("snap-cutting"), Name: "snap-cutting", ID: "tsm1:f::" + ref.Object + "0", SourceVolumeID: ref.VolumeID, Mode: tsm.ModeFile, Object: ref.Object + "0"}
	if err := d.snaps.create(cutting.Key, cutting, snapCutting); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.cutFile(cutting.Key), data, 0o600); err != nil {
		t.Fatal(err)
	}
	// An orphan cut without any record.
	if err := os.WriteFile(d.cutFile("s0000000000000000"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A metadata object restored to be read by a run that died before removing it.
	leftMeta := filepath.Join(d.tmpDir(), "backup-x.json.123")
	if err := os.WriteFile(leftMeta, data[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	// Staged metadata files: one a killed upload left an hour ago, one another driver sharing
	// the directory may be sending now, and one that is not of this prefix.
	staged := func(name string, age time.Duration) string {
		p := filepath.Join(d.opts.MetaDir, name)
		if err := os.WriteFile(p, data[:10], 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldStaged := staged(path.Base(d.codec.metaObject(ref)), staleStaging+time.Minute)
	freshStaged := staged(path.Base(d.codec.metaObject(snapshotRef{Mode: tsm.ModeImage, Object: ref.Object})), time.Minute)
	foreignStaged := staged("other-"+path.Base(d.codec.metaObject(ref)), 2*staleStaging)
	d.Stop()

	d2 := testDriver(t, dir, f)
	loops := d2.loops.(*fakeLoops)
	if _, err := os.Stat(leftMeta); !os.IsNotExist(err) {
		t.Errorf("restored metadata left in %s: %v", d2.tmpDir(), err)
	}
	if _, err := os.Stat(oldStaged); !os.IsNotExist(err) {
		t.Errorf("a stale staged metadata file survived the start: %v", err)
	}
	for _, p := range []string{freshStaged, foreignStaged} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the start removed %s: %v", p, err)
		}
	}
	assertNoVolume(t, d2, loops, creating.ID)
	if _, err := d2.loadSnapshot(cutting.Key); err == nil {
		t.Error("the interrupted cut's record survived")
	}
	for _, k := range []string{cutting.Key, "s0000000000000000"} {
		if _, err := os.Stat(d2.cutFile(k)); !os.IsNotExist(err) {
			t.Errorf("cut %s left: %v", k, err)
		}
	}
	if fi, err := os.Stat(d2.backingFile(renamed.ID)); err != nil || fi.Size() != renamed.SizeBytes {
		t.Errorf("volume after a rename cut short: %v, %d bytes, want %d", err, fi.Size(), renamed.SizeBytes)
	}
	vol, err := createUntilDone(t, d2, &csi.CreateVolumeRequest{
		Name: restoring.Name, CapacityRange: &csi.CapacityRange{RequiredBytes: restoring.SizeBytes},
		VolumeCapabilities: []*csi.VolumeCapability{capBlock()},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}},
	})
	if err != nil {
		t.Fatalf("the interrupted restore: %v", err)
	}
	if got, _ := os.ReadFile(d2.backingFile(vol.VolumeId)); len(got) < len(data) || !bytes.Equal(got[:len(data)], data) {
		t.Error("the resumed restore does not hold the snapshot's data")
	}
	if _, err := os.Stat(d2.backingFile(restoring.ID) + ".restore"); !os.IsNotExist(err) {
		t.Errorf("restore file left: %v", err)
	}
}
