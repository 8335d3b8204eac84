// Package state keeps the driver's records of volumes and snapshots on disk.
//
// Each record is one small JSON file, replaced atomically (temp file, fsync, rename, fsync of the
// directory), so a crash at any moment leaves either the old or the new record, never a torn one.
// Records are keyed by ids the caller has already validated; the store checks them again because a
// key becomes a file name.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ErrNotFound is returned when no record exists under a key.
var ErrNotFound = errors.New("record not found")

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,126}$`)

// Dir is a directory of JSON records of one kind.
type Dir struct {
	path string
}

// OpenDir creates the directory if needed and removes temp files left by an interrupted write.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", path, err)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(filepath.Join(path, e.Name()))
		}
	}
	return &Dir{path: path}, nil
}

// Path is the directory holding the records.
func (d *Dir) Path() string { return d.path }

func (d *Dir) file(key string) (string, error) {
	if !keyPattern.MatchString(key) || strings.Contains(key, "..") {
		return "", fmt.Errorf("invalid record key %q", key)
	}
	return filepath.Join(d.path, key+".json"), nil
}

// Put stores v under key, replacing any earlier record atomically.
func (d *Dir) Put(key string, v any) error {
	name, err := d.file(key)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode record %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(d.path, ".tmp-"+key+"-")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write record %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync record %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, name); err != nil {
		return fmt.Errorf("commit record %s: %w", key, err)
	}
	ok = true
	return syncDir(d.path)
}

// Get loads the record under key into v; ErrNotFound if there is none.
func (d *Dir) Get(key string, v any) error {
	name, err := d.file(key)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode record %s: %w", key, err)
	}
	return nil
}

// Delete removes the record under key; a missing record is not an error.
func (d *Dir) Delete(key string) error {
	name, err := d.file(key)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(d.path)
}

// Keys lists the keys of all records, sorted.
func (d *Dir) Keys() ([]string, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			continue
		}
		keys = append(keys, strings.TrimSuffix(n, ".json"))
	}
	sort.Strings(keys)
	return keys, nil
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return f.Sync()
}
