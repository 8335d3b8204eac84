package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/csi"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

const snapshotsUsage = `usage: tsm-csi-sidecar snapshots list   [--owner NODE] [-o table|json] [driver flags]
       tsm-csi-sidecar snapshots import [--owner NODE] [--namespace NS] [--selector TERMS] [--snapshot-class NAME] [driver flags]
       tsm-csi-sidecar snapshots show   <snapshot id> [--dest FILE] [-o table|json] [driver flags]

Reads the driver's backups from TSM alone. The driver flags (--dsmc, --tsm-servername,
--tsm-optfile, --tsm-asnodename, --tsm-password-file, --tsm-volume-prefix, --link-dir,
--state-dir, --tsm-meta-dir, --driver-name, ...) must have the driver's values; every flag
the driver takes is accepted, so the DaemonSet's arguments can be given as they are.
--selector: comma-separated key=value or key!=value, * in a value matches anything; keys
namespace, name, content, volume, node, mode, id, group (see README.md).
`

// snapshots runs `tsm-csi-sidecar snapshots <list|import|show>`. Exit code 0: done; 1: TSM
// could not be read or the backup does not exist; 2: usage.
func snapshots(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		_, _ = fmt.Fprint(stderr, snapshotsUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("snapshots "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { _, _ = fmt.Fprint(stderr, snapshotsUsage) }
	f := defineFlags(fs)
	klog.InitFlags(fs)
	owner := fs.String("owner", "", "TSM node whose backups to read; default --tsm-asnodename (the client's own node when that is empty)")
	output := fs.String("o", "table", "output: table or json (list, show)")
	namespace := fs.String("namespace", "", "import: only backups of VolumeSnapshots of this namespace")
	selector := fs.String("selector", "", "import: only backups every term matches")
	class := fs.String("snapshot-class", "", "import: volumeSnapshotClassName of the imported objects; default none")
	dest := fs.String("dest", "", "show: destination file of the printed restore command; default ./<object name>.img")
	rest := args[1:]
	var positional []string
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *output != "table" && *output != "json" {
		_, _ = fmt.Fprintf(stderr, "snapshots: -o %q: want table or json\n", *output)
		return 2
	}
	ownerSet := false
	fs.Visit(func(fl *flag.Flag) { ownerSet = ownerSet || fl.Name == "owner" })
	if !ownerSet {
		*owner = *f.asNodeName
	}

	switch {
	case sub == "show" && len(positional) != 1:
		_, _ = fmt.Fprintln(stderr, "snapshots show: give one snapshot id")
		return 2
	case sub != "show" && len(positional) != 0:
		_, _ = fmt.Fprintf(stderr, "snapshots %s: unexpected argument %q\n", sub, positional[0])
		return 2
	case sub != "list" && sub != "import" && sub != "show":
		_, _ = fmt.Fprint(stderr, snapshotsUsage)
		return 2
	}
	terms := *selector
	if *namespace != "" {
		terms = strings.TrimPrefix(terms+",namespace="+*namespace, ",")
	}
	sel, err := csi.ParseSelector(terms)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots import: --selector:", err)
		return 2
	}

	// dsmc's options file and the metadata objects go to a scratch directory under $TMPDIR,
	// never the state directory: a listing restores every metadata object (about 18 MB of
	// digests per TiB of snapshots), which must not take space the volumes were promised, and
	// the driver clears its own tmp at start.
	scratch, err := os.MkdirTemp("", "tsm-csi-snapshots-")
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	client := tsm.NewClient(tsm.Config{
		Binary: *f.dsmcPath, ServerName: *f.serverName, OptFile: *f.optFile, AsNodeName: *f.asNodeName,
		PasswordFile: *f.passwordFile, Timeout: *f.dsmcTimeout, WorkDir: scratch,
	}, nil)
	inv, err := csi.NewInventory(csi.InventoryOptions{
		VolumePrefix: *f.prefix, LinkDir: *f.linkDir, StateDir: *f.stateDir, MetaDir: *f.metaDir, ScratchDir: scratch,
	}, client)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	defer klog.Flush()

	if sub == "show" {
		return showSnapshot(ctx, inv, positional[0], *dest, *output, stdout, stderr)
	}
	backups, warnings, err := inv.List(ctx, *owner)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots:", err)
		return 1
	}
	for _, w := range warnings {
		_, _ = fmt.Fprintln(stderr, "warning:", w)
	}
	if sub == "list" {
		return listSnapshots(backups, *output, stdout, stderr)
	}
	var picked []csi.Backup
	for _, b := range backups {
		// Backups without metadata cannot match a selector on Kubernetes names, but may be
		// the ones wanted: each is named on stderr with the reason it cannot be imported.
		if b.Meta == nil || sel.Matches(b) {
			picked = append(picked, b)
		}
	}
	managedBy := *f.nodeID
	if managedBy == "" {
		managedBy = os.Getenv("NODE_NAME") // set in the DaemonSet's containers
	}
	rep, err := csi.WriteManifests(stdout, picked, csi.ImportOptions{DriverName: *f.driverName, ManagedBy: managedBy, SnapshotClass: *class})
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots import:", err)
		return 1
	}
	for _, s := range rep.Skipped {
		_, _ = fmt.Fprintln(stderr, "skipped:", s)
	}
	_, _ = fmt.Fprintf(stderr, "%d VolumeSnapshot(s) with their contents printed, %d backup(s) skipped\n", len(rep.Imported), len(rep.Skipped))
	if managedBy == "" && len(rep.Imported) > 0 {
		_, _ = fmt.Fprintln(stderr, "note: no --node-id (or NODE_NAME): the contents carry no snapshot.storage.kubernetes.io/managed-by label, which csi-snapshotter --node-deployment needs")
	}
	return 0
}

