package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// errNoMeta: TSM holds no metadata object for a snapshot (one taken before digests existed).
var errNoMeta = errors.New("no metadata object in TSM")

// tmpDir holds files restored from TSM only to be read (metadata objects).
func (d *Driver) tmpDir() string { return filepath.Join(d.opts.StateDir, "tmp") }

// storeMeta sends m to TSM as the file object named object (a path in the metadata directory)
// and proves that TSM holds it. The staged file goes whatever happens, a half-written one too:
// TSM's copy is the one that counts. (Only a SIGKILL in between leaves it, until the next store
// of that name replaces it.)
func storeMeta(ctx context.Context, client *tsm.Client, object string, m *catalog.Meta) error {
	b, err := catalog.Encode(m)
	if err != nil {
		return err
	}
	start := time.Now()
	defer func() { _ = os.Remove(object) }()
	if err := writeSynced(object, b); err != nil {
		return wrap(err, "stage the metadata object %s", object)
	}
	if _, err := client.BackupFile(ctx, object); err != nil {
		return err
	}
	return client.Verify(ctx, tsm.ModeFile, object, int64(len(b)), start)
}

// fetchMeta restores the metadata object named object into dir and reads it; errNoMeta when
// TSM has none.
func fetchMeta(ctx context.Context, client *tsm.Client, object, dir string) (*catalog.Meta, error) {
	f, err := os.CreateTemp(dir, filepath.Base(object)+".*")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	_ = f.Close()
	defer func() { _ = os.Remove(tmp) }()
	if _, err := client.RestoreFile(ctx, object, tmp); err != nil {
		if tsm.IsNotFound(err) {
			return nil, errNoMeta
		}
		return nil, err
	}
	f, err = os.Open(tmp)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	m, err := catalog.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("metadata object %s: %w", object, err)
	}
	return m, nil
}

// writeSynced writes a small file durably (the content must be on disk before dsmc reads it).
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
