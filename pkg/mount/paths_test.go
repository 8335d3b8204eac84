package mount

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMakeDirAndFile(t *testing.T) {
	root := t.TempDir()
	existingFile := filepath.Join(root, "existing-file")
	if err := os.WriteFile(existingFile, []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	existingDir := filepath.Join(root, "existing-dir")
	if err := os.Mkdir(existingDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    bool // MakeFile instead of MakeDir
		path    string
		wantErr bool
	}{
		{"dir with parents", false, filepath.Join(root, "a", "b", "c"), false},
		{"existing dir", false, existingDir, false},
		{"dir over file", false, existingFile, true},
		{"dir below file", false, filepath.Join(existingFile, "x"), true},
		{"file with parents", true, filepath.Join(root, "d", "e", "f"), false},
		{"existing file", true, existingFile, false},
		{"file over dir", true, existingDir, true},
		{"file below file", true, filepath.Join(existingFile, "x"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mk := MakeDir
			if tc.file {
				mk = MakeFile
			}
			for i := range 2 { // the second call checks idempotency
				err := mk(tc.path)
				if tc.wantErr {
					if err == nil {
						t.Fatalf("call %d succeeded", i+1)
					}
					return
				}
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
			}
			st, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.file != st.Mode().IsRegular() || !tc.file != st.IsDir() {
				t.Errorf("%s has mode %v", tc.path, st.Mode())
			}
			parent, err := os.Stat(filepath.Dir(tc.path))
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(tc.path) != root && parent.Mode().Perm() != 0o750 {
				t.Errorf("parent mode %v, want 0750", parent.Mode().Perm())
			}
		})
	}
	if b, err := os.ReadFile(existingFile); err != nil || string(b) != "content" {
		t.Errorf("existing file changed: %q, %v", b, err)
	}
}
