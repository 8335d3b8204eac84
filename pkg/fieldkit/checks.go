package fieldkit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

func verdict(ok bool) Verdict {
	if ok {
		return Holds
	}
	return DoesNot
}

// runs collects every dsmc error of the kit, to tell whether a format option
// was refused anywhere.
type runs []error

func (r *runs) note(err error) error {
	if err != nil {
		*r = append(*r, err)
	}
	return err
}

func (k *kit) checks(ctx context.Context) error {
	c := k.client
	var seen runs

	// The node logs in at all.
	s, err := c.QuerySession(ctx)
	seen.note(err)
	saw := errText(err)
	if err == nil {
		saw = fmt.Sprintf("node %s, server %s", s.Node, s.Server)
		if s.AccessingAs != "" {
			saw += ", accessing as " + s.AccessingAs
		}
	}
	k.add(Row{Assumption: "the node logs in with the driver's configuration", Command: "dsmc query session -optfile=<driver options>",
		Saw: saw, Verdict: verdict(err == nil), Required: true})
	if err != nil {
		return nil
	}
	k.passwordChecks(ctx)

	if want := k.cfg.TSM.Compression; want != "" {
		got, where := c.ImageCompression()
		k.add(Row{Assumption: "backup image compresses as --tsm-compression says (COMPRESSION in dsm.sys; IBM: backup image ignores -compression)",
			Command: "read " + where, Saw: "COMPRESSION " + got + ", configured " + want, Verdict: verdict(got == want), Required: true})
	}

	if err := k.imageChecks(ctx, &seen); err != nil {
		return err
	}
	if err := k.fileChecks(ctx, &seen); err != nil {
		return err
	}
	if err := k.metaChecks(ctx, &seen); err != nil {
		return err
	}

	var refused []string
	for _, e := range seen {
		for _, id := range strings.Split(ids(e), ",") {
			if id == "ANS1107E" || id == "ANS1108E" {
				refused = append(refused, e.Error())
			}
		}
	}
	saw = "no ANS1107E/ANS1108E on backup image, selective, restore image (-imagetofile), restore, delete backup, query image, query backup, query session"
	if len(refused) > 0 {
		saw = strings.Join(refused, "; ")
	}
	k.add(Row{Assumption: "the format options are accepted: on the command line where IBM lists them, through -optfile everywhere",
		Command: "-dateformat=3 -timeformat=1 -numberformat=1 / -optfile", Saw: saw, Verdict: verdict(len(refused) == 0), Required: true})
	return nil
}

// passwordChecks: a stored password (PASSWORDACCESS GENERATE) or the
// password file answering the prompts on stdin.
func (k *kit) passwordChecks(ctx context.Context) {
	bareCfg := k.cfg.TSM
	bareCfg.PasswordFile = ""
	_, bareErr := tsm.NewClient(bareCfg, k.cfg.Runner).QuerySession(ctx)
	stored := bareErr == nil
	k.add(Row{Assumption: "the node logs in without a prompt (password stored, PASSWORDACCESS GENERATE)",
		Command: "dsmc query session </dev/null", Saw: errText(bareErr), Verdict: verdict(stored), Required: k.cfg.TSM.PasswordFile == ""})
	switch {
	case k.cfg.TSM.PasswordFile == "":
		k.add(Row{Assumption: "dsmc reads the password prompt answers from stdin (a pipe)", Command: "-",
			Saw: "no password file configured", Verdict: CouldNotTell})
	case stored:
		k.add(Row{Assumption: "dsmc reads the password prompt answers from stdin (a pipe)", Command: "dsmc query session <password file",
			Saw: "the password is stored, dsmc did not prompt", Verdict: CouldNotTell})
	default:
		// The run with the password file succeeded (the session check), the
		// bare one did not: the answers on stdin were read.
		k.add(Row{Assumption: "dsmc reads the password prompt answers from stdin (a pipe)", Command: "dsmc query session <password file",
			Saw: "logged in with the answers on stdin; without them: " + ids(bareErr), Verdict: Holds, Required: true})
	}
}

