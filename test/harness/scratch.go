package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ScratchFS makes a file system of the given type on a sparse file in dir, mounts it at
// dir/mnt and returns the mount point and a function that undoes everything. Tests use an xfs
// scratch file system as a state directory that supports reflink.
func ScratchFS(dir, fsType string, size int64) (string, func() error, error) {
	img := filepath.Join(dir, "scratch-"+fsType+".img")
	mnt := filepath.Join(dir, "mnt-"+fsType)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(name string, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	f, err := os.Create(img)
	if err != nil {
		return "", nil, err
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return "", nil, err
	}
	_ = f.Close()
	dev, err := run("losetup", "--find", "--show", img)
	if err != nil {
		_ = os.Remove(img)
		return "", nil, err
	}
	undo := func() error {
		var errs []string
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil && !strings.Contains(string(out), "not mounted") && !strings.Contains(string(out), "no mount point") {
			errs = append(errs, fmt.Sprintf("umount: %v %s", err, out))
		}
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("losetup -d: %v %s", err, out))
		}
		_ = os.Remove(img)
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	}
	mkfs := []string{"-q"}
	if fsType == "ext4" {
		mkfs = []string{"-q", "-F"}
	}
	if _, err := run("mkfs."+fsType, append(mkfs, dev)...); err != nil {
		_ = undo()
		return "", nil, err
	}
	if err := os.MkdirAll(mnt, 0o750); err != nil {
		_ = undo()
		return "", nil, err
	}
	if _, err := run("mount", dev, mnt); err != nil {
		_ = undo()
		return "", nil, err
	}
	return mnt, undo, nil
}
