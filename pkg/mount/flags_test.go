package mount

import (
	"errors"
	"testing"
)

func TestValidateMountFlags(t *testing.T) {
	for _, tc := range []struct {
		flag string
		ok   bool
	}{
		{"noatime", true},
		{"ro", true},
		{"data=ordered", true},
		{"commit=30", true},
		{"discard", true},
		{"", false},
		{"bind", false},
		{"rbind", false},
		{"BIND", false},
		{"remount", false},
		{"move", false},
		{"make-shared", false},
		{"make-rprivate", false},
		{"rshared", false},
		{"loop", false},
		{"offset=512", false},
		{"X-mount.subdir=etc", false},
		{"x-gvfs-show", false},
		{"noatime,bind", false},
		{"noatime;bind", false},
		{"noatime bind", false},
		{"noatime\tbind", false},
		{"noatime\nbind", false},
		{"noatime\x00", false},
		{"-oremount", false},
		{`data="x"`, false},
		{"nöatime", false},
	} {
		err := ValidateMountFlags([]string{"noatime", tc.flag})
		if tc.ok && err != nil {
			t.Errorf("%q: %v", tc.flag, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidMountFlag) {
			t.Errorf("%q: %v, want ErrInvalidMountFlag", tc.flag, err)
		}
	}
	if err := ValidateMountFlags(nil); err != nil {
		t.Errorf("no flags: %v", err)
	}
}
