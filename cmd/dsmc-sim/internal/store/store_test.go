package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestConcurrentUpdatesAreSerialised(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				err := s.Update(func(st *State) error {
					st.AddVersion(&Object{Node: "N", Type: TypeFile, Name: fmt.Sprintf("/f%d", i), BackupTime: time.Now()}, time.Now())
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}(i)
	}
	wg.Wait()
	_ = s.View(func(st *State) error {
		if len(st.Objects) != 200 {
			t.Fatalf("%d versions, want 200 (lost updates)", len(st.Objects))
		}
		active := 0
		for _, o := range st.Objects {
			if o.Active {
				active++
			}
		}
		if active != 8 {
			t.Fatalf("%d active versions, want one per name (8)", active)
		}
		return nil
	})
}

func TestUploadVisibility(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	up, err := s.NewUpload()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.File().WriteString("partial"); err != nil {
		t.Fatal(err)
	}
	// Nothing is a version until Commit.
	_ = s.View(func(st *State) error {
		if len(st.Objects) != 0 {
			t.Fatal("upload visible before commit")
		}
		return nil
	})
	up.Abort()
	if m, _ := filepath.Glob(filepath.Join(s.Root, "tmp", "*")); len(m) != 0 {
		t.Fatalf("aborted upload left %v", m)
	}

	up, _ = s.NewUpload()
	if _, err := up.File().WriteString("complete"); err != nil {
		t.Fatal(err)
	}
	err = up.Commit(func(st *State, data string) error {
		st.AddVersion(&Object{Node: "N", Type: TypeImage, Name: "/dev/x", Data: data}, time.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var data string
	_ = s.View(func(st *State) error {
		data = st.Objects[0].Data
		return nil
	})
	f, err := s.OpenData(data)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if _, err := f.Read(b); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if string(b) != "complete" {
		t.Fatalf("data %q", b)
	}
}

func TestSweepRemovesOnlyDeadUploads(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	live, _ := s.NewUpload() // holds its lock
	defer live.Abort()
	dead := filepath.Join(s.Root, "tmp", "dead.part")
	if err := os.WriteFile(dead, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(s.Root, dataDir, "orphan")
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * tmpGrace)
	for _, p := range []string{dead, live.TempPath()} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatal("unlocked stale upload not swept")
	}
	if _, err := os.Stat(live.TempPath()); err != nil {
		t.Fatal("an upload still being written was swept")
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("unreferenced data file not swept")
	}
}

// TestSeed: seeded objects are active versions (a later one of the same name supersedes the
// earlier), with all-zero sparse data of their size, and their node is registered.
func TestSeed(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	objs := []*Object{
		{Node: "N", Type: TypeImage, Name: "/dev/a", Size: 1 << 30},
		{Node: "N", Type: TypeImage, Name: "/dev/b", Size: 4096},
		{Node: "N", Type: TypeImage, Name: "/dev/a", Size: 8192},
	}
	if err := s.Seed(objs); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(st *State) error {
		if st.Node("N") == nil {
			t.Error("node N not registered")
		}
		if len(st.Objects) != 3 {
			t.Fatalf("%d versions, want 3", len(st.Objects))
		}
		for i, want := range []bool{false, true, true} {
			if o := st.Objects[i]; o.Active != want || o.ID != uint64(i+1) {
				t.Errorf("version %d (%s): active %v id %d, want %v %d", i, o.Name, o.Active, o.ID, want, i+1)
			}
		}
		for _, o := range st.Objects {
			fi, err := os.Stat(filepath.Join(s.Root, dataDir, o.Data))
			if err != nil || fi.Size() != o.Size {
				t.Errorf("data of %s: %v, size %v, want %d", o.Name, err, fi, o.Size)
			}
		}
		return nil
	})
	if err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(s.Root, dataDir, "*")); len(m) != 3 {
		t.Fatalf("after a sweep %d data files, want 3", len(m))
	}
}

// TestViewReusesTheUnchangedState: a View parses state.json once and reuses it while no one
// saved; a save by this store or by another process (another Store on the same directory) is
// seen by the next View.
func TestViewReusesTheUnchangedState(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	add := func(s *Store, name string) {
		t.Helper()
		if err := s.Update(func(st *State) error {
			st.AddVersion(&Object{Node: "N", Type: TypeFile, Name: name}, time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	view := func() *State {
		t.Helper()
		var got *State
		if err := s.View(func(st *State) error { got = st; return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	add(s, "/a")
	first := view()
	if view() != first {
		t.Error("an unchanged state was parsed again")
	}
	add(s, "/b")
	if st := view(); st == first || len(st.Objects) != 2 {
		t.Errorf("after this store's save: %d versions (same state: %v), want 2", len(st.Objects), st == first)
	}
	second := view()
	add(other, "/c")
	if st := view(); st == second || len(st.Objects) != 3 {
		t.Errorf("after another store's save: %d versions (same state: %v), want 3", len(st.Objects), st == second)
	}
}

// TestTouch: the last access is per node and Touch answers the one before.
func TestTouch(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	t2 := t1.Add(time.Hour)
	for _, step := range []struct {
		node      string
		now, want time.Time
	}{
		{"A", t1, time.Time{}},
		{"a", t2, t1}, // node names are upper-cased
		{"B/X", t1, time.Time{}},
		{"A", t2, t2},
	} {
		last, err := s.Touch(step.node, step.now)
		if err != nil || !last.Equal(step.want) {
			t.Errorf("Touch(%s, %v) = %v, %v; want %v", step.node, step.now, last, err, step.want)
		}
	}
	if got, err := s.LastAccess("B/X"); err != nil || !got.Equal(t1) {
		t.Errorf("LastAccess(B/X) = %v, %v", got, err)
	}
}
