package csi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
)

// Import turns backups into the Kubernetes objects that bring them into a cluster under their
// original names: per backup a pre-provisioned VolumeSnapshotContent (Retain) and the
// VolumeSnapshot bound to it, as YAML for `kubectl apply -f -`.

// Selector keeps the backups every one of its terms matches. Written as comma-separated
// terms key=value or key!=value; a value may hold * (any run of characters). Keys:
//
//	namespace  the VolumeSnapshot's namespace      name     the VolumeSnapshot's name
//	content    the VolumeSnapshotContent's name    volume   the source volume id
//	node       the Kubernetes node that took it    mode     image or file
//	id         the snapshot id                      group    the volume group snapshot
//
// An empty selector keeps everything. Keys from the metadata object never match a backup
// without one (it has no Kubernetes names to import under anyway).
type Selector struct{ terms []selectorTerm }

type selectorTerm struct {
	key string
	not bool
	re  *regexp.Regexp
}

var selectorKeys = map[string]func(b Backup) (string, bool){
	"namespace": func(b Backup) (string, bool) {
		return kubeField(b, func(k *catalog.KubeRef) string { return k.VolumeSnapshotNamespace })
	},
	"name": func(b Backup) (string, bool) {
		return kubeField(b, func(k *catalog.KubeRef) string { return k.VolumeSnapshotName })
	},
	"content": func(b Backup) (string, bool) {
		return kubeField(b, func(k *catalog.KubeRef) string { return k.VolumeSnapshotContent })
	},
	"node":   func(b Backup) (string, bool) { return metaField(b, func(m *BackupMeta) string { return m.Node }) },
	"group":  func(b Backup) (string, bool) { return metaField(b, func(m *BackupMeta) string { return m.Group }) },
	"volume": func(b Backup) (string, bool) { return b.SourceVolumeID, true },
	"mode":   func(b Backup) (string, bool) { return string(b.Mode), true },
	"id":     func(b Backup) (string, bool) { return b.ID, true },
}

// kubeOf is b's Kubernetes names, nil when its metadata has none.
func kubeOf(b Backup) *catalog.KubeRef {
	if b.Meta == nil {
		return nil
	}
	return b.Meta.Kubernetes
}

func kubeField(b Backup, f func(*catalog.KubeRef) string) (string, bool) {
	if k := kubeOf(b); k != nil {
		return f(k), true
	}
	return "", false
}

func metaField(b Backup, f func(*BackupMeta) string) (string, bool) {
	if b.Meta == nil {
		return "", false
	}
	return f(b.Meta), true
}

// ParseSelector reads a selector; see Selector.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	if strings.TrimSpace(s) == "" {
		return sel, nil
	}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		key, value, ok := strings.Cut(term, "=")
		not := strings.HasSuffix(key, "!")
		key = strings.TrimSpace(strings.TrimSuffix(key, "!"))
		if !ok || key == "" {
			return Selector{}, fmt.Errorf("selector term %q: want key=value or key!=value", term)
		}
		if _, known := selectorKeys[key]; !known {
			return Selector{}, fmt.Errorf("selector term %q: unknown key %q (known: %s)", term, key, strings.Join(selectorKeyNames(), ", "))
		}
		value = strings.TrimSpace(value)
		expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(value), `\*`, ".*") + "$"
		sel.terms = append(sel.terms, selectorTerm{key: key, not: not, re: regexp.MustCompile(expr)})
	}
	return sel, nil
}

