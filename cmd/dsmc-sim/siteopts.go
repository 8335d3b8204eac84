package main

import (
	"path/filepath"
	"strings"
)

// Options read from the options files that the command line does not carry.
// IBM lets most client options stand in dsm.opt (client user options) and
// lets the server push a client option set that the client applies as if it
// were in its own options ("Client options that can be set by the server",
// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=reference-client-options-that-can-be-set-by-server;
// the simulator's copy of that set is $DSMSIM_ROOT/cloptset, one option per
// line, same syntax as dsm.opt).

// canonicalOptKey resolves an abbreviated option name from an options file
// ("num 4" is IBM's own example on the Numberformat page) to its full name;
// names the simulator does not know stay as written.
func canonicalOptKey(k string) string {
	if d := lookupOption(k); d != nil {
		return d.name
	}
	return k
}

// excludeRule is one EXCLUDE or EXCLUDE.IMAGE line.
type excludeRule struct {
	image   bool // EXCLUDE.IMAGE
	pattern string
}

// addSiteOption records a key the simulator interprets beyond plain values:
// QUIET/VERBOSE (the last one wins, IBM Quiet page:
// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=reference-quiet) and
// the include-exclude rules, which can repeat.
func (cfg *dsmConfig) addSiteOption(k, v string) {
	switch k {
	case "quiet", "verbose":
		cfg.opt["quiet/verbose"] = k
	case "exclude", "exclude.file":
		cfg.excludes = append(cfg.excludes, excludeRule{pattern: unquote(v)})
	case "exclude.image":
		cfg.excludes = append(cfg.excludes, excludeRule{image: true, pattern: unquote(v)})
	}
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// loadServerOptionSet applies the server's client option set on top of the
// options file. IBM: options in a client option set defined with FORCE=YES
// override the client's; the simulator treats every pushed option so.
func (cfg *dsmConfig) loadServerOptionSet(root string) {
	if root == "" {
		return
	}
	_ = readOptionLines(filepath.Join(root, "cloptset"), func(k, v string) {
		k = canonicalOptKey(k)
		cfg.opt[k] = v
		cfg.addSiteOption(k, v)
	})
}

// excluded reports whether an include-exclude rule excludes name. Patterns
// follow IBM's include-exclude wildcards in the simplest form the simulator
// needs: "*" and "?" within a path element, "..." for any directories
// (assumed subset of "Include-exclude options",
// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=reference-include-exclude-options).
func (cfg *dsmConfig) excluded(name string, image bool) bool {
	for _, r := range cfg.excludes {
		if r.image != image {
			continue
		}
		if matchExclude(r.pattern, name) {
			return true
		}
	}
	return false
}

func matchExclude(pattern, name string) bool {
	if strings.Contains(pattern, "...") {
		pre, post, _ := strings.Cut(pattern, "...")
		if !strings.HasPrefix(name, pre) {
			return false
		}
		rest := strings.TrimPrefix(name, pre)
		for {
			if ok, _ := filepath.Match(strings.TrimPrefix(post, "/"), rest); ok {
				return true
			}
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				return false
			}
			rest = rest[i+1:]
		}
	}
	ok, _ := filepath.Match(pattern, name)
	return ok
}

// quietFromOptions resolves QUIET/VERBOSE: the command line wins, the last of
// the two there; else the options files.
func (c *client) quietFromOptions() bool {
	q, set := false, false
	for _, o := range c.cl.options {
		switch o.def.name {
		case "quiet":
			q, set = true, true
		case "verbose":
			q, set = false, true
		}
	}
	if set {
		return q
	}
	return c.cfg != nil && c.cfg.opt["quiet/verbose"] == "quiet"
}

// formatOptionCommands are, per option, the commands IBM lists as valid for
// it ("You can use the numberformat option with the following commands",
// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=reference-numberformat;
// the Dateformat and Timeformat pages carry the same kind of list plus query
// filespace, https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=reference-dateformat,
// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=reference-timeformat).
// Linux-relevant entries only.
var formatOptionCommands = map[string][]string{
	"numberformat": {"DELETE ARCHIVE", "DELETE BACKUP", "EXPIRE", "QUERY ARCHIVE", "QUERY BACKUP", "QUERY IMAGE", "QUERY NAS", "RESTORE", "RESTORE IMAGE", "RESTORE NAS", "RETRIEVE", "SET EVENT"},
	"dateformat":   {"DELETE ARCHIVE", "DELETE BACKUP", "EXPIRE", "QUERY ARCHIVE", "QUERY BACKUP", "QUERY FILESPACE", "QUERY IMAGE", "QUERY NAS", "RESTORE", "RESTORE IMAGE", "RESTORE NAS", "RETRIEVE", "SET EVENT"},
	"timeformat":   {"DELETE ARCHIVE", "DELETE BACKUP", "EXPIRE", "QUERY ARCHIVE", "QUERY BACKUP", "QUERY FILESPACE", "QUERY IMAGE", "QUERY NAS", "RESTORE", "RESTORE IMAGE", "RESTORE NAS", "RETRIEVE", "SET EVENT"},
}

// strictOptionCheck refuses a format option on a command IBM does not list
// for it when DSMSIM_OPTION_CHECK=strict. Whether a real client refuses them
// is not documented either way (assumed); ANS1108E "Invalid option … for the
// … function" is the refusal the simulator already prints for options of
// other commands (its wording is unverified).
func (c *client) strictOptionCheck() bool {
	if !strings.EqualFold(c.getenv("DSMSIM_OPTION_CHECK"), "strict") || c.cl.def == nil {
		return true
	}
	for _, o := range c.cl.options {
		cmds, ok := formatOptionCommands[o.def.name]
		if !ok {
			continue
		}
		valid := false
		for _, n := range cmds {
			if n == c.cl.def.name {
				valid = true
			}
		}
		if !valid {
			c.printf("\n")
			c.msg("ANS1108E", o.raw, c.cl.def.name)
			return false
		}
	}
	return true
}

// languageGerman reports whether LANGUAGE in the options selects German.
// IBM documents LANGUAGE for Windows ("Language",
// https://www.ibm.com/docs/en/storage-protect/8.2.2?topic=options-format-language);
// that a Linux client honours it from dsm.opt is assumed, so that a site
// options file cannot be trusted to leave the language alone.
func (cfg *dsmConfig) languageGerman() bool {
	v := strings.ToLower(cfg.opt["language"])
	return strings.HasPrefix(v, "de")
}
