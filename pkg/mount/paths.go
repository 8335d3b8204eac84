package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// MakeDir creates path and its parents with mode 0750; an existing
// directory is fine.
func MakeDir(path string) error {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return fmt.Errorf("make dir: %w", err)
	}
	return nil
}

// MakeFile creates an empty file at path (a publish target for a block
// volume), creating parent directories with mode 0750. Anything already at
// path other than a directory is accepted as is: it may be a device node
// bind-mounted there, which must not be opened or truncated.
func MakeFile(path string) error {
	if err := MakeDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("make file: %w", err)
	}
	st, serr := os.Lstat(path)
	if serr != nil {
		return fmt.Errorf("make file: %w", serr)
	}
	if st.IsDir() {
		return fmt.Errorf("make file %s: is a directory", path)
	}
	return nil
}
