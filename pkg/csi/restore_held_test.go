package csi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// fullRecords stands in front of the volume records and, while full is set, refuses every
// write as a full file system does; reads and deletes, which need no space, pass.
type fullRecords struct {
	recordStore
	full    atomic.Bool
	refused atomic.Int32
}

func (r *fullRecords) Put(key string, v any) error {
	if r.full.Load() {
		r.refused.Add(1)
		return fmt.Errorf("write record %s: %w", key, &os.PathError{Op: "write", Path: ".tmp-" + key, Err: syscall.ENOSPC})
	}
	return r.recordStore.Put(key, v)
}

func fillableRecords(d *Driver) *fullRecords {
	r := &fullRecords{recordStore: d.vols.dir}
	d.vols.dir = r
	return r
}

// backoffClock is the back-off's clock, moved by the test only.
type backoffClock struct {
	mu  sync.Mutex
	now time.Time
}

func useBackoffClock(t *testing.T) *backoffClock {
	c := &backoffClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	restoreNow = c.Now
	t.Cleanup(func() { restoreNow = time.Now })
	return c
}

func (c *backoffClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *backoffClock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
}

// inodeLoops has the one property of the kernel's loop devices that a rename shows: a device
// holds the inode it was attached to (kept open here, as the kernel keeps it referenced), not
// the path, so a file renamed over an attached one is not found attached.
type inodeLoops struct {
	mu   sync.Mutex
	next int
	devs map[string]*os.File
}

func newInodeLoops(t *testing.T) *inodeLoops {
	l := &inodeLoops{devs: map[string]*os.File{}}
	t.Cleanup(func() {
		for _, f := range l.devs {
			_ = f.Close()
		}
	})
	return l
}

func (l *inodeLoops) find(file string) (string, error) {
	fi, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	for dev, f := range l.devs {
		if held, err := f.Stat(); err == nil && os.SameFile(held, fi) {
			return dev, nil
		}
	}
	return "", nil
}

func (l *inodeLoops) Attach(_ context.Context, file string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if dev, err := l.find(file); err != nil || dev != "" {
		return dev, err
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	l.next++
	dev := fmt.Sprintf("/dev/fakeloop%d", l.next)
	l.devs[dev] = f
	return dev, nil
}

func (l *inodeLoops) Find(file string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.find(file)
}

func (l *inodeLoops) Detach(_ context.Context, dev string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.devs[dev]
	if !ok {
		return errors.New("not attached")
	}
	delete(l.devs, dev)
	return f.Close()
}

func (l *inodeLoops) Refresh(context.Context, string) error { return nil }
func (l *inodeLoops) Flush(string) error                    { return nil }

// orphans lists the devices whose file has been removed or renamed over: nobody can find them
// any more, and they keep the file's space.
func (l *inodeLoops) orphans() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for dev, f := range l.devs {
		if fi, err := f.Stat(); err != nil || fi.Sys().(*syscall.Stat_t).Nlink == 0 {
			out = append(out, dev)
		}
	}
	return out
}

// driverWithLoops is testDriver over the given loop devices, which outlive a restart of the
// driver as the kernel's do.
func driverWithLoops(t *testing.T, dir string, f *fakeTSM, loops loopDevices) *Driver {
	t.Helper()
	return unitDriver(t, dir, f, loops, nil)
}

// heldRestore is one restore under test: its CreateVolume answers are counted by code, the
// fake dsmc's restores of the snapshot's data (not of its metadata object) by number.
type heldRestore struct {
	t       *testing.T
	d       *Driver
	req     *csi.CreateVolumeRequest
	id      string
	answers map[codes.Code]int
	runs    atomic.Int32
}

func newHeldRestore(t *testing.T, d *Driver, f *fakeTSM, snapshotID string, shape func(n int32, data []byte) ([]byte, *tsm.Output)) *heldRestore {
	h := &heldRestore{t: t, d: d, req: restoreRequest("pvc-held", snapshotID, 1<<20), answers: map[codes.Code]int{}}
	h.id = volumeIDFor(h.req.Name)
	ref, err := d.codec.decode(snapshotID)
	if err != nil {
		t.Fatal(err)
	}
	f.restore = func(object string, data []byte) ([]byte, *tsm.Output) {
		if object != ref.Object {
			return data, nil
		}
		return shape(h.runs.Add(1), data)
	}
	return h
}

// create calls CreateVolume without a deadline, so that it waits for any restore job it finds
// or starts: what it answers then does not depend on timing.
func (h *heldRestore) create() (*csi.Volume, error) {
	h.t.Helper()
	resp, err := h.d.CreateVolume(h.t.Context(), h.req)
	h.answers[codeOf(err)]++
	if err != nil {
		return nil, err
	}
	return resp.Volume, nil
}

// expect checks one answer: its code and a part of its message.
func (h *heldRestore) expect(what string, code codes.Code, msg string) {
	h.t.Helper()
	_, err := h.create()
	if codeOf(err) != code || !strings.Contains(fmt.Sprint(err), msg) {
		h.t.Fatalf("%s: CreateVolume answered %v; want %s with %q", what, err, code, msg)
	}
	if h.d.jobs.running("restore:" + h.id) {
		h.t.Fatalf("%s: a restore job still runs after the answer", what)
	}
}

