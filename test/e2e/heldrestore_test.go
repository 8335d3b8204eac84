package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
)

// loggingDsmc is a dsmc that writes each command line (never a password: that goes through
// stdin) to a log before it runs the simulator; restores counts the restores of one object.
type loggingDsmc struct{ path, log string }

func newLoggingDsmc(t *testing.T) loggingDsmc {
	t.Helper()
	dir := t.TempDir()
	d := loggingDsmc{path: filepath.Join(dir, "dsmc"), log: filepath.Join(dir, "dsmc.log")}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> '%s'\nexec '%s' \"$@\"\n", d.log, bins.Dsmc)
	if err := os.WriteFile(d.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d loggingDsmc) restores(t *testing.T, object string) int {
	t.Helper()
	b, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "restore ") && slices.Contains(strings.Fields(l), object) {
			n++
		}
	}
	return n
}

// fillUp writes into dir until its file system has no space left and returns the file.
func fillUp(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := bytes.Repeat([]byte{0xa5}, 64<<10)
	for {
		if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
			return p
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoreIntoAFullStateDirectory: dsmc restores a volume, and meanwhile the state
// directory's volume records fill up (a tmpfs of their own here, so that the test can fill
// exactly them), so the result cannot be recorded. CreateVolume reports it once with
// RESOURCE_EXHAUSTED and answers ABORTED after that, without running dsmc again (before, every
// retry relaunched the restore: 271 runs in 3 minutes); once there is space the relaunch after
// the back-off records the volume, which holds the snapshot, with one dsmc restore in all.
func TestRestoreIntoAFullStateDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := newServer(t, "NODE-A")
	dsmc := newLoggingDsmc(t)
	n := startNode(t, srv, "node-full", "NODE-A", nodeOptions{args: []string{"--dsmc=" + dsmc.path}})
	records := filepath.Join(n.d.StateDir, "records", "volumes")
	if err := unix.Mount("tmpfs", records, "tmpfs", 0, "size=1m,mode=0750"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the cleanups registered later, which delete what they know
		// A failure before the restored volume was recorded leaves it unknown to the test.
		names, _ := filepath.Glob(filepath.Join(records, "*.json"))
		for _, name := range names {
			id := strings.TrimSuffix(filepath.Base(name), ".json")
			if _, err := n.d.Controller().DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
				t.Errorf("DeleteVolume %s: %v", id, err)
			}
		}
		if err := unix.Unmount(records, 0); err != nil {
			t.Errorf("unmount %s: %v", records, err)
		}
	})
	const size = 8 << 20
	vol, data := blockVolume(t, n, "vol-full-src", size)
	snap := n.snapshotReady("snap-full", vol.VolumeId, nil)
	n.deleteSnapshotAtEnd(snap.SnapshotId)

	srv.fault(t, "slow,cmd=restore,rate=2M")
	req := &csi.CreateVolumeRequest{
		Name: "restored-full", CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{capability(true, "")},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}},
	}
	answers := map[codes.Code]int{}
	create := func(timeout time.Duration) (*csi.Volume, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		resp, err := n.d.Controller().CreateVolume(ctx, req)
		answers[codeOf(err)]++
		if err != nil {
			return nil, err
		}
		return resp.Volume, nil
	}
	if _, err := create(2 * time.Second); codeOf(err) != codes.Aborted {
		t.Fatalf("CreateVolume while dsmc restores: %v, want ABORTED", err)
	}
	object := objectOf(snap.SnapshotId)
	eventually(t, "dsmc restores", time.Minute, func() (bool, error) { return len(processesWith(object)) > 0, nil })
	filler := fillUp(t, records)
	srv.clearFaults(t)

	// The provisioner's retries: the first that sees the end of the job hears of the full disk.
	var err error
	eventually(t, "the restore ends", 2*time.Minute, func() (bool, error) {
		_, err = create(10 * time.Second)
		return codeOf(err) != codes.Aborted, nil
	})
	if codeOf(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("CreateVolume after the restore: %v, want RESOURCE_EXHAUSTED for the full disk", err)
	}
	for range 3 {
		if _, err := create(10 * time.Second); codeOf(err) != codes.Aborted || !strings.Contains(err.Error(), "next attempt in") {
			t.Fatalf("CreateVolume during the back-off: %v, want ABORTED until the next attempt", err)
		}
	}
	if got := dsmc.restores(t, object); got != 1 {
		t.Fatalf("dsmc restored %d times, want 1", got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var restored *csi.Volume
	eventually(t, "the volume is recorded after the back-off", time.Minute, func() (bool, error) {
		v, err := create(10 * time.Second)
		if codeOf(err) == codes.Aborted {
			return false, nil
		}
		restored = v
		return true, err
	})
	n.deleteVolumeAtEnd(restored.VolumeId)
	if got := dsmc.restores(t, object); got != 1 {
		t.Errorf("dsmc restored %d times, want 1: recording a restored volume needs no second restore", got)
	}
	if answers[codes.ResourceExhausted] != 1 {
		t.Errorf("answers by code %v, want RESOURCE_EXHAUSTED once", answers)
	}
	got := readAt(t, n.publish(restored.VolumeId, capability(true, "")), len(data), 0)
	if !bytes.Equal(got, data) {
		t.Fatal("the volume recorded after the back-off differs from the snapshot")
	}
}
