package csi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Group snapshot identifiers.
//
// A group snapshot is known locally by its key, "g" plus 16 hex digits of the SHA-256 of the
// CO's group name. Its members are ordinary snapshots (ids as in handle.go) whose keys derive
// from the group key and the member's volume id: snapshotKeyFor(<group key> NUL <volume id>).
// No CSI name may contain NUL, so no CreateSnapshot can ever name a member's key.
//
// The group id is
//
//	tsmg1:<the group key's 16 hex digits>:<number of members>:<creation time, Unix ns in hex>
//
// It decodes without any local state. With the member ids that the CO passes to
// GetVolumeGroupSnapshot and DeleteVolumeGroupSnapshot, any node can check that those ids are
// exactly the group's members (as many as the id says, each with the key derived from the
// group key and its own volume id) and answer the group's one creation time; the members'
// backups are found in TSM from their ids as for any snapshot.

const groupHandleVersion = "tsmg1"

var groupIDPattern = regexp.MustCompile(`^` + groupHandleVersion + `:([0-9a-f]{16}):([1-9][0-9]{0,5}):([1-9a-f][0-9a-f]{0,15})$`)

// groupRef is everything a group id says.
type groupRef struct {
	Key       string
	Members   int
	CreatedAt time.Time
}

func groupKeyFor(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "g" + hex.EncodeToString(sum[:8])
}

func memberKeyFor(groupKey, volumeID string) string {
	return snapshotKeyFor(groupKey + "\x00" + volumeID)
}

func encodeGroupID(r groupRef) string {
	return fmt.Sprintf("%s:%s:%d:%x", groupHandleVersion, strings.TrimPrefix(r.Key, "g"), r.Members, r.CreatedAt.UnixNano())
}

func decodeGroupID(id string) (groupRef, error) {
	m := groupIDPattern.FindStringSubmatch(id)
	if m == nil {
		return groupRef{}, fmt.Errorf("not a %s group snapshot id", groupHandleVersion)
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return groupRef{}, fmt.Errorf("group snapshot id: member count: %w", err)
	}
	ns, err := strconv.ParseInt(m[3], 16, 64)
	if err != nil {
		return groupRef{}, fmt.Errorf("group snapshot id: creation time: %w", err)
	}
	return groupRef{Key: "g" + m[1], Members: n, CreatedAt: time.Unix(0, ns).UTC()}, nil
}

// checkMembers checks that ids are exactly the member snapshots of group r: as many as it has,
// each one this driver's and derived from the group key and its own volume id, no volume twice.
func (c handleCodec) checkMembers(r groupRef, ids []string) error {
	if len(ids) != r.Members {
		return errInvalid("the group snapshot has %d member snapshots, the request names %d", r.Members, len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		ref, err := c.decode(id)
		if err != nil {
			return errInvalid("snapshot %q is not a member of the group snapshot: %v", id, err)
		}
		if ref.Key != memberKeyFor(r.Key, ref.VolumeID) {
			return errInvalid("snapshot %q is not a member of the group snapshot", id)
		}
		if seen[ref.VolumeID] {
			return errInvalid("the request names two member snapshots of volume %s", ref.VolumeID)
		}
		seen[ref.VolumeID] = true
	}
	return nil
}