func (h *heldRestore) expectRuns(what string, want int32) {
	h.t.Helper()
	if got := h.runs.Load(); got != want {
		h.t.Fatalf("%s: dsmc restored %d times, want %d", what, got, want)
	}
}

// expectData checks the volume holds the snapshot's data and is attached, and that no loop
// device was left on a file the restore replaced.
func (h *heldRestore) expectData(vol *csi.Volume, data []byte, loops *inodeLoops) {
	h.t.Helper()
	if vol == nil || vol.VolumeId != h.id {
		h.t.Fatalf("CreateVolume returned %v, want volume %s", vol, h.id)
	}
	got, err := os.ReadFile(h.d.backingFile(h.id))
	if err != nil || int64(len(got)) != vol.CapacityBytes || !bytes.Equal(got[:len(data)], data) {
		h.t.Fatalf("the restored volume does not hold the snapshot's data (%v, %d bytes)", err, len(got))
	}
	if dev, _ := loops.Find(h.d.backingFile(h.id)); dev == "" {
		h.t.Fatal("the restored volume is not attached")
	}
	if orphans := loops.orphans(); len(orphans) > 0 {
		h.t.Fatalf("loop devices left on replaced files: %v", orphans)
	}
	if h.d.heldOutcome(h.id) != nil {
		h.t.Fatal("an outcome is still held for the recorded volume")
	}
}

// stepThroughBackoff moves the clock to just before each expected back-off ends (CreateVolume
// answers ABORTED and nothing is relaunched), then to its end (the call relaunches). each runs
// after every relaunch, with the index of the back-off that led to it.
func (h *heldRestore) stepThroughBackoff(clock *backoffClock, delays []time.Duration, each func(i int)) {
	h.t.Helper()
	for i, delay := range delays {
		held := clock.Now()
		o := h.d.heldOutcome(h.id)
		if o == nil {
			h.t.Fatalf("back-off %d (%v): no outcome held", i, delay)
		}
		clock.Set(held.Add(delay - time.Nanosecond))
		h.expect(fmt.Sprintf("1 ns before the back-off of %v ends", delay), codes.Aborted, "next attempt in 1s")
		if h.d.heldOutcome(h.id) != o {
			h.t.Fatalf("relaunched before the back-off of %v ended", delay)
		}
		clock.Set(held.Add(delay))
		each(i)
	}
}

// TestHeldRestoreBacksOffAndRecordsWithoutDsmc: dsmc restores the volume, then the state
// directory is full and the result cannot be recorded. CreateVolume reports that once with
// RESOURCE_EXHAUSTED and ABORTED afterwards; the relaunches come 5 s, 10 s, 20 s ... up to
// 5 min apart and only try to record the result again, never running dsmc a second time; once
// there is space the volume is ready, holding the snapshot, on one loop device.
func TestHeldRestoreBacksOffAndRecordsWithoutDsmc(t *testing.T) {
	clock := useBackoffClock(t) // before the driver: its jobs end before the clock is put back
	f := newFakeTSM()
	loops := newInodeLoops(t)
	d := driverWithLoops(t, shortDir(t), f, loops)
	data := []byte(strings.Repeat("held ", 2000))
	snap := readySnapshot(t, d, "snap-held", data)
	records := fillableRecords(d)
	h := newHeldRestore(t, d, f, snap.SnapshotId, func(_ int32, b []byte) ([]byte, *tsm.Output) {
		records.full.Store(true) // the state directory fills up while dsmc writes
		return b, nil
	})

	h.expect("the call that waited for the restore", codes.ResourceExhausted, "no space left on device")
	for range 3 {
		h.expect("a retry during the back-off", codes.Aborted, "next attempt in 5s")
	}
	h.expectRuns("after the first report", 1)

	delays := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	h.stepThroughBackoff(clock, delays, func(i int) {
		if i == len(delays)-1 {
			records.full.Store(false)
			return
		}
		// Still full: the relaunch fails again, is not news, and waits twice as long.
		h.expect(fmt.Sprintf("relaunch %d", i+1), codes.Aborted, "next attempt in "+delays[i+1].String())
		h.expectRuns(fmt.Sprintf("relaunch %d", i+1), 1)
		if got := records.refused.Load(); got != int32(i+2) {
			t.Fatalf("relaunch %d: %d record writes refused, want %d (one per attempt)", i+1, got, i+2)
		}
	})
	vol, err := h.create()
	if err != nil {
		t.Fatalf("the relaunch with space again: %v", err)
	}
	h.expectRuns("after the volume was recorded", 1)
	h.expectData(vol, data, loops)
	if h.answers[codes.ResourceExhausted] != 1 {
		t.Errorf("RESOURCE_EXHAUSTED answered %d times, want once: %v", h.answers[codes.ResourceExhausted], h.answers)
	}
	if vol, err := h.create(); err != nil || vol.VolumeId != h.id {
		t.Fatalf("CreateVolume of the recorded volume: %v, %v", vol, err)
	}
}

