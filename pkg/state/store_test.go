package state

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type rec struct {
	Name string
	Size int64
}

func TestPutGetDelete(t *testing.T) {
	d, err := OpenDir(filepath.Join(t.TempDir(), "recs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put("vol-1", rec{Name: "a", Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := d.Put("vol-1", rec{Name: "a", Size: 2}); err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := d.Get("vol-1", &got); err != nil {
		t.Fatal(err)
	}
	if got != (rec{Name: "a", Size: 2}) {
		t.Fatalf("got %+v", got)
	}
	keys, err := d.Keys()
	if err != nil || len(keys) != 1 || keys[0] != "vol-1" {
		t.Fatalf("keys %v %v", keys, err)
	}
	if err := d.Delete("vol-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete("vol-1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := d.Get("vol-1", &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "../x", "a/b", ".hidden", "A", "x..y", string(make([]byte, 200))} {
		if err := d.Put(k, rec{}); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
}

func TestOpenRemovesTorn(t *testing.T) {
	dir := t.TempDir()
	torn := filepath.Join(dir, ".tmp-vol-1-123")
	if err := os.WriteFile(torn, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("torn temp file survived: %v", err)
	}
	keys, _ := d.Keys()
	if len(keys) != 0 {
		t.Fatalf("keys %v", keys)
	}
}
