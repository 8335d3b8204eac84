package csi

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// specName is a gRPC code as the CSI spec and docs/ans-codes.md spell it.
func specName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// TestANSCodesDocMatchesDriver checks the gRPC column of docs/ans-codes.md against the one
// mapping in errors.go: the table is what administrators read when a snapshot fails.
func TestANSCodesDocMatchesDriver(t *testing.T) {
	b, err := os.ReadFile("../../docs/ans-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(ANS\\d{4}[IWES])` \\| `([a-z-]+)` \\| ([A-Z_]+) \\|")
	rows := 0
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rows++
		got := specName(tsmCode(tsm.MessageKind(m[1])))
		if got != m[3] {
			t.Errorf("%s: the driver answers %s, docs/ans-codes.md says %s", m[1], got, m[3])
		}
	}
	if rows < len(tsm.HandledMessageIDs()) {
		t.Errorf("docs/ans-codes.md has %d rows, pkg/tsm handles %d ids", rows, len(tsm.HandledMessageIDs()))
	}
}
