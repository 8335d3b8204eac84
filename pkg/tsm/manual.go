package tsm

import (
	"strings"
)

// ManualRestore is the command line an administrator types on a host with a configured
// backup-archive client to restore object into dst without the driver: image objects with
// -imagetofile (every byte, first sector included: IBM, "Restore an image to file"), file
// objects with -replace=yes. It names the server stanza, the site's options file and the
// proxy node this client is configured with, but not the driver's own options file (the
// output formats it pins only matter to the driver's parser) and never a password. The words
// are quoted for a POSIX shell.
func (c *Client) ManualRestore(mode Mode, object, dst string) string {
	args := []string{"dsmc", "restore"}
	if mode == ModeImage {
		args = append(args, "image", "-imagetofile", "-noprompt")
	} else {
		args = append(args, "-replace=yes")
	}
	if c.cfg.ServerName != "" {
		args = append(args, "-servername="+c.cfg.ServerName)
	}
	if c.cfg.OptFile != "" {
		args = append(args, "-optfile="+c.cfg.OptFile)
	}
	if c.cfg.AsNodeName != "" {
		args = append(args, "-asnodename="+c.cfg.AsNodeName)
	}
	args = append(args, object, dst)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote leaves words of plain characters alone and single-quotes the others.
func shellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@%+,", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
