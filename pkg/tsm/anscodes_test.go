package tsm

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/ans-codes.md has one row per id MessageKind handles, with that kind
// and the gRPC code documented for the kind.
func TestANSCodesDoc(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "docs", "ans-codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{
		"not-found": "NOT_FOUND", "auth": "FAILED_PRECONDITION", "missing": "FAILED_PRECONDITION",
		"no-password": "FAILED_PRECONDITION", "connection": "UNAVAILABLE", "busy": "UNAVAILABLE",
		"restart-pending": "ABORTED", "no-space": "RESOURCE_EXHAUSTED", "timeout": "DEADLINE_EXCEEDED",
		"canceled": "CANCELLED", "unverified": "INTERNAL", "failed": "INTERNAL",
	}
	row := regexp.MustCompile("^\\| `(ANS\\d{4}[IWES])` \\| `([a-z-]+)` \\| ([A-Z_]+) \\|")
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "| `ANS") {
				t.Errorf("malformed row %q", line)
			}
			continue
		}
		id, kind, code := m[1], m[2], m[3]
		if seen[id] {
			t.Errorf("%s listed twice", id)
		}
		seen[id] = true
		if got := MessageKind(id).String(); got != kind {
			t.Errorf("%s: table says %s, MessageKind says %s", id, kind, got)
		}
		if codes[kind] != code {
			t.Errorf("%s: kind %s maps to %s, table says %s", id, kind, codes[kind], code)
		}
	}
	for _, id := range HandledMessageIDs() {
		if !seen[id] {
			t.Errorf("%s is handled but has no row", id)
		}
	}
	if MessageKind("ANS9999E") != KindUnknown || MessageKind("ans2050e") != KindNoPassword {
		t.Errorf("MessageKind of unknown or lower-case ids")
	}
}
