package csi

import "time"

// The defaults of the driver's settings. They live here, once, because the flags of
// cmd/tsm-csi-sidecar, the zero values of Options and the README's flag table must agree; the
// command's test compares its flags with the README.
const (
	DefaultEndpoint          = "unix:///csi/csi.sock"
	DefaultDriverName        = "tsm.csi.storage-protect.io"
	DefaultStateDir          = "/var/lib/tsm-csi"
	DefaultDsmc              = "dsmc"
	DefaultVolumePrefix      = "backup"
	DefaultTSMMode           = "image"
	DefaultDsmcTimeout       = 12 * time.Hour
	DefaultMaxConcurrentDsmc = 3
	DefaultVolumeSize        = 1 << 30
	DefaultFSType            = "ext4"
	DefaultLinkDir           = "/dev"
	DefaultCutFallback       = CutCopy
	DefaultOvercommitRatio   = 1.0
	// DefaultMaxFreeze bounds a freeze: a reflink cut takes milliseconds, a copy cut of a large
	// volume would stall the application for minutes and is abandoned instead.
	DefaultMaxFreeze = 30 * time.Second
	// DefaultMetaDir is where snapshot metadata objects are written before dsmc sends them; their
	// TSM names are paths in it, so it must be the same on every node (like --link-dir). It is
	// not derived from --state-dir, which may differ between nodes.
	DefaultMetaDir = "/var/lib/tsm-csi/meta"
	// DefaultTSMHealthInterval is the time between TSM session checks while they succeed.
	DefaultTSMHealthInterval = time.Minute
)
