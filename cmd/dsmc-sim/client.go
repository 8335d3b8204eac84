package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// client is one dsmc invocation.
type client struct {
	getenv func(string) string
	in     *bufio.Reader
	out    *bufio.Writer
	errw   io.Writer

	cl     *cmdLine
	cfg    *dsmConfig
	stanza *stanza
	fm     *formats
	ver    variant
	german bool
	quiet  bool

	store      *store.Store
	serverName string
	node       string // the node that logs in ("Node Name:")
	owner      string // the node whose data is used (-asnodename target or node)
	fromNode   string // -fromnode: whose data is read
	user       string

	faults     []*fault
	maxSev     byte
	skipped    bool
	rcOverride int
	stderrMode string
	start      time.Time
	lastAccess time.Time
}

// errStop ends a command whose failure was already reported.
var errStop = errors.New("stop")

func newClient(getenv func(string) string, in *bufio.Reader, out *bufio.Writer, errw io.Writer) *client {
	return &client{getenv: getenv, in: in, out: out, errw: errw, start: time.Now()}
}

func (c *client) kind() string {
	if c.cl == nil || c.cl.def == nil {
		return kindOther
	}
	return c.cl.def.kind
}

func (c *client) rc() int {
	if c.rcOverride > 0 {
		return max(c.rcOverride, rcFor(c.maxSev, c.skipped))
	}
	return rcFor(c.maxSev, c.skipped)
}

// localeOf resolves a locale category with POSIX precedence:
// LC_ALL, then the category, then LANG.
func localeOf(getenv func(string) string, category string) string {
	for _, k := range []string{"LC_ALL", category, "LANG"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return "C"
}

func isGerman(loc string) bool { return strings.HasPrefix(strings.ToLower(loc), "de") }

func atoiDef(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// setupFormats applies locale, dsm.opt/dsm.sys defaults and command options.
func (c *client) setupFormats() {
	c.german = isGerman(localeOf(c.getenv, "LC_MESSAGES"))
	germanNum := isGerman(localeOf(c.getenv, "LC_NUMERIC"))
	if c.cfg != nil && c.cfg.languageGerman() {
		c.german, germanNum = true, true
	}
	germanTime := isGerman(localeOf(c.getenv, "LC_TIME"))
	pick := func(name string) int {
		if c.cl != nil {
			if v, ok := c.cl.opt(name); ok {
				return atoiDef(v, 0)
			}
		}
		// IBM places these options in the client user options file
		// (dsm.opt), so it comes before a dsm.sys stanza.
		if c.cfg != nil {
			if v, ok := c.cfg.opt[name]; ok {
				return atoiDef(v, 0)
			}
		}
		if c.stanza != nil {
			if v, ok := c.stanza.opts[name]; ok {
				return atoiDef(v, 0)
			}
		}
		return 0
	}
	nf := newFormats(germanNum, pick("numberformat"), 0, 0)
	tf := newFormats(germanTime, 0, pick("dateformat"), pick("timeformat"))
	nf.dateFmt, nf.timeFmt = tf.dateFmt, tf.timeFmt
	c.fm = nf
}

func (c *client) run(argv []string) int {
	c.ver = pickVariant(c.getenv("DSMSIM_VERSION"))
	c.stderrMode = strings.ToLower(c.getenv("DSMSIM_STDERR"))
	cl, perr := parseCommandLine(argv)
	if cl == nil {
		cl = &cmdLine{}
	}
	c.cl = cl
	optfile, _ := cl.opt("optfile")
	cfg, err := loadConfig(c.getenv, optfile)
	if err != nil {
		c.fm = newFormats(false, 0, 0, 0)
		c.msg("ANS1035S", optfile)
		return c.rc()
	}
	c.cfg = cfg
	c.quiet = c.quietFromOptions()
	servername, _ := cl.opt("servername")
	st, known := cfg.stanzaFor(servername)
	c.stanza = st
	c.setupFormats()
	c.banner()
	if perr != nil {
		var pe *parseError
		if errors.As(perr, &pe) {
			c.printf("\n")
			c.msg(pe.id, pe.args...)
		}
		return c.rc()
	}
	if !known {
		c.printf("\n")
		c.msg("ANS1217E")
		return c.rc()
	}
	if !c.strictOptionCheck() {
		return c.rc()
	}
	if cl.def != nil && !cl.def.implemented {
		c.diag("the simulator does not implement the %s command", cl.def.name)
		c.rcOverride = 12
		return c.rc()
	}
	if err := c.connect(); err != nil {
		return c.rc()
	}
	if cl.def == nil {
		c.interactive()
		return c.rc()
	}
	c.execute()
	return c.rc()
}

// execute runs the parsed command after the session is up.
func (c *client) execute() {
	if c.preCommandFaults() {
		return
	}
	if err := c.cl.def.run(c); err != nil && !errors.Is(err, errStop) {
		c.diag("%v", err)
		c.msg("ANS5283E")
	}
}

// preCommandFaults fires faults that strike before any work: hang and crash
// without an offset, and lost connections of commands that move no data.
func (c *client) preCommandFaults() bool {
	if f := c.firstFiring(faultHang, func(f *fault) bool { return f.after < 0 }); f != nil {
		_ = c.out.Flush()
		hangForever()
	}
	if f := c.firstFiring(faultCrash, func(f *fault) bool { return f.after < 0 }); f != nil {
		c.crash(f)
	}
	if k := c.kind(); k != kindBackup && k != kindRestore {
		// A connlost with an offset aims at a transfer; only a plain one
		// strikes commands that move no data.
		if f := c.firstFiring(faultConnLost, func(f *fault) bool { return f.after < 0 }); f != nil {
			c.msg("ANS1029E")
			return true
		}
	}
	return false
}

func (c *client) banner() {
	for _, l := range c.ver.banner(c.fm.dateTime(time.Now())) {
		c.printf("%s\n", l)
	}
}

// currentUser is the login name shown by query session and recorded as owner.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// readLine reads one answer from stdin; io.EOF when there is none.
func (c *client) readLine() (string, error) {
	_ = c.out.Flush()
	line, err := c.in.ReadString('\n')
	if err != nil && (line == "" || err != io.EOF) {
		return "", io.EOF
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// confirm asks a yes/no question; anything but yes (or EOF) is no.
func (c *client) confirm(question string) bool {
	c.printf("%s", question)
	ans, err := c.readLine()
	c.printf("\n")
	if err != nil {
		return false
	}
	ans = strings.ToLower(strings.TrimSpace(ans))
	return ans == "y" || ans == "yes"
}

// fmtErr is a helper for unexpected local errors.
func fmtErr(format string, args ...any) error { return fmt.Errorf(format, args...) }
