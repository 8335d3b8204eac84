package blockio

import "bytes"

// subBlock is the granularity of zero detection: small enough that a volume with
// scattered metadata stays sparse, large enough that the per-block overhead is noise.
const subBlock = 64 << 10

var zeros = make([]byte, 1<<20)

// IsZero reports whether b holds only zero bytes. bytes.Equal compiles to the
// vectorised memequal and stops at the first difference, so data blocks cost
// almost nothing and zero blocks cost one pass.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