func (k *kit) imageChecks(ctx context.Context, seen *runs) error {
	c := k.client
	size := k.cfg.Size
	src, err := k.newVolume("src", true)
	if err != nil {
		return err
	}
	link, err := k.link(src.dev, k.cfg.LinkDir, "img")
	if err != nil {
		return err
	}
	k.trackObject(tsm.ModeImage, link)

	start := time.Now()
	res, err := c.BackupImage(ctx, link)
	seen.note(err)
	saw := errText(err)
	if err == nil {
		saw = fmt.Sprintf("rc %d, objects backed up %d, bytes transferred %d", res.Output.RC, res.Stats.BackedUp, res.Stats.BytesTransferred)
	}
	k.add(Row{Assumption: "image backup of a loop device through a hard link in the link directory",
		Command: "dsmc backup image -snapshotproviderimage=none " + link, Saw: saw, Verdict: verdict(err == nil), Required: true})
	if err != nil {
		return nil
	}

	err = seen.note(c.Verify(ctx, tsm.ModeImage, link, size, start))
	k.add(Row{Assumption: "the image is named after the link path as given: one active version of the volume's size",
		Command: "dsmc query image -inactive " + link, Saw: errText(err), Verdict: verdict(err == nil), Required: true})

	l, err := c.QueryImageListing(ctx, link, true)
	seen.note(err)
	saw = errText(err)
	okLayout := false
	if err == nil {
		saw = fmt.Sprintf("%d row(s), %d unparsable", len(l.Objects), len(l.Skipped))
		for _, o := range l.Objects {
			saw += fmt.Sprintf("; %q size %d stored %d fs %q class %q active %v at %s", o.Name, o.Size, o.StoredSize, o.FSType, o.MgmtClass, o.Active, o.BackupTime.Format(time.DateTime))
			okLayout = okLayout || (o.Name == link && o.Size == size)
		}
		if len(l.Skipped) > 0 {
			saw += "; first unparsable: " + l.Skipped[0]
			okLayout = false
		}
	}
	k.add(Row{Assumption: "the query image layout is parsed (sizes, date, A/I, name)", Command: "dsmc query image -inactive " + link,
		Saw: saw, Verdict: verdict(okLayout), Required: true})

	// Restore onto a device: IBM documents that sector 0 is skipped.
	dst, err := k.newVolume("dst", false)
	if err != nil {
		return err
	}
	_, err = c.RestoreImage(ctx, link, dst.dev)
	seen.note(err)
	saw, v := errText(err), DoesNot
	if err == nil {
		d0, e1 := firstDiff(src.dev, dst.dev, 0, 512)
		dr, e2 := firstDiff(src.dev, dst.dev, 512, size-512)
		if err := errors.Join(e1, e2); err != nil {
			return err
		}
		sector := "sector 0 restored"
		if d0 >= 0 {
			sector = "sector 0 kept (the destination's, as IBM documents)"
		}
		rest := "bytes 512.. equal"
		if dr >= 0 {
			rest = fmt.Sprintf("bytes differ from offset %d", dr)
		}
		saw, v = sector+"; "+rest, verdict(dr < 0)
	}
	k.add(Row{Assumption: "restore image onto a device skips sector 0 (IBM, \"Restore an image to file\"); the driver does not restore onto devices",
		Command: "dsmc restore image -noprompt " + link + " " + dst.dev, Saw: saw, Verdict: v})

	file := filepath.Join(k.cfg.ScratchDir, "tsm-check-"+k.id+"-restored.img")
	k.onCleanup(func() error { return rmIfExists(file) })
	_, err = c.RestoreImageToFile(ctx, link, file)
	seen.note(err)
	saw = errText(err)
	if err == nil {
		d, derr := firstDiff(src.dev, file, 0, size)
		if derr != nil {
			saw = derr.Error()
			err = derr
		} else if d >= 0 {
			saw, err = fmt.Sprintf("differs from the volume at byte %d", d), errors.New("differs")
		} else {
			saw = "every byte equal, sector 0 included"
		}
	}
	k.add(Row{Assumption: "restore image -imagetofile restores the whole image, sector 0 included",
		Command: "dsmc restore image -noprompt -imagetofile " + link + " " + file, Saw: saw, Verdict: verdict(err == nil), Required: true})

	// Versions: a second backup, then the default delete.
	_, err = c.BackupImage(ctx, link)
	seen.note(err)
	if err == nil {
		_, err = c.Delete(ctx, tsm.ModeImage, link)
		seen.note(err)
	}
	saw, v = errText(err), CouldNotTell
	if err == nil {
		l, qerr := c.QueryImageListing(ctx, link, true)
		seen.note(qerr)
		if qerr == nil {
			active := 0
			for _, o := range l.Objects {
				if o.Active {
					active++
				}
			}
			saw = fmt.Sprintf("after deleting the active one of two versions: %d active, %d inactive", active, len(l.Objects)-active)
			v = verdict(active == 1)
		}
	}
	k.add(Row{Assumption: "delete backup without -deltype removes only the active version and promotes the newest inactive one (IBM API)",
		Command: "dsmc delete backup -noprompt -objtype=image " + link, Saw: saw, Verdict: v})

	err = seen.note(c.DeleteAll(ctx, tsm.ModeImage, link))
	k.add(Row{Assumption: "deleting inactive, then active versions leaves nothing (confirmed by query image -inactive)",
		Command: "dsmc delete backup -deltype=inactive|active -objtype=image " + link, Saw: errText(err), Verdict: verdict(err == nil), Required: true})

	k.notFoundChecks(ctx, tsm.ModeImage, link, seen)
	return nil
}

