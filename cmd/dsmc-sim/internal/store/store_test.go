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
