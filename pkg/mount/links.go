package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// labelRE admits DNS-label-like words: lower-case alphanumerics, dots and
// dashes, starting and ending alphanumeric, at most 64 bytes. That excludes
// separators, NUL, leading dots and anything a shell or path would treat
// specially.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$`)

// maxLinkName keeps link names comfortably inside NAME_MAX on every
// filesystem and inside the 128 byte CSI handle budget when embedded.
const maxLinkName = 100

// LinkName builds the link name prefix-id after validating both parts, so a
// hostile or malformed id can never name a path outside the link directory.
func LinkName(prefix, id string) (string, error) {
	for _, part := range []struct{ what, v string }{{"prefix", prefix}, {"id", id}} {
		if !labelRE.MatchString(part.v) || strings.Contains(part.v, "..") {
			return "", fmt.Errorf("link %s %q: %w", part.what, part.v, ErrInvalidName)
		}
	}
	name := prefix + "-" + id
	if len(name) > maxLinkName {
		return "", fmt.Errorf("link name %q longer than %d bytes: %w", name, maxLinkName, ErrInvalidName)
	}
	return name, nil
}

// validLinkEntry rejects names that are not a single directory entry.
func validLinkEntry(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 ||
		strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("link name %q: %w", name, ErrInvalidName)
	}
	return nil
}

// linkPath joins dir and name and proves the result is a direct child of the
// resolved dir.
func linkPath(dir, name string) (string, error) {
	if err := validLinkEntry(name); err != nil {
		return "", err
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("link dir: %w", err)
	}
	p := filepath.Join(resolved, name)
	if filepath.Dir(p) != filepath.Clean(resolved) || filepath.Base(p) != name {
		return "", fmt.Errorf("link %q escapes %s: %w", name, dir, ErrInvalidName)
	}
	return p, nil
}

// CreateLink makes dir/name a hardlink of target (a device node or regular
// file on the same filesystem as dir) and returns its full path. It is
// idempotent when dir/name already is that inode; any other existing file
// yields ErrLinkConflict. The returned path has symlinks in dir resolved.
// A hardlink, unlike a symlink, keeps pointing at the
// same inode whatever happens to target's name.
func CreateLink(dir, name, target string) (string, error) {
	p, err := linkPath(dir, name)
	if err != nil {
		return "", fmt.Errorf("create link: %w", err)
	}
	// link(2) does not follow a symlink target; link what it points at.
	realTarget, err := filepath.EvalSymlinks(target)
	if err != nil {
		return "", fmt.Errorf("create link: target: %w", err)
	}
	tst, err := os.Stat(realTarget)
	if err != nil {
		return "", fmt.Errorf("create link: target: %w", err)
	}
	if tst.IsDir() {
		return "", fmt.Errorf("create link: target %s is a directory", target)
	}
	err = os.Link(realTarget, p)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create link: %w", err)
	}
	est, serr := os.Lstat(p)
	if serr != nil {
		return "", fmt.Errorf("create link: %w", serr)
	}
	if os.SameFile(est, tst) {
		return p, nil
	}
	return "", fmt.Errorf("create link %s: %w", p, ErrLinkConflict)
}

// RemoveLink removes dir/name; a missing link is not an error. It never
// removes directories.
func RemoveLink(dir, name string) error {
	p, err := linkPath(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove link: %w", err)
	}
	if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove link %s: %w", p, err)
	}
	return nil
}

// ListLinks returns the sorted names in dir that start with prefix + "-".
// A missing dir has no links.
func ListLinks(dir, prefix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), prefix+"-") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// LinkTarget says what the link at path stands for: for a block device node
// the canonical /dev/<name> node with the same device number; for a regular
// file "" (compare files with os.SameFile).
func LinkTarget(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("link target: %w", err)
	}
	switch {
	case st.Mode().IsRegular():
		return "", nil
	case isBlockMode(st.Mode()):
		dev, err := canonicalDevice(path)
		if err != nil {
			return "", fmt.Errorf("link target: %w", err)
		}
		return dev, nil
	default:
		return "", fmt.Errorf("link target %s: neither a block device nor a regular file (%s)", path, st.Mode().Type())
	}
}
