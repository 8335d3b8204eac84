package csi

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// TestTroubleshootingCoversEveryANSMessage: docs/troubleshooting.md lists every ANS id pkg/tsm
// classifies, once, in the group of its own kind, and each group names the gRPC code the driver
// answers for that kind; the page is what an operator follows when a snapshot fails.
func TestTroubleshootingCoversEveryANSMessage(t *testing.T) {
	b, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	group := regexp.MustCompile("^Kind `([a-z-]+)` → ([A-Z_]+); messages: (.+)\\.$")
	id := regexp.MustCompile("`(ANS\\d{4}[IWES])`")
	seen := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Kind `") && !group.MatchString(line) {
			t.Errorf("malformed group line %q", line)
		}
		m := group.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		kind, code := m[1], m[2]
		ids := id.FindAllStringSubmatch(m[3], -1)
		if len(ids) == 0 {
			t.Errorf("group %s lists no message", kind)
		}
		for _, x := range ids {
			if prev, dup := seen[x[1]]; dup {
				t.Errorf("%s is listed under %s and %s", x[1], prev, kind)
			}
			seen[x[1]] = kind
			k := tsm.MessageKind(x[1])
			if k.String() != kind {
				t.Errorf("%s is listed under %s, the driver classifies it %s", x[1], kind, k)
			}
			if got := specName(tsmCode(k)); got != code {
				t.Errorf("%s: the page says %s, the driver answers %s", x[1], code, got)
			}
		}
	}
	for _, x := range tsm.HandledMessageIDs() {
		if _, ok := seen[x]; !ok {
			t.Errorf("%s is handled by the driver but missing from docs/troubleshooting.md", x)
		}
	}
}
