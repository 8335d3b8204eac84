package tsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/klog/v2"
)

// Client runs dsmc commands and judges their results. It is safe for
// concurrent use; dsmc itself may not be (one restartable restore per node),
// which is the caller's concern.
type Client struct {
	cfg     Config
	runner  Runner
	observe func(RunInfo)
}

// RunInfo describes one finished dsmc process to a Client's observer.
type RunInfo struct {
	Op       string // the command, e.g. "backup image", "query session"
	RC       int    // dsmc's return code; -1 if it did not exit by itself
	OK       bool   // the run was judged a success
	Kind     Kind   // why it failed; KindUnknown when OK
	Duration time.Duration
}

// Result is a successful run.
type Result struct {
	Output   Output // redacted
	Stats    Stats
	Messages []Message

	args []string // redacted argv, for errors found after judging
	raw  Output   // unredacted, for the parsers: never leaves the package
	pw   secret
}

// NewClient returns a Client; r nil means ExecRunner{}.
func NewClient(cfg Config, r Runner) *Client {
	if r == nil {
		r = ExecRunner{}
	}
	return &Client{cfg: cfg, runner: r}
}

// WithNode returns a copy that works as proxy node asNodeName
// (-asnodename); "" means the node's own name.
func (c *Client) WithNode(asNodeName string) *Client {
	cp := *c
	cp.cfg.AsNodeName = asNodeName
	return &cp
}

// WithObserver returns a copy that calls fn after every dsmc process it ran,
// successful or not, from the goroutine that ran it; runs refused before dsmc
// started are not reported. fn must be quick: the caller waits for it. It
// keeps this package free of any metrics library.
func (c *Client) WithObserver(fn func(RunInfo)) *Client {
	cp := *c
	cp.observe = fn
	return &cp
}

// AsNodeName returns the proxy node name passed as -asnodename, or "".
func (c *Client) AsNodeName() string { return c.cfg.AsNodeName }

// BackupImage sends an image of a block device:
// dsmc backup image -snapshotproviderimage=none [options] <device>.
// The object is named after the device path exactly as given.
func (c *Client) BackupImage(ctx context.Context, device string) (*Result, error) {
	cmd := command{op: "backup image", class: classBackup, image: true,
		words: []string{"backup", "image", "-snapshotproviderimage=none"}, names: []string{device}}
	return c.run(ctx, cmd, checkName("device", device, false))
}

// BackupFile sends one regular file: dsmc selective [options] <file>
// (selective always sends it; the bare "dsmc backup" is not documented).
func (c *Client) BackupFile(ctx context.Context, file string) (*Result, error) {
	cmd := command{op: "selective", class: classBackup, words: []string{"selective"}, names: []string{file}}
	return c.run(ctx, cmd, checkName("file", file, false))
}

// RestoreImage writes image object onto dstDevice:
// dsmc restore image -noprompt [options] <object> <dstDevice>.
// IBM documents that a restore onto a volume skips the first sector ("Restore
// an image to file"); use RestoreImageToFile for the whole image.
func (c *Client) RestoreImage(ctx context.Context, object, dstDevice string) (*Result, error) {
	cmd := command{op: "restore image", class: classRestore, formats: true,
		words: []string{"restore", "image", "-noprompt"}, names: []string{object, dstDevice}}
	return c.run(ctx, cmd, firstErr(checkName("object", object, false), checkName("destination", dstDevice, false)))
}

// RestoreImageToFile writes the whole image object, first sector included,
// into the regular file dstFile:
// dsmc restore image -noprompt -imagetofile [options] <object> <dstFile>.
// IBM, "Restore an image to file"
// (https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=data-restore-image-file):
// restored to a volume, the client skips the first sector to preserve the
// destination's volume control block; "When you restore an image to file,
// entire volume contents, including the first sector, are restored".
func (c *Client) RestoreImageToFile(ctx context.Context, object, dstFile string) (*Result, error) {
	cmd := command{op: "restore image", class: classRestore, formats: true,
		words: []string{"restore", "image", "-noprompt", "-imagetofile"}, names: []string{object, dstFile}}
	return c.run(ctx, cmd, firstErr(checkName("object", object, false), checkName("destination", dstFile, false)))
}