func selectorKeyNames() []string {
	var names []string
	for k := range selectorKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Matches tells whether b passes every term.
func (s Selector) Matches(b Backup) bool {
	for _, t := range s.terms {
		v, known := selectorKeys[t.key](b)
		if !known || t.re.MatchString(v) == t.not {
			return false
		}
	}
	return true
}

// ImportOptions shape the manifests.
type ImportOptions struct {
	// DriverName is spec.driver of the contents: the --driver-name of the cluster's driver.
	DriverName string
	// ManagedBy, when set, labels each content snapshot.storage.kubernetes.io/managed-by:
	// with distributed snapshotting (csi-snapshotter --node-deployment) only the sidecar of
	// that node handles it. Any node of the driver can: a backup restores on every node.
	ManagedBy string
	// SnapshotClass, when set, is the volumeSnapshotClassName of both objects.
	SnapshotClass string
}

// ImportReport says what WriteManifests did.
type ImportReport struct {
	Imported []Backup
	// Skipped holds one line per backup left out, with the reason.
	Skipped []string
}

// dnsSubdomain is what Kubernetes accepts as an object name (RFC 1123 subdomain); names
// read from TSM are checked against it before they go into a manifest.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func validName(s string) bool { return len(s) <= 253 && dnsSubdomain.MatchString(s) }

// WriteManifests writes the VolumeSnapshotContent and VolumeSnapshot of every backup in
// backups that has Kubernetes names. Backups without them (no metadata object, or one written
// without csi-snapshotter's --extra-create-metadata) are skipped and reported. When several
// backups carry one VolumeSnapshot's namespace and name (a name used again after a deletion
// with the Retain policy), the newest is imported and the others are reported.
func WriteManifests(w io.Writer, backups []Backup, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	if !validName(opts.DriverName) {
		return rep, fmt.Errorf("driver name %q is not a valid CSI driver name", opts.DriverName)
	}
	newest := map[string]Backup{}
	var order []string
	for _, b := range backups {
		k := kubeOf(b)
		switch {
		case b.Meta == nil && b.MetaProblem != "":
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: metadata object unreadable (%s)", b.ID, b.MetaProblem))
			continue
		case b.Meta == nil:
			rep.Skipped = append(rep.Skipped, b.ID+": no metadata object in TSM (taken before metadata objects existed), Kubernetes names unknown")
			continue
		case (k == nil || k.VolumeSnapshotName == "") && b.Meta.Group != "":
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: a member of the volume group snapshot %q, which names no VolumeSnapshot of its own (restore it by its id: snapshots show)", b.ID, b.Meta.Group))
			continue
		case k == nil || k.VolumeSnapshotName == "" || k.VolumeSnapshotNamespace == "":
			rep.Skipped = append(rep.Skipped, b.ID+": the metadata names no VolumeSnapshot (csi-snapshotter ran without --extra-create-metadata)")
			continue
		case !validName(k.VolumeSnapshotName) || !validName(k.VolumeSnapshotNamespace) || (k.VolumeSnapshotContent != "" && !validName(k.VolumeSnapshotContent)):
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: the metadata names %s/%s (content %q), not valid Kubernetes names", b.ID, k.VolumeSnapshotNamespace, k.VolumeSnapshotName, k.VolumeSnapshotContent))
			continue
		}
		key := k.VolumeSnapshotNamespace + "/" + k.VolumeSnapshotName
		old, seen := newest[key]
		if !seen {
			order = append(order, key)
			newest[key] = b
			continue
		}
		if newer(b, old) {
			old, newest[key] = newest[key], b
		} else {
			old = b
		}
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: VolumeSnapshot %s is imported from the newer backup %s", old.ID, key, newest[key].ID))
	}
	sort.Strings(order)
	for i, key := range order {
		b := newest[key]
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return rep, err
			}
		}
		if err := writePair(w, b, opts); err != nil {
			return rep, err
		}
		rep.Imported = append(rep.Imported, b)
	}
	sort.Strings(rep.Skipped)
	return rep, nil
}

func newer(a, b Backup) bool {
	if !a.Meta.CreationTime.Equal(b.Meta.CreationTime) {
		return a.Meta.CreationTime.After(b.Meta.CreationTime)
	}
	return a.ID > b.ID
}

