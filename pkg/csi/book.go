package csi

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
)

// book is the one writer of one kind of job record: every change goes through update (or
// create/remove), under one lock, and must be a move its table allows. The tables, and who
// makes each move, are in the doc comments of snapshotBook and volumeBook.
type book[R any, P ~string] struct {
	mu    sync.Mutex
	dir   recordStore
	what  string
	moves map[P][]P
	phase func(*R) *P
	id    func(*R) string
}

// recordStore is where a book keeps its records: a state.Dir, or in unit tests one in front of
// it that fails as a full disk does.
type recordStore interface {
	Get(key string, v any) error
	Put(key string, v any) error
	Delete(key string) error
	Keys() ([]string, error)
}

// errStaleRecord says that a record is not in the phase (or not the record) a writer expected:
// someone else moved it first, and the writer's outcome no longer applies.
var errStaleRecord = errors.New("record changed meanwhile")

func (b *book[R, P]) get(key string) (*R, error) {
	var r R
	if err := b.dir.Get(key, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (b *book[R, P]) keys() ([]string, error) { return b.dir.Keys() }

// create records r under key in phase first; an existing record is an error.
func (b *book[R, P]) create(key string, r *R, first P) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.get(key); err == nil {
		return fmt.Errorf("%s %s exists: %w", b.what, key, errStaleRecord)
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	*b.phase(r) = first
	return b.dir.Put(key, r)
}

// update runs fn on the current record of key under the book's lock. fn returns the phase to
// move to ("" for no change); the move must be in the table. fn may start jobs: they see the
// record only after update returns. The record as written (or as found) is returned.
func (b *book[R, P]) update(key, id string, fn func(r *R) (P, error)) (*R, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.get(key)
	if err != nil {
		return nil, err
	}
	if id != "" && b.id(r) != id {
		return nil, fmt.Errorf("%s %s: %w", b.what, id, errStaleRecord)
	}
	from := *b.phase(r)
	to, err := fn(r)
	if to == "" {
		return r, err
	}
	if !slices.Contains(b.moves[from], to) {
		return nil, fmt.Errorf("%s %s: no move from %s to %s: %w", b.what, b.id(r), from, to, errStaleRecord)
	}
	*b.phase(r) = to
	if perr := b.dir.Put(key, r); perr != nil {
		return nil, perr
	}
	return r, err
}

// move changes the record of key from phase from to phase to, applying change.
func (b *book[R, P]) move(key, id string, from, to P, change func(*R)) (*R, error) {
	return b.update(key, id, func(r *R) (P, error) {
		if cur := *b.phase(r); cur != from {
			return "", fmt.Errorf("%s %s is %s, not %s: %w", b.what, key, cur, from, errStaleRecord)
		}
		if change != nil {
			change(r)
		}
		return to, nil
	})
}

// remove deletes the record of key (only if it is record id, when id is given).
func (b *book[R, P]) remove(key, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id != "" {
		r, err := b.get(key)
		if errors.Is(err, state.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if b.id(r) != id {
			return nil
		}
	}
	return b.dir.Delete(key)
}
