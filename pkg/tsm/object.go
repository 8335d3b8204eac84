package tsm

import "time"

// Object is one backup version on the server as listed by a query.
type Object struct {
	// Name is the image or file name exactly as dsmc prints it.
	Name string
	// Size is the image size (query image) or the file size (query
	// backup) in bytes. dsmc prints scaled values ("8.00 MB") with three
	// significant digits, so it is exact only for sizes printed in bytes or
	// that are whole multiples of the unit.
	Size int64
	// StoredSize is the stored size of an image; query backup does not
	// print it and leaves it 0.
	StoredSize int64
	// FSType is the image's file system type (query image only).
	FSType    string
	MgmtClass string
	// BackupTime is in time.Local, as dsmc prints the client's local time.
	BackupTime time.Time
	Active     bool
}
