package csi

import (
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// groupPhase is where a group snapshot stands.
type groupPhase string

const (
	groupCutting groupPhase = "cutting" // members recorded, file systems being frozen and cut; nothing was answered yet
	groupCut     groupPhase = "cut"     // every member is cut and an ordinary snapshot; the group id has been answered
)

// groupBook is the one writer of group snapshot records. Every change goes through update (or
// create/remove), under one lock, and must be a move of this table:
//
//	from     to       who, when
//	(none)   cutting  CreateVolumeGroupSnapshot, before it records the members and freezes
//	cutting  cut      CreateVolumeGroupSnapshot, once every member is cut and recorded uploading
//	                  (the group id and creation_time are answered from here on)
//	cutting  (none)   CreateVolumeGroupSnapshot after a failed cut, once every member is removed;
//	                  recovery after a crash during the cut, likewise
//	cut      (none)   DeleteVolumeGroupSnapshot, once every member is deleted
//
// A group has no upload state of its own: each member is an ordinary snapshot in the snapshot
// book (uploading, ready or failed), and the group is ready when all its members are. Members
// are moved to uploading before the group moves to cut, so that a crash in between leaves a
// "cutting" group, which recovery removes with all its members, before it resumes any upload.
type groupBook = book[groupRecord, groupPhase]

func newGroupBook(dir *state.Dir) *groupBook {
	return &groupBook{
		dir: dir, what: "group snapshot",
		moves: map[groupPhase][]groupPhase{
			groupCutting: {groupCut},
		},
		phase: func(g *groupRecord) *groupPhase { return &g.Phase },
		id:    func(g *groupRecord) string { return g.ID },
	}
}

// groupRecord is a group snapshot on the node that took it. Its id is only known once the cut
// is made (the id carries the creation time): a "cutting" record has none.
type groupRecord struct {
	Key       string        `json:"key"`
	Name      string        `json:"name"`
	ID        string        `json:"id,omitempty"` // set with the move to cut
	Mode      tsm.Mode      `json:"mode"`
	Members   []groupMember `json:"members"` // sorted by volume id
	CreatedAt time.Time     `json:"createdAt,omitzero"`
	Phase     groupPhase    `json:"phase"`
}

// groupMember is one member snapshot: an ordinary snapshot record under Key.
type groupMember struct {
	VolumeID   string `json:"volumeID"`
	Key        string `json:"key"`
	SnapshotID string `json:"snapshotID"`
}

func (g *groupRecord) volumeIDs() []string {
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.VolumeID
	}
	return ids
}

func (g *groupRecord) snapshotIDs() []string {
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.SnapshotID
	}
	return ids
}
