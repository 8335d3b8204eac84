package tsm

import (
	"fmt"
	"strings"
)

// command is one dsmc command line before the common options are added.
type command struct {
	op    string   // the dsmc command, for errors and logs
	class opClass  // how its result is judged
	words []string // command words and command-specific options
	names []string // positional arguments: object names, destinations
	// formats: IBM lists -dateformat, -timeformat and -numberformat as
	// valid for this command (see optfile.go); the others get them from the
	// driver's options file only.
	formats bool
	// image: a backup image, whose compression comes from dsm.sys only.
	image bool
}

// argv builds "<command words> <command options> <common options> <names>".
// -fromnode is only meaningful when reading (restore, query) and
// -compression only when sending (backup), so each is passed there only.
// optfile is the driver's options file ("" in tests of the bare syntax).
func (c *Client) argv(cmd command, optfile string) ([]string, error) {
	args := append([]string{}, cmd.words...)
	if cmd.formats {
		args = append(args, formatArgs...)
	}
	if c.cfg.ServerName != "" {
		args = append(args, "-servername="+c.cfg.ServerName)
	}
	if optfile != "" {
		args = append(args, "-optfile="+optfile)
	}
	if c.cfg.AsNodeName != "" {
		args = append(args, "-asnodename="+c.cfg.AsNodeName)
	}
	if c.cfg.FromNode != "" && (cmd.class == classRestore || cmd.class == classQuery) {
		if c.cfg.AsNodeName != "" {
			return nil, fmt.Errorf("dsmc refuses -fromnode together with -asnodename")
		}
		args = append(args, "-fromnode="+c.cfg.FromNode)
	}
	if c.cfg.Compression != "" && cmd.class == classBackup {
		switch c.cfg.Compression {
		case "yes", "no":
		default:
			return nil, fmt.Errorf("compression must be \"yes\", \"no\" or empty, not %q", c.cfg.Compression)
		}
		if cmd.image {
			// -compression would be ignored (see imageCompression): refuse
			// to run rather than send a volume other than configured.
			if v, where := c.imageCompression(); v != c.cfg.Compression {
				return nil, fmt.Errorf("compression %q is configured, but backup image takes COMPRESSION from dsm.sys, "+
					"which gives %q (%s); set \"COMPRESSION %s\" in that server stanza",
					c.cfg.Compression, v, where, strings.ToUpper(c.cfg.Compression))
			}
		} else {
			args = append(args, "-compression="+c.cfg.Compression)
		}
	}
	for _, o := range []string{c.cfg.ServerName, c.cfg.OptFile, c.cfg.AsNodeName, c.cfg.FromNode} {
		if strings.ContainsAny(o, "\x00\n\r") {
			return nil, fmt.Errorf("option value %q contains a control character", o)
		}
	}
	return append(args, cmd.names...), nil
}

// checkName refuses names that dsmc would not take as one literal absolute
// path: a relative path depends on the working directory, a leading "-"
// would be an option, and "*" or "?" are wildcards that could make a
// restore or a delete match other objects.
func checkName(what, name string, wildcards bool) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", what)
	case !strings.HasPrefix(name, "/"):
		return fmt.Errorf("%s %q is not an absolute path", what, name)
	case strings.ContainsAny(name, "\x00\n\r"):
		return fmt.Errorf("%s %q contains a control character", what, name)
	case !wildcards && strings.ContainsAny(name, "*?"):
		return fmt.Errorf("%s %q contains a wildcard", what, name)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
