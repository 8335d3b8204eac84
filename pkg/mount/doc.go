// Package mount is the only part of tsm-csi-sidecar that talks to the Linux
// kernel about storage. It holds:
//
//   - backing files of volumes: sparse creation, growth, reflink clones and
//     hole-preserving copies (files.go, reflink.go, sparsecopy.go);
//   - loop devices: attach, find, detach, capacity refresh and block device
//     queries (loop.go, blockdev.go);
//   - stable hardlinks <dir>/<prefix>-<id> that pin a volume to its device node
//     or backing file across restarts (links.go);
//   - filesystems and mounts on top of k8s.io/mount-utils: safe format and
//     mount, bind mounts, unmount, online resize (mounter.go, execmounter.go,
//     mountinfo.go, paths.go);
//   - paths from requests resolved without following symlinks, what is
//     mounted where by device number, and mount flag validation (safepath.go,
//     flags.go);
//   - filesystem freeze/thaw for crash-consistent snapshot cuts, bounded in
//     time, and the thaw of a freeze a dead process left (freeze.go,
//     freezedo.go);
//   - statfs based usage statistics (stats.go).
//
// Every external command runs under a context with a deadline (exec.go), so
// a hung tool can never wedge a CSI call forever. Functions that create
// several things undo what they made when a later step fails.
//
// The package is Linux only and expects to run as root.
package mount