// RestoreFile writes file object to dstFile, replacing it:
// dsmc restore -replace=yes [options] <object> <dstFile>.
func (c *Client) RestoreFile(ctx context.Context, object, dstFile string) (*Result, error) {
	cmd := command{op: "restore", class: classRestore, formats: true,
		words: []string{"restore", "-replace=yes"}, names: []string{object, dstFile}}
	return c.run(ctx, cmd, firstErr(checkName("object", object, false), checkName("destination", dstFile, false)))
}

// RestoreMatching restores, in one run, the active version of every file
// object that spec matches into the directory dstDir:
// dsmc restore -latest -replace=yes [options] <spec> <dstDir>/.
// spec may carry * and ? in its last element only (IBM, "File specification
// syntax": no wildcards in a directory path on UNIX clients). IBM's "Command
// line restore examples"
// (https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=data-command-line-restore-examples)
// restore "/Users/mike/Documents/*.bak" into /Users/mike/projectn/; the
// destination of a restore of more than one file must end with a directory
// delimiter (ANS2039E), so one is added. How much of the source path is
// recreated below dstDir is the PRESERVEPATH option's (site) business:
// callers find the files by base name anywhere below dstDir. No match is
// KindNotFound.
//
// -latest (the newest version, which is the active one for objects that are
// only ever replaced) makes it a standard restore: IBM, "No-query restore
// process" (https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=restore-no-query-process),
// an unrestricted wildcard without inactive, latest, pick, fromdate or todate
// is restored the no-query way, and a no-query restore that is interrupted
// stays pending on the server as a restartable restore, which refuses every
// other restore of the node (ANS1330S) until it is cancelled or expires. That
// a standard restore leaves nothing pending is IBM's description of restartable
// restores, not something tested against a real server.
func (c *Client) RestoreMatching(ctx context.Context, spec, dstDir string) (*Result, error) {
	dst := strings.TrimSuffix(dstDir, "/") + "/"
	verr := firstErr(checkName("file specification", spec, true), checkName("destination", dstDir, false))
	if verr == nil && strings.ContainsAny(spec[:strings.LastIndex(spec, "/")], "*?") {
		verr = fmt.Errorf("file specification %q has a wildcard in its directory", spec)
	}
	cmd := command{op: "restore", class: classRestore, formats: true,
		words: []string{"restore", "-latest", "-replace=yes"}, names: []string{spec, dst}}
	return c.run(ctx, cmd, verr)
}

// Delete removes the active version of an object:
// dsmc delete backup -noprompt -objtype=image|file [options] <object>.
// When nothing matches, the error's Kind is KindNotFound.
func (c *Client) Delete(ctx context.Context, mode Mode, object string) (*Result, error) {
	var verr error
	if mode != ModeImage && mode != ModeFile {
		verr = fmt.Errorf("mode must be %q or %q, not %q", ModeImage, ModeFile, mode)
	}
	cmd := command{op: "delete backup", class: classDelete, formats: true,
		words: []string{"delete", "backup", "-noprompt", "-objtype=" + string(mode)}, names: []string{object}}
	return c.run(ctx, cmd, firstErr(verr, checkName("object", object, false)))
}

// deleteType is Delete with -deltype=active|inactive.
func (c *Client) deleteType(ctx context.Context, mode Mode, deltype, object string) (*Result, error) {
	cmd := command{op: "delete backup", class: classDelete, formats: true,
		words: []string{"delete", "backup", "-noprompt", "-objtype=" + string(mode), "-deltype=" + deltype}, names: []string{object}}
	return c.run(ctx, cmd, firstErr(checkMode(mode), checkName("object", object, false)))
}

func checkMode(mode Mode) error {
	if mode != ModeImage && mode != ModeFile {
		return fmt.Errorf("mode must be %q or %q, not %q", ModeImage, ModeFile, mode)
	}
	return nil
}

// QueryImage lists image objects: dsmc query image [-inactive] [options]
// [<object>]. object "" lists all; no match is an empty list. Rows that do
// not parse are left out (logged); QueryImageListing reports them.
func (c *Client) QueryImage(ctx context.Context, object string, inactive bool) ([]Object, error) {
	l, err := c.QueryImageListing(ctx, object, inactive)
	if err != nil {
		return nil, err
	}
	return l.Objects, nil
}