// notFoundChecks: after everything is deleted, delete and restore must say
// "not found" in a way the judge recognises, and a query must be empty.
func (k *kit) notFoundChecks(ctx context.Context, mode tsm.Mode, name string, seen *runs) {
	c := k.client
	_, err := c.Delete(ctx, mode, name)
	k.add(Row{Assumption: "delete of a missing " + string(mode) + " is recognised as not found (idempotent DeleteSnapshot)",
		Command: "dsmc delete backup -objtype=" + string(mode) + " " + name, Saw: "kind " + tsm.KindOf(err).String() + ", messages " + ids(err),
		Verdict: verdict(tsm.IsNotFound(err)), Required: true})
	if !tsm.IsNotFound(err) {
		seen.note(err)
	}
	dst := filepath.Join(k.cfg.ScratchDir, "tsm-check-"+k.id+"-missing")
	k.onCleanup(func() error { return rmIfExists(dst) })
	if mode == tsm.ModeImage {
		_, err = c.RestoreImageToFile(ctx, name, dst)
	} else {
		_, err = c.RestoreFile(ctx, name, dst)
	}
	k.add(Row{Assumption: "restore of a missing " + string(mode) + " is recognised as not found",
		Command: "dsmc restore ... " + name, Saw: "kind " + tsm.KindOf(err).String() + ", messages " + ids(err),
		Verdict: verdict(tsm.IsNotFound(err)), Required: true})
	if !tsm.IsNotFound(err) {
		seen.note(err)
	}
	var l *tsm.Listing
	if mode == tsm.ModeImage {
		l, err = c.QueryImageListing(ctx, name, true)
	} else {
		l, err = c.QueryBackupListing(ctx, name, true)
	}
	seen.note(err)
	saw := errText(err)
	if err == nil {
		saw = fmt.Sprintf("%d row(s), %d unparsable", len(l.Objects), len(l.Skipped))
	}
	k.add(Row{Assumption: "a query for a missing " + string(mode) + " is an empty list, not an error",
		Command: "dsmc query -inactive " + name, Saw: saw, Verdict: verdict(err == nil && len(l.Objects) == 0 && len(l.Skipped) == 0), Required: true})
}

