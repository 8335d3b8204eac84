package main

import (
	"fmt"
	"strings"
)

// message is one client message: the English text (with %s/%d verbs and {P}
// for the product name), an optional German text, and where its wording comes
// from (see the README table).
type message struct {
	en       string
	de       string
	verified bool
}

var catalog = map[string]message{
	"ANS1017E": {en: "Session rejected: TCP/IP connection failure", verified: true},
	"ANS1025E": {en: "Session rejected: Authentication failure", verified: true},
	"ANS1029E": {en: "Communication with the {P} server is lost.", verified: true},
	"ANS1051I": {en: "Invalid user id or password", verified: true},
	"ANS2050E": {en: "{P} needs to prompt for the password but cannot prompt because the process is running in the background.", verified: true},
	"ANS1217E": {en: "Server name not found in System Options File", verified: true},
	"ANS1092W": {en: "No files matching search criteria were found", verified: true},
	"ANS1302E": {en: "No objects on server match query", verified: true},
	"ANS1345E": {en: "No objects on the server match '%s'", de: "Keine Objekte auf dem Server stimmen mit '%s' überein", verified: true},
	"ANS1228E": {en: "Sending of object '%s' failed.", verified: true},
	"ANS1247I": {en: "Waiting for files from the server...", verified: true},
	"ANS1330S": {en: "This node currently has a pending restartable restore session.", verified: true},
	"ANS4000E": {en: "Error processing '%s': file space does not exist.", verified: true},
	"ANS1311E": {en: "Server out of data storage space", verified: true},
	"ANS5283E": {en: "The operation was unsuccessful", verified: true},
	"ANS2039E": {en: "The destination file specification must end with directory delimiter when performing a file list restore, or when the restore specification is for more than one file, or when the option SUBDIR YES is in effect.", verified: true},

	// Texts below are plausible but not confirmed against a real client.
	"ANS1035S": {en: "Options file '%s' could not be found."},
	"ANS1107E": {en: "Invalid option/value: '%s'"},
	"ANS1108E": {en: "Invalid option (%s) for the %s function"},
	"ANS1138E": {en: "The '%s' command must be followed by a subcommand"},
	"ANS1079E": {en: "No file specification entered"},
	"ANS1102E": {en: "Excessive number of command line arguments passed to the program!"},
	"ANS1063E": {en: "The specified path is not a valid file system or logical volume name."},
	"ANS1089E": {en: "File not found during Backup, Archive or Migrate processing"},
	"ANS1803E": {en: "Selective Backup processing of '%s' finished with %d failure(s)"},
	"ANS1126E": {en: "The file space cannot be deleted because this node does not have permission to delete archived or backed up data."},
	"ANS1253E": {en: "The destination volume '%s' (%s) is smaller than the image '%s' (%s)."},
	"ANS1813E": {en: "Image Backup processing of '%s' finished with failures."},
	"ANS1814E": {en: "Image Restore processing of '%s' finished with failures."},
	"ANS1034E": {en: "The operation was cancelled by the user."},
	"ANS1351E": {en: "Session rejected: All server sessions are currently in use"},
	"ANS0326E": {en: "This node has exceeded its maximum number of mount points."},
	"ANS1598E": {en: "-deltype=all is used to delete an entire directory tree. You must specify a fully wildcard directory."},
	"ANS1115W": {en: "File '%s' excluded by Include/Exclude list"},
	"ANS1081E": {en: "Invalid search file specification '%s' entered", verified: true},
}

// severity is the last letter of a message ID.
func severity(id string) byte { return id[len(id)-1] }

// rcFor maps the highest severity seen to the client's exit code: I -> 0,
// W -> 8, E/S -> 12 (4 is for skipped files and set separately).
func rcFor(sev byte, skipped bool) int {
	switch sev {
	case 'E', 'S':
		return 12
	case 'W':
		return 8
	}
	if skipped {
		return 4
	}
	return 0
}

func sevRank(s byte) int {
	switch s {
	case 'I':
		return 1
	case 'W':
		return 2
	case 'E':
		return 3
	case 'S':
		return 4
	}
	return 0
}

// text renders a message line for the active product and language.
func (c *client) text(id string, args ...any) string {
	m, ok := catalog[id]
	if !ok {
		return id + " " + fmt.Sprint(args...)
	}
	t := m.en
	if c.german && m.de != "" {
		t = m.de
	}
	t = strings.ReplaceAll(t, "{P}", c.ver.serverProduct())
	if id == "ANS1029E" && c.ver.ans1029 != "" {
		t = c.ver.ans1029
	}
	if len(args) > 0 {
		t = fmt.Sprintf(t, args...)
	}
	return id + " " + t
}

// msg prints a message and raises the return code to its severity. ANS1092W
// goes to stderr, as observed on real clients; DSMSIM_STDERR moves all warnings
// and errors there ("errors") or keeps everything on stdout ("none").
func (c *client) msg(id string, args ...any) {
	s := severity(id)
	if id == "ANS1115W" {
		// IBM, return codes: rc 4 is "some files were not processed … the
		// file satisfies an entry in an exclude list", "no other errors or
		// warnings", so the exclude warning itself ends in rc 4, not 8
		// (https://www.ibm.com/docs/en/storage-protect/8.1.10?topic=clients-return-codes-from-command-line-interface).
		c.skipped = true
		s = 'I'
	}
	if sevRank(s) > sevRank(c.maxSev) {
		c.maxSev = s
	}
	line := c.text(id, args...)
	toErr := false
	switch c.stderrMode {
	case "none":
	case "errors":
		toErr = s == 'W' || s == 'E' || s == 'S'
	default:
		toErr = id == "ANS1092W"
	}
	if toErr {
		_ = c.out.Flush()
		_, _ = fmt.Fprintln(c.errw, line)
		return
	}
	_, _ = fmt.Fprintln(c.out, line)
	_ = c.out.Flush()
}

// printf writes to stdout. Output is flushed at once, like the real client's
// line-by-line progress, so a watcher sees a transfer start while it runs.
func (c *client) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(c.out, format, args...)
	_ = c.out.Flush()
}

// diag writes a simulator diagnostic (not something the real client prints).
func (c *client) diag(format string, args ...any) {
	_ = c.out.Flush()
	_, _ = fmt.Fprintf(c.errw, "dsmc-sim: "+format+"\n", args...)
}
