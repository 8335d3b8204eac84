// Package catalog holds what a snapshot says about itself in TSM: a small metadata object stored
// beside the backup (its origin, its Kubernetes names, and a chunked digest of the point in time),
// so that a backup can be verified bit for bit and brought into a new cluster from TSM alone.
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Version is the format of Meta written by this driver. Readers accept this version only: a
// newer format may change what the digest covers, and a digest misread is worse than none.
const Version = 1

// MaxSize bounds a metadata object read back from TSM. A 1 TiB volume has 262,144 chunk
// digests, about 18 MB of JSON; anything far larger is not one of ours.
const MaxSize = 64 << 20

var (
	fsTypePattern = regexp.MustCompile(`^[a-z0-9]{0,16}$`)
	// A Kubernetes node name: a DNS subdomain.
	nodePattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$`)
)

// Meta describes one snapshot. It is written once, when the snapshot turns ready, and never
// changed: it is the record of a point in time.
type Meta struct {
	Version        int       `json:"version"`
	SnapshotID     string    `json:"snapshotID"`
	SourceVolumeID string    `json:"sourceVolumeID"`
	SizeBytes      int64     `json:"sizeBytes"`
	AccessType     string    `json:"accessType,omitempty"` // "mount", "block", or "" if unknown
	FSType         string    `json:"fsType,omitempty"`     // of a mount volume
	Mode           string    `json:"mode"`                 // "image" or "file"
	CreationTime   time.Time `json:"creationTime"`
	Node           string    `json:"node"` // the CSI node that took the snapshot
	DriverName     string    `json:"driverName"`
	DriverVersion  string    `json:"driverVersion"`
	Kubernetes     *KubeRef  `json:"kubernetes,omitempty"`
	Group          string    `json:"group,omitempty"` // the volume group snapshot it belongs to
	// Digest is nil when the backup was read from a live volume (no point-in-time cut exists to
	// hash): such a backup restores unverified.
	Digest *Digest `json:"digest,omitempty"`
}

// KubeRef holds the Kubernetes names csi-snapshotter passes with --extra-create-metadata.
type KubeRef struct {
	VolumeSnapshotName      string `json:"volumeSnapshotName,omitempty"`
	VolumeSnapshotNamespace string `json:"volumeSnapshotNamespace,omitempty"`
	VolumeSnapshotContent   string `json:"volumeSnapshotContentName,omitempty"`
}

// Encode returns m as indented JSON (an administrator reads it with dsmc restore and cat).
func Encode(m *Meta) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ErrFormat marks a metadata object that is not one this driver can trust.
var ErrFormat = errors.New("not a valid snapshot metadata object")

// Decode reads a metadata object of at most MaxSize bytes.
func Decode(r io.Reader) (*Meta, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var m Meta
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return &m, nil
}

func (m *Meta) check() error {
	switch {
	case m.Version != Version:
		return fmt.Errorf("format version %d, this driver reads %d", m.Version, Version)
	case m.SnapshotID == "":
		return errors.New("no snapshot id")
	case m.SizeBytes <= 0:
		return fmt.Errorf("size %d", m.SizeBytes)
	case m.Mode != "image" && m.Mode != "file":
		return fmt.Errorf("mode %q", m.Mode)
	case m.AccessType != "" && m.AccessType != "mount" && m.AccessType != "block":
		return fmt.Errorf("access type %q", m.AccessType)
	case !fsTypePattern.MatchString(m.FSType):
		return fmt.Errorf("file system %q", m.FSType)
	case !nodePattern.MatchString(m.Node):
		return fmt.Errorf("node name %q", m.Node)
	}
	if m.Digest != nil {
		if err := m.Digest.check(); err != nil {
			return err
		}
		if m.Digest.Size != m.SizeBytes {
			return fmt.Errorf("digest covers %d bytes, the snapshot has %d", m.Digest.Size, m.SizeBytes)
		}
	}
	return nil
}