func listSnapshots(backups []csi.Backup, output string, stdout, stderr io.Writer) int {
	noMeta := 0
	for _, b := range backups {
		if b.Meta == nil {
			noMeta++
		}
		if b.MetaProblem != "" {
			_, _ = fmt.Fprintf(stderr, "warning: %s: metadata object: %s\n", b.ID, b.MetaProblem)
		}
	}
	if noMeta > 0 {
		_, _ = fmt.Fprintf(stderr, "warning: %d backup(s) without readable metadata: their Kubernetes names are unknown and import skips them; they still restore (unverified) by id\n", noMeta)
	}
	if output == "json" {
		return writeJSON(stdout, stderr, backups)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "NAMESPACE\tVOLUMESNAPSHOT\tSIZE\tACCESS\tTAKEN\tNODE\tDIGEST\tID")
	for _, b := range backups {
		ns, name, access, taken, node, digest := "-", "-", "-", b.BackedUp.UTC().Format(time.RFC3339), "-", "-"
		if m := b.Meta; m != nil {
			if k := m.Kubernetes; k != nil {
				ns, name = orDash(k.VolumeSnapshotNamespace), orDash(k.VolumeSnapshotName)
			}
			access, taken, node, digest = accessOf(m), m.CreationTime.UTC().Format(time.RFC3339), orDash(m.Node), "no"
			if m.Digest != "" {
				digest = "yes"
			}
		} else if b.MetaProblem != "" {
			digest = "unreadable"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ns, name, humanSize(b.SizeBytes), access, taken, node, digest, b.ID)
	}
	if err := tw.Flush(); err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots:", err)
		return 1
	}
	return 0
}

func showSnapshot(ctx context.Context, inv *csi.Inventory, id, dest, output string, stdout, stderr io.Writer) int {
	b, err := inv.Show(ctx, id)
	if b.ID == "" {
		_, _ = fmt.Fprintln(stderr, "snapshots show:", err)
		return 2
	}
	if dest == "" {
		dest = "./" + path.Base(b.Object) + ".img"
	}
	cmd := inv.RestoreCommand(b, dest)
	if output == "json" {
		view := struct {
			csi.Backup
			InTSM          bool   `json:"inTSM"`
			RestoreCommand string `json:"restoreCommand"`
		}{b, err == nil, cmd}
		if rc := writeJSON(stdout, stderr, view); rc != 0 {
			return rc
		}
	} else {
		printShow(stdout, b, err, cmd)
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots show:", err)
		return 1
	}
	return 0
}

func printShow(w io.Writer, b csi.Backup, err error, cmd string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { _, _ = fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	how := map[tsm.Mode]string{tsm.ModeImage: "image (dsmc backup image of the volume)", tsm.ModeFile: "file (dsmc selective of the volume's backing file)"}
	row("Snapshot id:", b.ID)
	row("Mode:", how[b.Mode])
	row("Owner node:", orQuote(b.Owner, "(the client's own node)"))
	row("Object:", b.Object)
	row("Source volume:", b.SourceVolumeID)
	row("Size:", fmt.Sprintf("%d bytes (%s)", b.SizeBytes, humanSize(b.SizeBytes)))
	switch {
	case err == nil:
		row("In TSM:", "yes, backed up "+b.BackedUp.UTC().Format(time.RFC3339))
	case errors.Is(err, csi.ErrNoBackup):
		row("In TSM:", "NO: TSM holds no active backup of this name")
	default:
		row("In TSM:", "unknown: "+err.Error())
	}
	switch m := b.Meta; {
	case m != nil:
		if k := m.Kubernetes; k != nil {
			row("VolumeSnapshot:", k.VolumeSnapshotNamespace+"/"+k.VolumeSnapshotName)
			row("VolumeSnapshotContent:", orDash(k.VolumeSnapshotContent))
		}
		row("Taken:", m.CreationTime.UTC().Format(time.RFC3339)+" on node "+orDash(m.Node))
		row("Access:", accessOf(m))
		row("Driver:", m.DriverName+" "+m.DriverVersion)
		if m.Group != "" {
			row("Group snapshot:", m.Group)
		}
		if m.Digest != "" {
			row("Digest:", m.Digest+" (the driver verifies restores against it)")
		} else {
			row("Digest:", "none (backed up from a live volume: restores are not verified)")
		}
	case b.MetaProblem != "":
		row("Metadata:", "unreadable: "+b.MetaProblem)
	default:
		row("Metadata:", "none in TSM (taken before metadata objects existed): restores are not verified")
	}
	_ = tw.Flush()
	_, _ = fmt.Fprintf(w, "\nRestore by hand (writes %d bytes into the destination file):\n  %s\n", b.SizeBytes, cmd)
	if b.Meta != nil && b.Meta.AccessType == "mount" {
		_, _ = fmt.Fprintf(w, "The file then holds the volume's %s file system: mount -o loop,ro <file> <directory>\n", orDash(b.Meta.FSType))
	} else {
		_, _ = fmt.Fprintln(w, "The file then holds the volume's bytes: losetup --find --show --read-only <file>")
	}
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		_, _ = fmt.Fprintln(stderr, "snapshots:", err)
		return 1
	}
	return 0
}

func accessOf(m *csi.BackupMeta) string {
	switch m.AccessType {
	case "block":
		return "block"
	case "mount":
		return orDash(m.FSType)
	}
	return "?"
}

func orDash(s string) string { return orQuote(s, "-") }

func orQuote(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

// humanSize writes n in binary units, to one decimal.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, "KMGTP"[i])
}
