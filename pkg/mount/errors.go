package mount

import "errors"

var (
	// ErrReflinkUnsupported means the filesystem holding the files cannot share
	// extents (FICLONE); callers fall back to SparseCopy.
	ErrReflinkUnsupported = errors.New("reflink not supported by the filesystem")

	// ErrLinkConflict means the link name is already taken by another file.
	ErrLinkConflict = errors.New("link name already used by another file")

	// ErrInvalidName means a link name, prefix or id failed validation.
	ErrInvalidName = errors.New("invalid name")

	// ErrShrink means a requested size is smaller than the current one; volumes
	// never shrink.
	ErrShrink = errors.New("shrinking is not supported")

	// ErrNotLoopDevice means a path is not a loop block device.
	ErrNotLoopDevice = errors.New("not a loop device")

	// ErrNotAttached means a loop device has no backing file.
	ErrNotAttached = errors.New("loop device not attached")

	// ErrDeviceBusy means a device is still open (mounted or in use), so it
	// could not be released.
	ErrDeviceBusy = errors.New("device is busy")

	// ErrMountConflict means the target is already a mount point of something
	// other than what was asked for.
	ErrMountConflict = errors.New("target already mounted from a different source")

	// ErrNotMountPoint means an operation that acts on a whole filesystem was
	// given a path that is not a mount point; acting on it would hit the
	// filesystem containing the path instead.
	ErrNotMountPoint = errors.New("not a mount point")

	// ErrUnsupportedFS means the filesystem type is not one this driver formats.
	ErrUnsupportedFS = errors.New("unsupported filesystem type")
)
