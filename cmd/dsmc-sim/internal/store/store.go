package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	lockName = "lock"
	// accessDir holds each node's last access time in a file of its own, so that logging in
	// writes nothing that other sessions read: sessions of one server run side by side, as
	// they do on a real server, instead of queueing for the state lock.
	accessDir  = "access"
	accessLock = "access.lock"
	stateName  = "state.json"
	dataDir    = "data"
	tmpDir     = "tmp"
	// FaultFile is the fault injection file read by every client process.
	FaultFile = "faults"
	// tmpGrace keeps the sweeper away from uploads that were just created and
	// might not hold their flock yet.
	tmpGrace = time.Minute
)

// DefaultServerName is what "Session established with server X" shows until an
// administrator sets another name.
const DefaultServerName = "DSMSIM"

// Store is an opened server directory.
type Store struct {
	Root  string
	Fsync bool // fsync data and state before they become visible

	// One client run reads the state several times (node record, server name, the command
	// itself); with thousands of versions each parse costs far more than the command, so the
	// state a View parsed is kept, with its file held open, and reused while state.json is
	// still that file. Every save renames a new file into place, and the held descriptor keeps
	// the old inode from being reused, so "same file" means "unchanged". View functions only
	// read the state; Update always parses afresh and forgets the kept one. mu guards the two
	// fields: the file lock orders processes, and goroutines of one process only as far as the
	// kernel sees, which a shared lock does not.
	mu         sync.Mutex
	viewed     *State
	viewedFile *os.File
}

// Open creates the layout under root if needed.
func Open(root string) (*Store, error) {
	for _, d := range []string{root, filepath.Join(root, dataDir), filepath.Join(root, tmpDir), filepath.Join(root, accessDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return &Store{Root: root}, nil
}

func (s *Store) lock(how int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.Root, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (s *Store) load() (*State, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, stateName))
	if errors.Is(err, os.ErrNotExist) {
		b, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseState(b)
}

func parseState(b []byte) (*State, error) {
	st := &State{}
	if b != nil {
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("corrupt %s: %w", stateName, err)
		}
	}
	if st.Nodes == nil {
		st.Nodes = map[string]*Node{}
	}
	if st.FaultUses == nil {
		st.FaultUses = map[string]int{}
	}
	if st.ServerName == "" {
		st.ServerName = DefaultServerName
	}
	return st, nil
}

// loadForView is load, reusing the state the last View parsed while state.json is that file.
// It runs under the lock.
func (s *Store) loadForView() (*State, error) {
	path := filepath.Join(s.Root, stateName)
	if s.viewed != nil {
		cur, err := os.Stat(path)
		held, herr := s.viewedFile.Stat()
		if err == nil && herr == nil && os.SameFile(cur, held) {
			return s.viewed, nil
		}
	}
	s.forgetViewed()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return parseState(nil)
	}
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	var st *State
	if err == nil {
		st, err = parseState(b)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	s.viewed, s.viewedFile = st, f
	return st, nil
}

func (s *Store) forgetViewed() {
	if s.viewedFile != nil {
		_ = s.viewedFile.Close()
	}
	s.viewed, s.viewedFile = nil, nil
}

func (s *Store) save(st *State) error {
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	return s.writeAtomic(filepath.Join(s.Root, stateName), b)
}

// writeAtomic replaces path by a fully written file, so a crash leaves either the
// old or the new content.
func (s *Store) writeAtomic(path string, b []byte) error {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if s.Fsync {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// View runs fn on a consistent snapshot under a shared lock.
func (s *Store) View(fn func(*State) error) error {
	l, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }()
	s.mu.Lock()
	st, err := s.loadForView()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return fn(st)
}

// Update runs fn under the exclusive lock and saves the state when fn succeeds.
func (s *Store) Update(fn func(*State) error) error {
	l, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }()
	s.mu.Lock()
	s.forgetViewed()
	s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return s.save(st)
}

// Touch records now as node's last access and returns the one before (zero if none).
func (s *Store) Touch(node string, now time.Time) (time.Time, error) {
	f, err := os.OpenFile(filepath.Join(s.Root, accessLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = f.Close() }()
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return time.Time{}, err
	}
	last, err := s.LastAccess(node)
	if err != nil {
		return time.Time{}, err
	}
	b, err := now.MarshalText()
	if err != nil {
		return time.Time{}, err
	}
	return last, s.writeAtomic(s.accessFile(node), b)
}

// LastAccess is node's last access time, zero if it never logged in.
func (s *Store) LastAccess(node string) (time.Time, error) {
	var t time.Time
	b, err := os.ReadFile(s.accessFile(node))
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	return t, t.UnmarshalText(b)
}

func (s *Store) accessFile(node string) string {
	return filepath.Join(s.Root, accessDir, url.PathEscape(strings.ToUpper(node)))
}

// WithFileLocked runs fn with the exclusive lock held, for files that live next
// to the state (the fault file) and need the same serialisation.
func (s *Store) WithFileLocked(fn func() error) error {
	l, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }()
	return fn()
}