// contentName is the original VolumeSnapshotContent's name, or, when the metadata lacks it,
// one derived from the snapshot key (stable across runs of the command).
func contentName(b Backup) string {
	if k := kubeOf(b); k.VolumeSnapshotContent != "" {
		return k.VolumeSnapshotContent
	}
	sum := sha256.Sum256([]byte(b.ID))
	return "snapcontent-tsm-" + hex.EncodeToString(sum[:8])
}

func writePair(w io.Writer, b Backup, opts ImportOptions) error {
	k := kubeOf(b)
	vsc := contentName(b)
	// Without it (metadata that does not know the access type), csi-provisioner does not
	// check the restored volume's mode against the source's.
	mode := map[string]string{"block": "Block", "mount": "Filesystem"}[b.Meta.AccessType]
	var y yamlWriter
	y.comment(fmt.Sprintf("%s: volume %s, %d bytes, %s, taken %s on %s", b.ID, b.SourceVolumeID, b.SizeBytes,
		describeAccess(b.Meta), b.Meta.CreationTime.UTC().Format("2006-01-02T15:04:05Z"), b.Meta.Node))
	y.line(0, "apiVersion", "snapshot.storage.k8s.io/v1")
	y.line(0, "kind", "VolumeSnapshotContent")
	y.open(0, "metadata")
	y.line(1, "name", vsc)
	if opts.ManagedBy != "" {
		y.open(1, "labels")
		y.line(2, "snapshot.storage.kubernetes.io/managed-by", opts.ManagedBy)
	}
	y.open(0, "spec")
	y.line(1, "deletionPolicy", "Retain")
	y.line(1, "driver", opts.DriverName)
	y.open(1, "source")
	y.line(2, "snapshotHandle", b.ID)
	if mode != "" {
		y.line(1, "sourceVolumeMode", mode)
	}
	if opts.SnapshotClass != "" {
		y.line(1, "volumeSnapshotClassName", opts.SnapshotClass)
	}
	y.open(1, "volumeSnapshotRef")
	y.line(2, "name", k.VolumeSnapshotName)
	y.line(2, "namespace", k.VolumeSnapshotNamespace)
	y.raw("---\n")
	y.line(0, "apiVersion", "snapshot.storage.k8s.io/v1")
	y.line(0, "kind", "VolumeSnapshot")
	y.open(0, "metadata")
	y.line(1, "name", k.VolumeSnapshotName)
	y.line(1, "namespace", k.VolumeSnapshotNamespace)
	y.open(0, "spec")
	y.open(1, "source")
	y.line(2, "volumeSnapshotContentName", vsc)
	if opts.SnapshotClass != "" {
		y.line(1, "volumeSnapshotClassName", opts.SnapshotClass)
	}
	_, err := w.Write(y.buf.Bytes())
	return err
}

func describeAccess(m *BackupMeta) string {
	switch m.AccessType {
	case "block":
		return "block"
	case "mount":
		return "filesystem " + m.FSType
	}
	return "access type unknown"
}

// yamlWriter writes block-style YAML whose scalars are all JSON strings (a JSON string is a
// YAML double-quoted scalar), so no value read from TSM can change the document's structure.
type yamlWriter struct{ buf bytes.Buffer }

func (y *yamlWriter) indent(level int) { y.buf.WriteString(strings.Repeat("  ", level)) }

func (y *yamlWriter) open(level int, key string) {
	y.indent(level)
	y.buf.WriteString(key + ":\n")
}

func (y *yamlWriter) line(level int, key, value string) {
	y.indent(level)
	y.buf.WriteString(key + ": ")
	y.buf.Write(jsonString(value))
	y.buf.WriteByte('\n')
}

// comment writes s as one comment line. Only printable ASCII is kept: YAML also breaks lines
// at U+0085, U+2028 and U+2029, and a value read from TSM must not start a line of its own.
func (y *yamlWriter) comment(s string) {
	b := []byte("# ")
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b = append(b, byte(r))
	}
	y.buf.Write(append(b, '\n'))
}

func (y *yamlWriter) raw(s string) { y.buf.WriteString(s) }

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
