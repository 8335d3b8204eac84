// Package fieldkit checks, on one node with the real backup-archive client,
// the assumptions the driver makes about dsmc that IBM's documentation does
// not settle (docs/dsmc.md, "Field kit"), and prints one table row per
// assumption: what it is, the command run, what was seen, and whether it
// holds. It cleans up everything it made, on the node and in TSM.
package fieldkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// Config says which client to check and where the kit may work.
type Config struct {
	// TSM is the client configuration the driver uses (binary, server,
	// proxy node, site options file, password file, compression, timeout).
	TSM tsm.Config
	// Runner runs dsmc; nil means tsm.ExecRunner{}.
	Runner tsm.Runner
	// LinkDir is where the driver hard-links devices and files before
	// uploading them (image mode: a directory on the same file system as
	// /dev, normally /dev itself).
	LinkDir string
	// FileLinkDir is where file-mode links go (the driver's state
	// directory); "" means ScratchDir.
	FileLinkDir string
	// MetaDir is where the driver stages snapshot metadata objects
	// (--tsm-meta-dir); "" means ScratchDir.
	MetaDir string
	// ScratchDir holds the kit's backing files and restored copies.
	ScratchDir string
	// Size of the test volume in bytes; 0 means 16 MiB. A whole number of
	// MiB keeps the sizes in query tables exact.
	Size int64
}

// Verdict is the outcome of one check.
type Verdict string

const (
	Holds        Verdict = "holds"
	DoesNot      Verdict = "does not hold"
	CouldNotTell Verdict = "could not tell"
)

// Row is one line of the report.
type Row struct {
	Assumption string
	Command    string
	Saw        string
	Verdict    Verdict
	// Required: the driver depends on it; DoesNot makes Run return false.
	Required bool
}

// Run executes every check against the configured dsmc, writes the table to
// out and returns ok=false if a required assumption does not hold (or could
// not be checked). err is for failures of the kit itself (no loop devices,
// scratch directory not writable), not of dsmc.
func Run(ctx context.Context, cfg Config, out io.Writer) (ok bool, err error) {
	k := &kit{cfg: cfg}
	if k.cfg.Size == 0 {
		k.cfg.Size = 16 << 20
	}
	if k.cfg.FileLinkDir == "" {
		k.cfg.FileLinkDir = cfg.ScratchDir
	}
	if k.cfg.MetaDir == "" {
		k.cfg.MetaDir = cfg.ScratchDir
	}
	if cfg.LinkDir == "" || cfg.ScratchDir == "" {
		return false, errors.New("fieldkit: LinkDir and ScratchDir are required")
	}
	k.id = randomID()
	// The client writes its options file (the site's options plus the
	// driver's formats, the same text the driver uses) into a directory of
	// the kit's, removed at the end.
	work := filepath.Join(cfg.ScratchDir, "tsm-check-"+k.id+"-options")
	if err := os.Mkdir(work, 0o700); err != nil {
		return false, err
	}
	k.onCleanup(func() error { return os.RemoveAll(work) })
	k.cfg.TSM.WorkDir = work
	k.client = tsm.NewClient(k.cfg.TSM, cfg.Runner)
	defer func() {
		k.cleanup()
		ok = k.print(out) && err == nil
	}()
	err = k.checks(ctx)
	return ok, err
}

type kit struct {
	cfg     Config
	client  *tsm.Client
	id      string
	rows    []Row
	undo    []func() error // run in reverse order
	objects []struct {
		mode tsm.Mode
		name string
	}
}

func (k *kit) add(r Row) { k.rows = append(k.rows, r) }

func (k *kit) onCleanup(f func() error) { k.undo = append(k.undo, f) }

func (k *kit) trackObject(mode tsm.Mode, name string) {
	k.objects = append(k.objects, struct {
		mode tsm.Mode
		name string
	}{mode, name})
}

