package csi

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
)

// snapshotPhase is where a snapshot stands.
type snapshotPhase string

const (
	snapCutting   snapshotPhase = "cutting"   // the point-in-time image is being made; nothing was answered yet
	snapUploading snapshotPhase = "uploading" // the cut is held until TSM has it; creation_time has been answered
	snapReady     snapshotPhase = "ready"     // TSM holds the cut, verified; the cut is released
	snapLost      snapshotPhase = "failed"    // the cut is gone before TSM had it: this snapshot can never be completed
)

// snapshotBook is the one writer of snapshot records. Every change goes through move (or
// create/remove), under one lock, and must be a transition of this table:
//
//	from       to         who, when
//	(none)     cutting    CreateSnapshot, before it freezes and cuts
//	cutting    uploading  CreateSnapshot, once the cut exists (creation_time is answered from here on)
//	cutting    (none)     CreateSnapshot after a failed cut; recovery after a crash during a cut
//	uploading  uploading  the upload job after a failed run (error kept, cut kept);
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
type snapshotBook struct {
	mu  sync.Mutex
	dir *state.Dir
}

var snapshotMoves = map[snapshotPhase][]snapshotPhase{
	snapCutting:   {snapUploading},
	snapUploading: {snapUploading, snapReady, snapLost},
}

// errStaleRecord says that a record is not in the phase (or not the snapshot) a writer expected:
// someone else moved it first, and the writer's outcome no longer applies.
var errStaleRecord = errors.New("snapshot record changed meanwhile")

func allowedMove(from, to snapshotPhase) bool {
	for _, p := range snapshotMoves[from] {
		if p == to {
			return true
		}
	}
	return false
}

func (b *snapshotBook) get(key string) (*snapshotRecord, error) {
	var s snapshotRecord
	if err := b.dir.Get(key, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (b *snapshotBook) keys() ([]string, error) { return b.dir.Keys() }

// create records a new snapshot in phase cutting; an existing record is an error.
func (b *snapshotBook) create(s *snapshotRecord) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.get(s.Key); err == nil {
		return fmt.Errorf("snapshot %s: %w", s.Key, errStaleRecord)
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	s.Phase = snapCutting
	return b.dir.Put(s.Key, s)
}

// update runs fn on the current record of key under the book's lock. fn returns the phase to
// move to ("" for no change); the move must be in the table. fn may start jobs: they see the
// record only after update returns. The record as written (or as found) is returned.
func (b *snapshotBook) update(key, id string, fn func(s *snapshotRecord) (snapshotPhase, error)) (*snapshotRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.get(key)
	if err != nil {
		return nil, err
	}
	if id != "" && s.ID != id {
		return nil, fmt.Errorf("snapshot %s: %w", id, errStaleRecord)
	}
	from := s.Phase
	to, err := fn(s)
	if to == "" {
		return s, err
	}
	if !allowedMove(from, to) {
		return nil, fmt.Errorf("snapshot %s: no move from %s to %s: %w", s.ID, from, to, errStaleRecord)
	}
	s.Phase = to
	if perr := b.dir.Put(key, s); perr != nil {
		return nil, perr
	}
	return s, err
}

// move changes the record of snapshot id from phase from to phase to, applying change.
func (b *snapshotBook) move(key, id string, from, to snapshotPhase, change func(*snapshotRecord)) (*snapshotRecord, error) {
	return b.update(key, id, func(s *snapshotRecord) (snapshotPhase, error) {
		if s.Phase != from {
			return "", fmt.Errorf("snapshot %s is %s, not %s: %w", id, s.Phase, from, errStaleRecord)
		}
		if change != nil {
			change(s)
		}
		return to, nil
	})
}

// remove deletes the record of key (only if it is snapshot id, when id is given).
func (b *snapshotBook) remove(key, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id != "" {
		s, err := b.get(key)
		if errors.Is(err, state.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if s.ID != id {
			return nil
		}
	}
	return b.dir.Delete(key)
}
