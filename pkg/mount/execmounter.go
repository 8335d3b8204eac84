package mount

import (
	"context"
	"fmt"

	mountutils "k8s.io/mount-utils"
)

// execMounter is the mount-utils Interface the Mounter hands to
// SafeFormatAndMount. It inherits the library's read-only queries
// (IsMountPoint, List, ...) but runs mount(8) and umount(8) itself so each call
// has a deadline and never detours through systemd-run.
type execMounter struct {
	// The zero value of the library's Mounter needs no probing at start-up
	// and its query methods use no configuration.
	*mountutils.Mounter
}

var _ mountutils.Interface = execMounter{}

func newExecMounter() execMounter {
	return execMounter{Mounter: &mountutils.Mounter{}}
}

func (m execMounter) Mount(source, target, fstype string, options []string) error {
	return m.MountSensitiveWithoutSystemdWithMountFlags(source, target, fstype, options, nil, nil)
}

func (m execMounter) MountSensitive(source, target, fstype string, options, sensitiveOptions []string) error {
	return m.MountSensitiveWithoutSystemdWithMountFlags(source, target, fstype, options, sensitiveOptions, nil)
}

func (m execMounter) MountSensitiveWithoutSystemd(source, target, fstype string, options, sensitiveOptions []string) error {
	return m.MountSensitiveWithoutSystemdWithMountFlags(source, target, fstype, options, sensitiveOptions, nil)
}

// MountSensitiveWithoutSystemdWithMountFlags mounts like the library does: a
// bind mount ignores most options, so it is followed by a remount that
// applies them. If that remount fails the bind is undone.
func (m execMounter) MountSensitiveWithoutSystemdWithMountFlags(source, target, fstype string, options, sensitiveOptions, mountFlags []string) error {
	bind, bindOpts, remountOpts, remountSensitive := mountutils.MakeBindOptsSensitive(options, sensitiveOptions)
	if !bind {
		return doMount(source, target, fstype, options, sensitiveOptions, mountFlags)
	}
	if err := doMount(source, target, fstype, bindOpts, nil, mountFlags); err != nil {
		return err
	}
	if len(remountOpts) == 2 && len(remountSensitive) == 0 {
		// Only "bind,remount": nothing to apply.
		return nil
	}
	if err := doMount(source, target, fstype, remountOpts, remountSensitive, mountFlags); err != nil {
		if uerr := umount(target); uerr != nil {
			return fmt.Errorf("%w; undoing bind mount also failed: %w", err, uerr)
		}
		return err
	}
	return nil
}

func (m execMounter) Unmount(target string) error {
	return umount(target)
}

func doMount(source, target, fstype string, options, sensitiveOptions, mountFlags []string) error {
	args, shown := mountutils.MakeMountArgsSensitiveWithMountFlags(source, target, fstype, options, sensitiveOptions, mountFlags)
	_, err := runLogged(context.Background(), shown, "mount", args...)
	return err
}

func umount(target string) error {
	if _, err := run(context.Background(), "umount", target); err != nil {
		return err
	}
	return nil
}
