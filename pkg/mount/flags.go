package mount

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrInvalidMountFlag means a mount flag from a request is not a plain file system option.
var ErrInvalidMountFlag = errors.New("invalid mount flag")

// Options that change what is mounted where, rather than how: passed through to mount(8) they
// would turn a publish into a bind of something else, a move, a remount of another mount, a
// change of propagation, or a loop device the driver does not own.
var refusedMountFlags = map[string]bool{
	"bind": true, "rbind": true, "remount": true, "move": true,
	"shared": true, "rshared": true, "slave": true, "rslave": true,
	"private": true, "rprivate": true, "unbindable": true, "runbindable": true,
	"loop": true, "offset": true, "sizelimit": true, "encryption": true,
}

// ValidateMountFlags accepts only flags that are one file system option each ("noatime",
// "data=ordered"): no separator that would smuggle in more options (",", ";", whitespace,
// control characters), and none of the options that change what gets mounted or where.
func ValidateMountFlags(flags []string) error {
	for _, f := range flags {
		if err := validateMountFlag(f); err != nil {
			return err
		}
	}
	return nil
}

func validateMountFlag(f string) error {
	if f == "" {
		return fmt.Errorf("empty mount flag: %w", ErrInvalidMountFlag)
	}
	for _, r := range f {
		if r == ',' || r == ';' || r == '"' || r == '\'' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII {
			return fmt.Errorf("mount flag %q contains %q: %w", f, r, ErrInvalidMountFlag)
		}
	}
	if strings.HasPrefix(f, "-") {
		return fmt.Errorf("mount flag %q starts with '-': %w", f, ErrInvalidMountFlag)
	}
	name, _, _ := strings.Cut(f, "=")
	lower := strings.ToLower(name)
	switch {
	case refusedMountFlags[lower], strings.HasPrefix(lower, "make-"):
		return fmt.Errorf("mount flag %q changes what is mounted where, not how: %w", f, ErrInvalidMountFlag)
	case strings.HasPrefix(lower, "x-mount."), strings.HasPrefix(lower, "x-"):
		// util-linux acts on X-mount.* itself (mkdir, subdir, idmap, owner).
		return fmt.Errorf("mount flag %q is a mount(8) directive: %w", f, ErrInvalidMountFlag)
	}
	return nil
}