func (k *kit) fileChecks(ctx context.Context, seen *runs) error {
	c := k.client
	backing := filepath.Join(k.cfg.ScratchDir, "tsm-check-"+k.id+"-file.img")
	data := make([]byte, 1<<20+4096)
	_, _ = rand.Read(data)
	if err := os.WriteFile(backing, data, 0o600); err != nil {
		return err
	}
	k.onCleanup(func() error { return rmIfExists(backing) })
	link, err := k.link(backing, k.cfg.FileLinkDir, "file")
	if err != nil {
		return err
	}
	k.trackObject(tsm.ModeFile, link)
	start := time.Now()
	_, err = c.BackupFile(ctx, link)
	seen.note(err)
	if err == nil {
		err = seen.note(c.Verify(ctx, tsm.ModeFile, link, int64(len(data)), start))
	}
	k.add(Row{Assumption: "selective backup of a hard-linked file stores one active version of its size under the link's name",
		Command: "dsmc selective " + link + "; dsmc query backup -inactive " + link, Saw: errText(err), Verdict: verdict(err == nil), Required: true})
	if err != nil {
		return nil
	}
	restored := filepath.Join(k.cfg.ScratchDir, "tsm-check-"+k.id+"-file.restored")
	k.onCleanup(func() error { return rmIfExists(restored) })
	_, err = c.RestoreFile(ctx, link, restored)
	seen.note(err)
	saw := errText(err)
	if err == nil {
		if d, derr := firstDiff(backing, restored, 0, int64(len(data))); derr != nil || d >= 0 {
			err = errors.New("restored file differs")
			saw = fmt.Sprintf("differs at %d (%v)", d, derr)
		} else {
			saw = "every byte equal"
		}
	}
	k.add(Row{Assumption: "restore of a file to another name restores every byte", Command: "dsmc restore -replace=yes " + link + " " + restored,
		Saw: saw, Verdict: verdict(err == nil), Required: true})
	err = seen.note(c.DeleteAll(ctx, tsm.ModeFile, link))
	k.add(Row{Assumption: "deleting inactive, then active file versions leaves nothing", Command: "dsmc delete backup -deltype=inactive|active -objtype=file " + link,
		Saw: errText(err), Verdict: verdict(err == nil), Required: true})
	k.notFoundChecks(ctx, tsm.ModeFile, link, seen)
	return nil
}

// metaChecks: snapshot metadata objects are small files backed up from --tsm-meta-dir, and
// "tsm-csi-sidecar snapshots list" restores all of them with one wildcard restore into a
// directory; where they land below it depends on the site's PRESERVEPATH, so they are looked
// for by name anywhere below it.
func (k *kit) metaChecks(ctx context.Context, seen *runs) error {
	c := k.client
	names := []string{"tsm-check-" + k.id + "-a.json", "tsm-check-" + k.id + "-b.json"}
	content := map[string][]byte{}
	var err error
	for _, n := range names {
		p := filepath.Join(k.cfg.MetaDir, n)
		content[n] = []byte(fmt.Sprintf("{\"check\": %q}\n", n))
		if err = os.WriteFile(p, content[n], 0o600); err != nil {
			return err
		}
		k.onCleanup(func() error { return rmIfExists(p) })
		k.trackObject(tsm.ModeFile, p)
		if _, err = c.BackupFile(ctx, p); seen.note(err) != nil {
			break
		}
	}
	k.add(Row{Assumption: "a small file in the metadata directory (--tsm-meta-dir) is backed up like any file",
		Command: "dsmc selective " + filepath.Join(k.cfg.MetaDir, names[0]), Saw: errText(err), Verdict: verdict(err == nil), Required: true})
	if err != nil {
		return nil
	}
	dst := filepath.Join(k.cfg.ScratchDir, "tsm-check-"+k.id+"-meta")
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	k.onCleanup(func() error { return os.RemoveAll(dst) })
	spec := filepath.Join(k.cfg.MetaDir, "tsm-check-"+k.id+"-*.json")
	_, err = c.RestoreMatching(ctx, spec, dst)
	seen.note(err)
	saw := errText(err)
	if err == nil {
		found := map[string]bool{}
		werr := filepath.WalkDir(dst, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, rerr := os.ReadFile(p)
			if rerr == nil && string(b) == string(content[e.Name()]) {
				found[e.Name()] = true
			}
			return rerr
		})
		saw = fmt.Sprintf("%d of %d files restored with their content", len(found), len(names))
		if werr != nil || len(found) != len(names) {
			err = fmt.Errorf("%s (%v)", saw, werr)
		}
	}
	k.add(Row{Assumption: "a wildcard restore into a directory restores every matching file (snapshots list reads every metadata object this way)",
		Command: "dsmc restore -latest -replace=yes \"" + spec + "\" " + dst + "/", Saw: saw, Verdict: verdict(err == nil), Required: true})
	return nil
}