// QueryBackup lists file objects matching spec, which may end in a
// wildcard: dsmc query backup [-inactive] [options] <spec>. No match is an
// empty list. Rows that do not parse are left out (logged);
// QueryBackupListing reports them.
func (c *Client) QueryBackup(ctx context.Context, spec string, inactive bool) ([]Object, error) {
	l, err := c.QueryBackupListing(ctx, spec, inactive)
	if err != nil {
		return nil, err
	}
	return l.Objects, nil
}

// Listing is the result of a query: the rows read and the rows that looked
// like rows but could not be parsed.
type Listing struct {
	Objects []Object // never nil
	// Skipped holds one line per unparsable row: "query image line N:
	// reason: "text"" (redacted output, safe to log).
	Skipped []string
}

// QueryImageListing is QueryImage with the skipped rows.
func (c *Client) QueryImageListing(ctx context.Context, object string, inactive bool) (*Listing, error) {
	cmd := command{op: "query image", class: classQuery, formats: true, words: []string{"query", "image"}}
	if inactive {
		cmd.words = append(cmd.words, "-inactive")
	}
	var verr error
	if object != "" {
		verr = checkName("object", object, false)
		cmd.names = []string{object}
	}
	return c.query(ctx, cmd, verr, ParseQueryImage)
}

// QueryBackupListing is QueryBackup with the skipped rows.
func (c *Client) QueryBackupListing(ctx context.Context, spec string, inactive bool) (*Listing, error) {
	cmd := command{op: "query backup", class: classQuery, formats: true, words: []string{"query", "backup"}, names: []string{spec}}
	if inactive {
		cmd.words = append(cmd.words, "-inactive")
	}
	return c.query(ctx, cmd, checkName("file specification", spec, true), ParseQueryBackup)
}

// QuerySession checks that the node can log in and reports the session.
func (c *Client) QuerySession(ctx context.Context) (*Session, error) {
	cmd := command{op: "query session", class: classSession, words: []string{"query", "session"}}
	res, err := c.run(ctx, cmd, nil)
	if err != nil {
		return nil, err
	}
	s, perr := ParseQuerySession(res.raw.Stdout)
	if perr != nil {
		return nil, resultError(cmd, res, KindFailed, res.pw.redact(perr.Error()))
	}
	return s, nil
}

func (c *Client) query(ctx context.Context, cmd command, verr error, parse func(string) ([]Object, []string)) (*Listing, error) {
	res, err := c.run(ctx, cmd, verr)
	if err != nil {
		return nil, err
	}
	if res.raw.StdoutDropped > 0 {
		return nil, resultError(cmd, res, KindFailed, fmt.Sprintf(
			"dsmc printed more than %d MiB; %d bytes in the middle were not kept, so the listing would miss objects",
			QueryMaxOutput>>20, res.raw.StdoutDropped))
	}
	// Rows are read even after a no-match message: a real client printed
	// both in one run (sample 08), and dropping rows would hide objects.
	objs, skipped := parse(res.raw.Stdout)
	if objs == nil {
		objs = []Object{}
	}
	skipped = res.pw.redactAll(skipped)
	if len(skipped) > 0 {
		klog.InfoS("dsmc query rows skipped", "op", cmd.op, "skipped", len(skipped), "first", skipped[0])
	}
	return &Listing{Objects: objs, Skipped: skipped}, nil
}

// run executes cmd once and judges it. On error the Result is nil and the
// *Error carries the redacted output.
func (c *Client) run(ctx context.Context, cmd command, verr error) (*Result, error) {
	return c.runStdin(ctx, cmd, verr, nil)
}

