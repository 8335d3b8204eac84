package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// TestPasswordFile runs the driver against a TSM node that asks for its password
// (PASSWORDACCESS PROMPT): the password from --tsm-password-file reaches dsmc on its stdin, the
// snapshot round trip works, a wrong password fails with FAILED_PRECONDITION, and the password is
// in no log line, no error and no command line.
func TestPasswordFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const password = "pw-Zq81-never-logged"
	srv := newServer(t, "NODE-P")
	if err := bins.Admin(srv.dir, "update", "node", "NODE-P", "password="+password, "passwordaccess=prompt"); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, srv, "node-p", "NODE-P", nodeOptions{args: []string{"--tsm-password-file=" + pwFile}})
	vol, data := blockVolume(t, a, "vol-password", 8<<20)
	snap := a.snapshotReady("snap-password", vol.VolumeId, nil)
	a.deleteSnapshotAtEnd(snap.SnapshotId)
	restoreAndCompare(t, a, "restored-password", snap.SnapshotId, 8<<20, data)

	const wrong = "xK9-bad-secret"
	if err := os.WriteFile(pwFile, []byte(wrong+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	first, err := a.createSnapshot("snap-bad-login", vol.VolumeId, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.deleteSnapshotAtEnd(first.SnapshotId)
	// Cleanups run last-in first-out: the right password is back before the deletes.
	t.Cleanup(func() { _ = os.WriteFile(pwFile, []byte(password+"\n"), 0o400) })
	var failure error
	eventually(t, "the authentication failure is reported", time.Minute, func() (bool, error) {
		_, err := a.createSnapshot("snap-bad-login", vol.VolumeId, nil)
		failure = err
		return err != nil, nil
	})
	if codeOf(failure) != codes.FailedPrecondition {
		t.Fatalf("wrong password reported as %v, want FailedPrecondition", failure)
	}
	if strings.Contains(failure.Error(), wrong) {
		t.Fatalf("the error carries the password: %v", failure)
	}

	log, err := os.ReadFile(a.d.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{password, wrong} {
		if strings.Contains(string(log), secret) {
			t.Fatalf("the driver log contains the password %q", secret)
		}
	}
	if len(processesWith(password)) != 0 {
		t.Fatal("a process carries the password on its command line")
	}
}
