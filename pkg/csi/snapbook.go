package csi

import "github.com/tsm-csi/tsm-csi-sidecar/pkg/state"

// snapshotPhase is where a snapshot stands.
type snapshotPhase string

const (
	snapCutting   snapshotPhase = "cutting"   // the point-in-time image is being made; nothing was answered yet
	snapUploading snapshotPhase = "uploading" // the cut is held until TSM has it; creation_time has been answered
	snapReady     snapshotPhase = "ready"     // TSM holds the cut, verified; the cut is released
	snapLost      snapshotPhase = "failed"    // the cut is gone before TSM had it: this snapshot can never be completed
)

// snapshotBook is the one writer of snapshot records. Every change goes through update (or
// create/remove), under one lock, and must be a move of this table:
//
//	from       to         who, when
//	(none)     cutting    CreateSnapshot, before it freezes and cuts
//	cutting    uploading  CreateSnapshot, once the cut exists (creation_time is answered from here on)
//	cutting    (none)     CreateSnapshot after a failed cut; recovery after a crash during a cut
//	uploading  uploading  the upload job after a failed run (error kept, cut kept), and when TSM
//	                      holds the data but not yet its metadata object (DataStored, set or
//	                      cleared again when TSM has lost the data);
//	                      CreateSnapshot reporting that error once, or starting the next run of the same cut
//	uploading  ready      the upload job, after TSM holds one verified version of the cut
//	uploading  failed     the upload job or recovery, when the cut is gone (a new cut would be a later time)
//	any        (none)     DeleteSnapshot
//
// A point in time, once answered, never moves: no transition leads from uploading back to
// cutting, so a retry can only ever upload the cut that was answered. A retry decides to start
// another run of an uploading snapshot under the same lock as the job's final move, so it can
// never act on a stale "uploading" after the job recorded "ready". (The first run starts right
// after cutting → uploading is recorded, while the in-flight guard keeps every other call out.)
type snapshotBook = book[snapshotRecord, snapshotPhase]

func newSnapshotBook(dir *state.Dir) *snapshotBook {
	return &snapshotBook{
		dir: dir, what: "snapshot",
		moves: map[snapshotPhase][]snapshotPhase{
			snapCutting:   {snapUploading},
			snapUploading: {snapUploading, snapReady, snapLost},
		},
		phase: func(s *snapshotRecord) *snapshotPhase { return &s.Phase },
		id:    func(s *snapshotRecord) string { return s.ID },
	}
}