// runStdin is run with an explicit stdin; nil means the password file's
// prompt answers, if one is configured, else /dev/null.
func (c *Client) runStdin(ctx context.Context, cmd command, verr error, answers func(secret) []byte) (*Result, error) {
	optfile, oerr := c.driverOptFile()
	args, aerr := c.argv(cmd, optfile)
	if verr == nil {
		verr = aerr
	}
	if verr == nil && oerr != nil {
		verr = fmt.Errorf("writing the driver's options file: %v", oerr)
	}
	if verr != nil {
		return nil, &Error{Op: cmd.op, Args: RedactArgs(args), RC: -1, Kind: KindInvalid, Detail: verr.Error()}
	}
	var pw secret
	var stdin []byte
	if c.cfg.PasswordFile != "" {
		var err error
		if pw, err = readPassword(c.cfg.PasswordFile); err != nil {
			return nil, &Error{Op: cmd.op, Args: RedactArgs(args), RC: -1, Kind: KindAuth, Detail: err.Error()}
		}
		stdin = promptAnswers(pw)
		if answers != nil {
			stdin = answers(pw)
		}
	}
	logArgs := pw.redactAll(RedactArgs(args))

	started := time.Now()
	inv := Invocation{Binary: c.binary(), Args: args, Stdin: stdin, Timeout: c.cfg.Timeout}
	if cmd.class == classQuery {
		inv.MaxOutput = QueryMaxOutput
	}
	raw, runErr := c.runner.Run(ctx, inv)
	ran := time.Since(started)
	// dsmc's output is parsed and judged as printed: a password that is also a word dsmc
	// prints ("Total", "Objects") must not blank out the statistics or messages. Redaction is
	// for what leaves the package: Result.Output, messages, errors and logs.
	combined := raw.Stdout + "\n" + raw.Stderr
	messages := ParseMessages(combined)
	out := raw
	out.Stdout, out.Stderr = pw.redact(raw.Stdout), pw.redact(raw.Stderr)
	res := &Result{Output: out, Messages: pw.redactMessages(messages), args: logArgs, raw: raw, pw: pw}

	var err error
	if runErr != nil {
		e := processError(ctx, runErr)
		e.Op, e.Args, e.RC, e.Messages, e.Detail = cmd.op, logArgs, out.RC, res.Messages, pw.redact(e.Detail)
		e.Output = outputTail(out)
		err = e
	} else {
		var stErr error
		res.Stats, stErr = ParseStats(combined)
		if v := judge(cmd.class, out.RC, res.Stats, stErr, messages); !v.ok {
			detail := pw.redact(v.detail)
			if v.kind == KindNoPassword {
				detail += "; " + noPasswordHint
			}
			err = &Error{Op: cmd.op, Args: logArgs, RC: out.RC, Messages: res.Messages,
				Kind: v.kind, Detail: detail, Output: outputTail(out)}
		}
	}
	klog.V(4).InfoS("dsmc run", "op", cmd.op, "args", logArgs, "rc", out.RC,
		"duration", out.Duration, "kind", kindOrOK(err))
	if c.observe != nil {
		c.observe(RunInfo{Op: cmd.op, RC: out.RC, OK: err == nil, Kind: KindOf(err), Duration: ran})
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// processError turns a Runner error (the process did not end by itself, or
// did not start) into an *Error; those kinds beat anything in the output.
func processError(ctx context.Context, runErr error) *Error {
	var te *Error
	if errors.As(runErr, &te) {
		cp := *te
		return &cp
	}
	k := KindOf(runErr)
	if k == KindUnknown && ctx.Err() != nil {
		k = KindOf(ctx.Err())
	}
	return &Error{Kind: k, Detail: runErr.Error(), err: runErr}
}

func resultError(cmd command, res *Result, k Kind, detail string) *Error {
	return &Error{Op: cmd.op, Args: res.args, RC: res.Output.RC, Messages: res.Messages,
		Kind: k, Detail: detail, Output: outputTail(res.Output)}
}

func (c *Client) binary() string {
	if c.cfg.Binary == "" {
		return "dsmc"
	}
	return c.cfg.Binary
}

// maxErrorOutput bounds Error.Output: enough for the last messages and the
// statistics block.
const maxErrorOutput = 4096

func outputTail(out Output) string {
	s := strings.TrimSpace(out.Stdout)
	if e := strings.TrimSpace(out.Stderr); e != "" {
		s += "\n[stderr]\n" + e
	}
	if len(s) > maxErrorOutput {
		s = s[len(s)-maxErrorOutput:]
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
	}
	return s
}

func kindOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return KindOf(err).String()
}
