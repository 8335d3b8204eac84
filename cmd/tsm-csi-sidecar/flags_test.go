package main

import (
	"flag"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeFlags reads the flag table of README.md: flag name -> the first `quoted` token of the
// default column, "" where the column has none ("(required)", "(dsm.sys)", empty).
func readmeFlags(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n## Flags\n")
	if !ok {
		t.Fatal("README.md has no Flags section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("^\\| `--([a-z0-9-]+)`[^|]*\\|([^|]*)\\|")
	quoted := regexp.MustCompile("`([^`]*)`")
	out := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		def := ""
		if q := quoted.FindStringSubmatch(m[2]); q != nil {
			def = q[1]
		}
		out[m[1]] = def
	}
	if len(out) < 10 {
		t.Fatalf("read only %d rows of the README's flag table: %v", len(out), out)
	}
	return out
}

// The README's flag table is what an operator reads; it must name every flag with the default
// the code really uses.
func TestReadmeFlagTableMatchesFlags(t *testing.T) {
	fs := flag.NewFlagSet("tsm-csi-sidecar", flag.ContinueOnError)
	defineFlags(fs)
	doc := readmeFlags(t)
	fs.VisitAll(func(f *flag.Flag) {
		want, ok := doc[f.Name]
		if !ok {
			t.Errorf("--%s is missing from the README's flag table", f.Name)
			return
		}
		delete(doc, f.Name)
		if !sameDefault(t, f, want) {
			t.Errorf("--%s: README says default %q, the code %q", f.Name, want, f.DefValue)
		}
	})
	delete(doc, "v") // klog's flags, registered by klog.InitFlags
	for name := range doc {
		t.Errorf("README documents --%s, which the driver does not have", name)
	}
}

func sameDefault(t *testing.T, f *flag.Flag, doc string) bool {
	switch f.Value.(type) {
	case *byteSize:
		var b byteSize
		if err := b.Set(doc); err != nil {
			t.Errorf("--%s: README default %q is no size: %v", f.Name, doc, err)
			return false
		}
		return b.String() == f.DefValue
	}
	switch f.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		d, err := time.ParseDuration(doc)
		return err == nil && d.String() == f.DefValue
	case float64:
		x, err := strconv.ParseFloat(doc, 64)
		y, _ := strconv.ParseFloat(f.DefValue, 64)
		return err == nil && x == y
	case bool:
		return (doc == "" && f.DefValue == "false") || doc == f.DefValue
	}
	return doc == f.DefValue
}
