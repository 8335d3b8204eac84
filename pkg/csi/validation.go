package csi

import (
	"maps"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

const maxIDLength = 128

// checkVolumeID separates ids that are malformed (InvalidArgument: they could never name a volume
// and some would name a file outside the state directory) from ids that are merely unknown.
func checkVolumeID(id string) (known bool, err error) {
	switch {
	case id == "":
		return false, errInvalid("volume id missing")
	case len(id) > maxIDLength:
		return false, errInvalid("volume id longer than %d bytes", maxIDLength)
	case strings.ContainsAny(id, "/\\\x00") || strings.Contains(id, ".."):
		return false, errInvalid("volume id %q contains a path separator or '..'", id)
	}
	return volumeIDPattern.MatchString(id), nil
}

func checkName(what, name string) error {
	if name == "" {
		return errInvalid("%s missing", what)
	}
	if len(name) > maxIDLength {
		return errInvalid("%s longer than %d bytes", what, maxIDLength)
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return errInvalid("%s contains a control character", what)
		}
	}
	return nil
}

// accessKind is what a set of capabilities asks for: "block", "mount", or an error.
func checkCapabilities(caps []*csi.VolumeCapability) (string, error) {
	if len(caps) == 0 {
		return "", errInvalid("volume capabilities missing")
	}
	kind := ""
	for _, c := range caps {
		k, err := checkCapability(c)
		if err != nil {
			return "", err
		}
		if kind != "" && kind != k {
			return "", errInvalid("volume capabilities mix block and mount access")
		}
		kind = k
	}
	return kind, nil
}

func checkCapability(c *csi.VolumeCapability) (string, error) {
	if c == nil {
		return "", errInvalid("volume capability missing")
	}
	if c.GetAccessMode() == nil {
		return "", errInvalid("access mode missing")
	}
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
	case csi.VolumeCapability_AccessMode_UNKNOWN:
		return "", errInvalid("access mode unknown")
	default:
		return "", errInvalid("access mode %s is not supported by node-local volumes", c.GetAccessMode().GetMode())
	}
	switch at := c.GetAccessType().(type) {
	case *csi.VolumeCapability_Block:
		return "block", nil
	case *csi.VolumeCapability_Mount:
		if _, err := fsTypeOf(at.Mount.GetFsType(), "ext4"); err != nil {
			return "", err
		}
		return "mount", nil
	default:
		return "", errInvalid("access type missing")
	}
}

// fsTypeOf returns the file system to use; "" means the default.
func fsTypeOf(fs, def string) (string, error) {
	if fs == "" {
		fs = def
	}
	switch fs {
	case "ext4", "xfs":
		return fs, nil
	}
	return "", errInvalid("file system %q is not supported (ext4, xfs)", fs)
}

func readOnlyMode(c *csi.VolumeCapability) bool {
	return c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY
}

// requestedFSType is the file system the capabilities name explicitly, "" if none does.
func requestedFSType(caps []*csi.VolumeCapability) string {
	fs := ""
	for _, c := range caps {
		if f := c.GetMount().GetFsType(); f != "" {
			fs = f
		}
	}
	return fs
}

// capabilityMismatch says why a volume cannot serve the capabilities and parameters, "" if it
// can. A block volume is no file system and an ext4 volume no xfs, whatever the access mode.
func capabilityMismatch(v *volumeRecord, caps []*csi.VolumeCapability, params map[string]string) string {
	for _, c := range caps {
		kind, err := checkCapability(c)
		if err != nil {
			return err.Error()
		}
		if kind != v.Access {
			return "volume " + v.ID + " was created for " + v.Access + " access, not " + kind
		}
		if fs := c.GetMount().GetFsType(); kind == "mount" && fs != "" && fs != v.FSType {
			return "volume " + v.ID + " holds a " + v.FSType + " file system, not " + fs
		}
	}
	if len(params) > 0 && !maps.Equal(params, v.Parameters) {
		return "volume " + v.ID + " was created with other parameters"
	}
	return ""
}