// cleanup removes TSM objects first (while their names still mean
// something), then links, loop devices and files.
func (k *kit) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var problems []string
	for _, o := range k.objects {
		if err := k.client.DeleteAll(ctx, o.mode, o.name); err != nil {
			problems = append(problems, err.Error())
		}
	}
	for i := len(k.undo) - 1; i >= 0; i-- {
		if err := k.undo[i](); err != nil {
			problems = append(problems, err.Error())
		}
	}
	saw := "every object deleted (inactive and active versions), links, loop devices and files removed"
	v := Holds
	if len(problems) > 0 {
		saw, v = strings.Join(problems, "; "), DoesNot
	}
	k.add(Row{Assumption: "the kit leaves nothing behind", Command: "delete backup -deltype=inactive/active; losetup -d; rm", Saw: saw, Verdict: v, Required: true})
}

func (k *kit) print(out io.Writer) bool {
	ok := true
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ASSUMPTION\tCOMMAND\tSAW\tVERDICT")
	for _, r := range k.rows {
		v := string(r.Verdict)
		if r.Required {
			if r.Verdict != Holds {
				ok = false
			}
		} else {
			v += " (informational)"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Assumption, r.Command, oneLine(r.Saw), v)
	}
	_ = tw.Flush()
	if ok {
		_, _ = fmt.Fprintln(out, "\nresult: every assumption the driver depends on holds")
	} else {
		_, _ = fmt.Fprintln(out, "\nresult: an assumption the driver depends on does not hold; see docs/dsmc.md, \"Field kit\"")
	}
	return ok
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func ids(err error) string {
	var te *tsm.Error
	if !errors.As(err, &te) {
		return "none"
	}
	var s []string
	for _, m := range te.Messages {
		s = append(s, m.ID)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// volume is a loop device over a backing file.
type volume struct {
	backing, dev string
}

// newVolume creates a sparse backing file with random data in the first
// sector, the first MiB and the last 4 KiB, and attaches it.
func (k *kit) newVolume(name string, fill bool) (*volume, error) {
	v := &volume{backing: filepath.Join(k.cfg.ScratchDir, "tsm-check-"+k.id+"-"+name+".img")}
	f, err := os.OpenFile(v.backing, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	k.onCleanup(func() error { return rmIfExists(v.backing) })
	if err := f.Truncate(k.cfg.Size); err != nil {
		_ = f.Close()
		return nil, err
	}
	if fill {
		head := make([]byte, 1<<20)
		_, _ = rand.Read(head)
		tail := make([]byte, 4096)
		_, _ = rand.Read(tail)
		if _, err := f.WriteAt(head, 0); err != nil {
			_ = f.Close()
			return nil, err
		}
		if _, err := f.WriteAt(tail, k.cfg.Size-4096); err != nil {
			_ = f.Close()
			return nil, err
		}
	} else {
		// A marker in sector 0 shows whether a restore onto the device
		// wrote it.
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 512), 0); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	out, err := exec.Command("losetup", "--find", "--show", v.backing).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup --find --show %s: %v: %s", v.backing, err, bytes.TrimSpace(out))
	}
	v.dev = strings.TrimSpace(string(out))
	k.onCleanup(func() error {
		if out, err := exec.Command("losetup", "-d", v.dev).CombinedOutput(); err != nil {
			return fmt.Errorf("losetup -d %s: %v: %s", v.dev, err, bytes.TrimSpace(out))
		}
		return nil
	})
	return v, nil
}

func (k *kit) link(target, dir, name string) (string, error) {
	p := filepath.Join(dir, "tsm-check-"+k.id+"-"+name)
	if err := os.Link(target, p); err != nil {
		return "", err
	}
	k.onCleanup(func() error { return rmIfExists(p) })
	return p, nil
}

func rmIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func readAt(path string, off, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// firstDiff compares two files or devices over n bytes from off; -1 means equal.
func firstDiff(a, b string, off, n int64) (int64, error) {
	const chunk = 1 << 20
	for pos := off; pos < off+n; pos += chunk {
		l := min(int64(chunk), off+n-pos)
		x, err := readAt(a, pos, l)
		if err != nil {
			return 0, err
		}
		y, err := readAt(b, pos, l)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(x, y) {
			for i := range x {
				if x[i] != y[i] {
					return pos + int64(i), nil
				}
			}
		}
	}
	return -1, nil
}
