package csi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// Identifiers.
//
// A volume id is "vol-" plus 20 hex digits of the SHA-256 of the CO's volume name, so a retried
// CreateVolume names the same volume without any lookup table. A snapshot is known locally by its
// key, "s" plus 16 hex digits of the SHA-256 of the snapshot name.
//
// The TSM object of a snapshot is the path that dsmc was given at backup time:
//
//	<dir>/<prefix>-<name hash>-<volume hash>-<size in hex>
//
// (the key and the volume id without their "s" and "vol-" prefixes, to save bytes of the 128),
// where <dir> is the link directory (image mode, a hardlink to a loop device) or <state-dir>/tsm
// (file mode, a hardlink to a regular file). The object name alone therefore says which
// volume the snapshot came from and how large it was, which is what ListSnapshots needs for
// backups that only TSM still knows about.
//
// The CSI snapshot id (the VolumeSnapshotContent's snapshotHandle) is
//
//	tsm1:<i|f>:<owner>:<object>
//
// i = image (dsmc backup image), f = file (dsmc selective); owner is the TSM node the data is
// stored under (the -asnodename in effect at backup time, empty for the client's own node). It
// decodes without any local state, so a node that never saw the snapshot can restore or delete it.

const handleVersion = "tsm1"

var (
	volumeIDPattern = regexp.MustCompile(`^vol-[0-9a-f]{20}$`)
	ownerPattern    = regexp.MustCompile(`^[A-Za-z0-9._+&-]{0,64}$`)
	prefixPattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?$`)
	fileDirPattern  = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)
	objectPattern   = regexp.MustCompile(`^([0-9a-f]{16})-([0-9a-f]{20})-([0-9a-f]{1,16})$`)
)

func volumeIDFor(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "vol-" + hex.EncodeToString(sum[:10])
}

func snapshotKeyFor(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "s" + hex.EncodeToString(sum[:8])
}

// snapshotRef is everything a snapshot id says.
type snapshotRef struct {
	Mode      tsm.Mode
	Owner     string
	Object    string
	Key       string
	VolumeID  string
	SizeBytes int64
}

type handleCodec struct {
	prefix   string
	imageDir string
	fileDir  string
	metaDir  string
}

func newHandleCodec(prefix, imageDir, fileDir, metaDir string) (handleCodec, error) {
	if !prefixPattern.MatchString(prefix) {
		return handleCodec{}, fmt.Errorf("TSM volume prefix %q: want 1-32 lower-case letters, digits, '.' or '-'", prefix)
	}
	for _, d := range []string{imageDir, fileDir} {
		if !path.IsAbs(d) || path.Clean(d) != d || strings.ContainsAny(d, ": \t\n") {
			return handleCodec{}, fmt.Errorf("link directory %q must be a clean absolute path without ':' or blanks", d)
		}
	}
	// The metadata directory names TSM objects that queries and restores match by pattern:
	// plain characters only, so that no dsmc wildcard can hide in it.
	if !fileDirPattern.MatchString(metaDir) || path.Clean(metaDir) != metaDir || metaDir == fileDir || metaDir == imageDir {
		return handleCodec{}, fmt.Errorf("metadata directory %q must be a clean absolute path of letters, digits, '.', '_' and '-', apart from the link directories", metaDir)
	}
	return handleCodec{prefix: prefix, imageDir: imageDir, fileDir: fileDir, metaDir: metaDir}, nil
}

// metaObject is the TSM name of r's metadata object (a file backup under the same owner node):
// <meta-dir>/<object base name>.<i|f>.json. The id alone finds it. The mode is part of the name
// because an image and a file snapshot of one name, volume and size share the base name (a
// retained image backup and a later file-mode snapshot of the same name, say), and each must
// keep its own description.
func (c handleCodec) metaObject(r snapshotRef) string {
	return path.Join(c.metaDir, c.metaKey(r)+".json")
}

func (c handleCodec) metaKey(r snapshotRef) string {
	m := "i"
	if r.Mode == tsm.ModeFile {
		m = "f"
	}
	return path.Base(r.Object) + "." + m
}

// metaKeyOf recognises the file name of a metadata object of this driver's naming and returns
// its key (the name without ".json"); ok is false for anything else, such as the objects of a
// longer prefix that a "<prefix>-*.json" pattern also matches.
func (c handleCodec) metaKeyOf(name string) (key string, ok bool) {
	key, ok = strings.CutSuffix(name, ".json")
	if !ok || len(key) < 2 || key[len(key)-2] != '.' {
		return "", false
	}
	mode := map[byte]tsm.Mode{'i': tsm.ModeImage, 'f': tsm.ModeFile}[key[len(key)-1]]
	if mode == "" {
		return "", false
	}
	if _, err := c.fromObject(mode, "", path.Join(c.dirFor(mode), key[:len(key)-2])); err != nil {
		return "", false
	}
	return key, true
}

// linkName is the base name of the stable link and TSM object: <prefix>-<key>-<vol>-<size>.
func (c handleCodec) linkName(key, volumeID string, size int64) string {
	return c.prefix + "-" + c.objectSuffix(key, volumeID, size)
}

func (c handleCodec) objectSuffix(key, volumeID string, size int64) string {
	return strings.TrimPrefix(key, "s") + "-" + strings.TrimPrefix(volumeID, "vol-") + "-" + strconv.FormatInt(size, 16)
}

func (c handleCodec) dirFor(mode tsm.Mode) string {
	if mode == tsm.ModeFile {
		return c.fileDir
	}
	return c.imageDir
}

// ref builds the reference of a new snapshot.
func (c handleCodec) ref(mode tsm.Mode, owner, key, volumeID string, size int64) snapshotRef {
	return snapshotRef{
		Mode: mode, Owner: owner, Key: key, VolumeID: volumeID, SizeBytes: size,
		Object: path.Join(c.dirFor(mode), c.linkName(key, volumeID, size)),
	}
}

func (c handleCodec) encode(r snapshotRef) (string, error) {
	id, err := c.encodeChecked(r)
	if err != nil {
		return "", err
	}
	if _, err := c.decode(id); err != nil {
		return "", fmt.Errorf("snapshot id %q does not decode: %w", id, err)
	}
	return id, nil
}

// encodeChecked is encode for a reference that decode or fromObject made, with an owner that
// decode accepts (the driver's own asnodename, checked at start): only the length is left to
// check. Listing thousands of backups would otherwise parse every object name twice.
func (c handleCodec) encodeChecked(r snapshotRef) (string, error) {
	m := "i"
	if r.Mode == tsm.ModeFile {
		m = "f"
	}
	id := handleVersion + ":" + m + ":" + r.Owner + ":" + r.Object
	if len(id) > 128 {
		return "", fmt.Errorf("snapshot id %d bytes long, the CSI limit is 128: shorten --tsm-volume-prefix, the link directory or --tsm-asnodename", len(id))
	}
	return id, nil
}

// decode parses a snapshot id and rejects every id that does not name an object of this
// driver's namespace; nothing that fails here is ever passed to dsmc.
func (c handleCodec) decode(id string) (snapshotRef, error) {
	if len(id) > 128 {
		return snapshotRef{}, fmt.Errorf("snapshot id longer than 128 bytes")
	}
	parts := strings.SplitN(id, ":", 4)
	if len(parts) != 4 || parts[0] != handleVersion {
		return snapshotRef{}, fmt.Errorf("not a %s snapshot id", handleVersion)
	}
	var mode tsm.Mode
	switch parts[1] {
	case "i":
		mode = tsm.ModeImage
	case "f":
		mode = tsm.ModeFile
	default:
		return snapshotRef{}, fmt.Errorf("unknown snapshot mode %q", parts[1])
	}
	if !ownerPattern.MatchString(parts[2]) {
		return snapshotRef{}, fmt.Errorf("invalid TSM node name in snapshot id")
	}
	return c.fromObject(mode, parts[2], parts[3])
}

// fromObject recognises a TSM object name as one of this driver's snapshots.
func (c handleCodec) fromObject(mode tsm.Mode, owner, object string) (snapshotRef, error) {
	dir, base := path.Split(object)
	if !path.IsAbs(object) || path.Clean(object) != object || strings.ContainsAny(object, ": \t\n") {
		return snapshotRef{}, fmt.Errorf("object %q is not a clean absolute path", object)
	}
	// Image objects are always in the link directory. File-mode objects live in <state-dir>/tsm
	// of the node that took them, and state directories may differ between nodes; such a
	// directory must still look like one: plain characters only (no dsmc wildcard can reach a
	// query or a delete) and ending in /tsm.
	switch {
	case mode == tsm.ModeImage && path.Clean(dir) != c.imageDir:
		return snapshotRef{}, fmt.Errorf("object %q is outside %s", object, c.imageDir)
	case mode == tsm.ModeFile && (!fileDirPattern.MatchString(path.Clean(dir)) || path.Base(dir) != path.Base(c.fileDir)):
		return snapshotRef{}, fmt.Errorf("object %q is not in a driver's file directory (<state-dir>/%s)", object, path.Base(c.fileDir))
	}
	rest, ok := strings.CutPrefix(base, c.prefix+"-")
	if !ok {
		return snapshotRef{}, fmt.Errorf("object %q does not carry the prefix %q", object, c.prefix)
	}
	m := objectPattern.FindStringSubmatch(rest)
	if m == nil {
		return snapshotRef{}, fmt.Errorf("object %q is not a snapshot of this driver", object)
	}
	size, err := strconv.ParseInt(m[3], 16, 64)
	if err != nil || size <= 0 || strconv.FormatInt(size, 16) != m[3] {
		return snapshotRef{}, fmt.Errorf("object %q has an invalid size", object)
	}
	return snapshotRef{Mode: mode, Owner: owner, Object: object, Key: "s" + m[1], VolumeID: "vol-" + m[2], SizeBytes: size}, nil
}
