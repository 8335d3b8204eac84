package tsm

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An xfs volume keeps its primary superblock in sector 0. Restored onto a
// device it is lost (IBM: the client skips the first sector there); restored
// with -imagetofile the file system is intact.
func TestSimXFSRoundTrip(t *testing.T) {
	requireRoot(t)
	for _, tool := range []string{"mkfs.xfs", "xfs_repair", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing", tool)
		}
	}
	const size = 320 << 20 // mkfs.xfs wants at least 300 MB
	src := loopDevice(t, size, nil)
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", src).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v %s", err, out)
	}
	alias := devAlias(t, src)
	srv := newSimServer(t)
	c := srv.client("TSMTEST-NODE1")
	ctx := simContext(t)
	if _, err := c.BackupImage(ctx, alias); err != nil {
		t.Fatal(err)
	}

	fsType := func(path string) string {
		out, _ := exec.Command("blkid", "-p", "-o", "value", "-s", "TYPE", path).Output()
		return strings.TrimSpace(string(out))
	}
	dev := loopDevice(t, size, nil)
	if _, err := c.RestoreImage(ctx, alias, dev); err != nil {
		t.Fatal(err)
	}
	if got := fsType(dev); got == "xfs" {
		t.Errorf("restored onto a device, the xfs superblock in sector 0 survived; the simulator does not skip it")
	}

	file := filepath.Join(t.TempDir(), "restored.img")
	if _, err := c.RestoreImageToFile(ctx, alias, file); err != nil {
		t.Fatal(err)
	}
	if got := fsType(file); got != "xfs" {
		t.Fatalf("restored to a file: file system %q, want xfs", got)
	}
	if out, err := exec.Command("xfs_repair", "-n", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("xfs_repair -n on the restored file: %v\n%s", err, out)
	}
	noSimLeft(t)
}