// TestHeldRestoreFailure: dsmc fails and the state directory is full, so that not even the
// failure can be recorded. It is reported once with dsmc's code; the relaunch after the
// back-off runs dsmc again (a failed restore starts over, as when its failure is recorded); a
// result of another kind (restored, still not recordable) is news and reported once too.
func TestHeldRestoreFailure(t *testing.T) {
	clock := useBackoffClock(t) // before the driver: its jobs end before the clock is put back
	f := newFakeTSM()
	loops := newInodeLoops(t)
	d := driverWithLoops(t, shortDir(t), f, loops)
	data := []byte(strings.Repeat("fail then hold ", 700))
	snap := readySnapshot(t, d, "snap-held-fail", data)
	records := fillableRecords(d)
	h := newHeldRestore(t, d, f, snap.SnapshotId, func(n int32, b []byte) ([]byte, *tsm.Output) {
		records.full.Store(true)
		if n <= 2 {
			return nil, &tsm.Output{RC: 12, Stdout: "ANS1017E Session rejected: TCP/IP connection failure.\n"}
		}
		return b, nil
	})

	h.expect("the failed restore", codes.Unavailable, "ANS1017E")
	h.expect("a retry during the back-off", codes.Aborted, "next attempt in 5s")
	if _, err := os.Stat(h.d.backingFile(h.id)); !os.IsNotExist(err) {
		t.Fatalf("the failed restore left its backing file: %v", err)
	}
	h.stepThroughBackoff(clock, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second}, func(i int) {
		switch i {
		case 0:
			h.expect("the relaunch that fails the same way", codes.Aborted, "next attempt in 10s")
			h.expectRuns("after the first relaunch", 2)
		case 1:
			h.expect("the relaunch that restores", codes.ResourceExhausted, "no space left on device")
			h.expectRuns("after the second relaunch", 3)
			records.full.Store(false)
		}
	})
	vol, err := h.create()
	if err != nil {
		t.Fatalf("the relaunch with space again: %v", err)
	}
	h.expectRuns("after the volume was recorded", 3)
	h.expectData(vol, data, loops)
	if h.answers[codes.ResourceExhausted] != 1 || h.answers[codes.Unavailable] != 1 {
		t.Errorf("answers %v; want RESOURCE_EXHAUSTED and UNAVAILABLE once each", h.answers)
	}
}

// TestHeldRestoreAcrossRestart: a held outcome lives in memory only. After a restart the
// record (still restoring) resumes the restore, which runs dsmc once more and must not leave
// the first run's loop device behind: it holds the inode the rename replaced.
func TestHeldRestoreAcrossRestart(t *testing.T) {
	useBackoffClock(t)
	f := newFakeTSM()
	loops := newInodeLoops(t)
	dir := shortDir(t)
	d := driverWithLoops(t, dir, f, loops)
	data := []byte(strings.Repeat("restart ", 1000))
	snap := readySnapshot(t, d, "snap-held-restart", data)
	records := fillableRecords(d)
	h := newHeldRestore(t, d, f, snap.SnapshotId, func(n int32, b []byte) ([]byte, *tsm.Output) {
		records.full.Store(n == 1)
		return b, nil
	})
	h.expect("the unrecordable restore", codes.ResourceExhausted, "no space left on device")
	d.Stop()

	h.d = driverWithLoops(t, dir, f, loops)
	vol, err := h.create()
	if err != nil {
		t.Fatalf("CreateVolume after the restart: %v", err)
	}
	h.expectRuns("after the resumed restore", 2)
	h.expectData(vol, data, loops)
}

// TestHeldRestoreDiesWithItsVolume: an outcome held for a volume that is then deleted is not
// taken for a new restore under the same name, which runs dsmc itself.
func TestHeldRestoreDiesWithItsVolume(t *testing.T) {
	useBackoffClock(t)
	f := newFakeTSM()
	loops := newInodeLoops(t)
	d := driverWithLoops(t, shortDir(t), f, loops)
	data := []byte(strings.Repeat("deleted ", 1000))
	snap := readySnapshot(t, d, "snap-held-delete", data)
	records := fillableRecords(d)
	h := newHeldRestore(t, d, f, snap.SnapshotId, func(n int32, b []byte) ([]byte, *tsm.Output) {
		records.full.Store(n == 1)
		return b, nil
	})
	h.expect("the unrecordable restore", codes.ResourceExhausted, "no space left on device")
	if _, err := d.DeleteVolume(t.Context(), &csi.DeleteVolumeRequest{VolumeId: h.id}); err != nil {
		t.Fatal(err)
	}
	records.full.Store(false)
	vol, err := h.create()
	if err != nil {
		t.Fatalf("CreateVolume after the delete: %v", err)
	}
	h.expectRuns("after the new restore", 2)
	h.expectData(vol, data, loops)
}