// WriteFileAtomic replaces a file in the server directory atomically.
func (s *Store) WriteFileAtomic(name string, b []byte) error {
	return s.writeAtomic(filepath.Join(s.Root, name), b)
}

// Path returns the path of a file in the server directory.
func (s *Store) Path(name string) string { return filepath.Join(s.Root, name) }

// OpenData opens the data of a version for reading. The descriptor stays valid
// even if a concurrent delete unlinks the file.
func (s *Store) OpenData(name string) (*os.File, error) {
	return os.Open(filepath.Join(s.Root, dataDir, name))
}

// RemoveData unlinks data files after their versions left the state.
func (s *Store) RemoveData(names []string) {
	for _, n := range names {
		if n != "" {
			_ = os.Remove(filepath.Join(s.Root, dataDir, n))
		}
	}
}

func randomName() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Seed records objs as new active versions in one update (registering their nodes on first
// use, as a client's first session does), each with an all-zero data file of
// its Size (sparse: it takes no blocks), so tests can give a server thousands of objects
// without thousands of client runs. The data files are made under the exclusive lock, so a
// concurrent sweep cannot take them for leftovers before they are recorded.
func (s *Store) Seed(objs []*Object) error {
	return s.Update(func(st *State) error {
		var made []string
		for _, o := range objs {
			name := randomName()
			f, err := os.OpenFile(filepath.Join(s.Root, dataDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err == nil {
				made = append(made, name)
				err = f.Truncate(o.Size)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				s.RemoveData(made)
				return err
			}
			o.Data = name
		}
		now := time.Now()
		for _, o := range objs {
			st.EnsureNode(o.Node, now)
		}
		st.AddVersions(objs, now)
		return nil
	})
}

// Upload is object data being received. It lives in tmp/ under an flock held by
// the receiving process, so a killed process leaves an unlocked file that the
// next writer sweeps away, and nothing half-written is ever a version.
type Upload struct {
	s    *Store
	name string
	f    *os.File
}

// NewUpload creates an empty temporary data file.
func (s *Store) NewUpload() (*Upload, error) {
	name := randomName()
	f, err := os.OpenFile(filepath.Join(s.Root, tmpDir, name+".part"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &Upload{s: s, name: name, f: f}, nil
}

// File is where the data goes.
func (u *Upload) File() *os.File { return u.f }

// TempPath is the temporary file's path (tests look for it while a transfer runs).
func (u *Upload) TempPath() string { return u.f.Name() }

// Abort discards the upload.
func (u *Upload) Abort() {
	if u.f == nil {
		return
	}
	_ = os.Remove(u.f.Name())
	_ = u.f.Close()
	u.f = nil
}

// Commit moves the data into data/ and runs fn to record the version, all under
// the exclusive lock. If fn fails the data is discarded.
func (u *Upload) Commit(fn func(st *State, dataName string) error) error {
	if u.s.Fsync {
		if err := u.f.Sync(); err != nil {
			u.Abort()
			return err
		}
	}
	final := filepath.Join(u.s.Root, dataDir, u.name)
	tmp := u.f.Name()
	err := u.s.Update(func(st *State) error {
		if err := os.Rename(u.f.Name(), final); err != nil {
			return err
		}
		if err := fn(st, u.name); err != nil {
			_ = os.Remove(final)
			return err
		}
		u.s.sweep(st)
		return nil
	})
	if u.f != nil {
		_ = u.f.Close()
		u.f = nil
	}
	if err != nil {
		_ = os.Remove(final)
		_ = os.Remove(tmp)
	}
	return err
}

// sweep removes leftovers of killed processes: temporary files nobody holds a
// lock on, and data files no version refers to (a crash between rename and state
// save). It runs under the exclusive lock.
func (s *Store) sweep(st *State) {
	now := time.Now()
	tmps, _ := os.ReadDir(filepath.Join(s.Root, tmpDir))
	for _, e := range tmps {
		p := filepath.Join(s.Root, tmpDir, e.Name())
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < tmpGrace {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			_ = os.Remove(p)
		}
		_ = f.Close()
	}
	used := make(map[string]bool, len(st.Objects))
	for _, o := range st.Objects {
		used[o.Data] = true
	}
	datas, _ := os.ReadDir(filepath.Join(s.Root, dataDir))
	for _, e := range datas {
		if !used[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			_ = os.Remove(filepath.Join(s.Root, dataDir, e.Name()))
		}
	}
}

// Sweep runs the leftover cleanup on demand (admin command).
func (s *Store) Sweep() error {
	return s.Update(func(st *State) error {
		s.sweep(st)
		return nil
	})
}
