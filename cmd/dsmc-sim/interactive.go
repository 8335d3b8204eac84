package main

import (
	"errors"
	"strings"
	"time"
)

// interactive is dsmc without a command: a prompt reading commands from stdin
// until quit or EOF (so stdin from /dev/null returns at once).
func (c *client) interactive() {
	initial := c.cl.options
	for {
		c.printf("%s", c.ver.prompt)
		line, err := c.readLine()
		if err != nil {
			c.printf("\n")
			return
		}
		words := splitCommandLine(line)
		if len(words) == 0 {
			continue
		}
		if w := strings.ToLower(words[0]); w == "quit" || w == "exit" {
			return
		}
		cl, err := parseCommandLine(words)
		if err != nil {
			var pe *parseError
			if errors.As(err, &pe) {
				c.msg(pe.id, pe.args...)
			}
			continue
		}
		cl.options = append(append([]option{}, initial...), cl.options...)
		if cl.def == nil {
			continue
		}
		if !cl.def.implemented {
			c.diag("the simulator does not implement the %s command", cl.def.name)
			c.rcOverride = 12
			continue
		}
		c.cl = cl
		c.setupFormats()
		c.start = time.Now()
		c.execute()
		c.printf("\n")
	}
}

// splitCommandLine splits an interactive line on blanks, honouring quotes.
func splitCommandLine(s string) []string {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	has := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote, has = r, true
		case quote == 0 && (r == ' ' || r == '\t'):
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}
