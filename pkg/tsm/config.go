package tsm

import "time"

// Mode selects how a volume is stored on the server: as an image of a block
// device or as one regular file.
type Mode string

const (
	ModeImage Mode = "image"
	ModeFile  Mode = "file"
)

// Config holds what is the same for every dsmc run of a Client.
type Config struct {
	// Binary is the dsmc path, or a name looked up in PATH; "" means "dsmc".
	Binary string
	// ServerName selects a dsm.sys stanza (-servername=).
	ServerName string
	// OptFile is the site's options file (dsm.opt); "" means the one dsmc
	// would read: $DSM_CONFIG, else $DSM_DIR/dsm.opt, else the installation
	// directory's. dsmc is never given it directly: every run gets
	// -optfile=<a copy with the driver's formats> (see DriverOptions).
	OptFile string
	// WorkDir holds the driver's options files; "" means os.TempDir().
	WorkDir string
	// AsNodeName stores and reads objects as this proxy target node
	// (-asnodename=); "" uses the node's own name.
	AsNodeName string
	// FromNode reads another node's objects (-fromnode=) for restores and
	// queries; dsmc refuses it together with AsNodeName.
	FromNode string
	// Compression is "" (leave it to dsm.sys and the server), "yes" or "no".
	// selective gets -compression=; backup image takes COMPRESSION from the
	// dsm.sys stanza only (IBM), so an image backup whose stanza disagrees
	// is refused (KindInvalid) instead of being sent otherwise.
	Compression string
	// PasswordFile, when set, is read at every run and its first line is
	// fed on stdin to dsmc's login prompts. With PASSWORDACCESS GENERATE it
	// is not needed. The password never appears on argv or in the
	// environment, logs or errors.
	PasswordFile string
	// ClockSkew is how far the server's clock may run behind this node's:
	// Verify accepts a version stored up to this long before notBefore.
	// 0 allows only for the second resolution of the printed times.
	ClockSkew time.Duration
	// Timeout bounds every run unless the context has an earlier deadline;
	// 0 means no bound beyond the context's.
	Timeout time.Duration
}
