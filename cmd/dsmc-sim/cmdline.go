package main

import (
	"fmt"
	"strings"
)

// Command kinds, used to aim injected faults.
const (
	kindBackup  = "backup"
	kindRestore = "restore"
	kindDelete  = "delete"
	kindQuery   = "query"
	kindOther   = "other"
)

type word struct {
	full string
	min  int
}

// cmdDef is one command of the grammar: its keywords (each abbreviable down to
// min characters), its canonical name, the options it takes on top of the
// global ones, and how many file specs it wants.
type cmdDef struct {
	words   []word
	name    string
	kind    string
	options []string
	minArgs int
	maxArgs int // -1: any
	run     func(c *client) error
	// implemented is false for real commands the simulator does not model.
	implemented bool
}

var restoreFileOptions = []string{"replace", "subdir", "inactive", "pitdate", "pittime", "latest", "pick", "fromnode", "fromowner", "filelist"}

var commandDefs []*cmdDef

func init() {
	w := func(ws ...any) []word {
		var out []word
		for i := 0; i < len(ws); i += 2 {
			out = append(out, word{ws[i].(string), ws[i+1].(int)})
		}
		return out
	}
	commandDefs = []*cmdDef{
		{words: w("backup", 1, "image", 1), name: "BACKUP IMAGE", kind: kindBackup, options: []string{"snapshotproviderimage", "dynamicimage", "mode"}, minArgs: 1, maxArgs: -1, run: (*client).backupImage, implemented: true},
		// A bare "backup <file>" is undocumented but used by real drivers; it is
		// treated as selective (see README).
		{words: w("backup", 1), name: "SELECTIVE", kind: kindBackup, options: []string{"subdir", "filelist", "filesonly", "dirsonly"}, minArgs: 1, maxArgs: -1, run: (*client).selective, implemented: true},
		{words: w("selective", 3), name: "SELECTIVE", kind: kindBackup, options: []string{"subdir", "filelist", "filesonly", "dirsonly"}, minArgs: 1, maxArgs: -1, run: (*client).selective, implemented: true},
		{words: w("restore", 3, "image", 1), name: "RESTORE IMAGE", kind: kindRestore, options: []string{"noprompt", "inactive", "pitdate", "pittime", "pick", "latest", "fromnode", "fromowner", "incremental", "deletefiles", "verifyimage", "imagetofile"}, minArgs: 1, maxArgs: 2, run: (*client).restoreImage, implemented: true},
		{words: w("restore", 3), name: "RESTORE", kind: kindRestore, options: restoreFileOptions, minArgs: 1, maxArgs: 2, run: (*client).restoreFiles, implemented: true},
		{words: w("delete", 3, "backup", 2), name: "DELETE BACKUP", kind: kindDelete, options: []string{"noprompt", "objtype", "deltype", "subdir", "filelist", "pick"}, minArgs: 1, maxArgs: -1, run: (*client).deleteBackup, implemented: true},
		{words: w("delete", 3, "access", 2), name: "DELETE ACCESS", kind: kindOther, options: []string{"noprompt"}, maxArgs: 0, run: (*client).deleteAccess, implemented: true},
		{words: w("query", 1, "image", 1), name: "QUERY IMAGE", kind: kindQuery, options: []string{"inactive", "pitdate", "pittime", "fromnode", "fromowner"}, maxArgs: 1, run: (*client).queryImage, implemented: true},
		{words: w("query", 1, "backup", 2), name: "QUERY BACKUP", kind: kindQuery, options: []string{"inactive", "subdir", "filesonly", "dirsonly", "detail", "fromnode", "fromowner", "pitdate", "pittime", "querysummary", "filelist"}, minArgs: 1, maxArgs: -1, run: (*client).queryBackup, implemented: true},
		{words: w("query", 1, "session", 2), name: "QUERY SESSION", kind: kindQuery, maxArgs: 0, run: (*client).querySession, implemented: true},
		{words: w("query", 1, "filespace", 1), name: "QUERY FILESPACE", kind: kindQuery, options: []string{"fromnode", "fromowner", "detail"}, maxArgs: 1, run: (*client).queryFilespace, implemented: true},
		{words: w("query", 1, "access", 1), name: "QUERY ACCESS", kind: kindQuery, maxArgs: 0, run: (*client).queryAccess, implemented: true},
		{words: w("set", 3, "access", 1), name: "SET ACCESS", kind: kindOther, minArgs: 3, maxArgs: 4, run: (*client).setAccess, implemented: true},
		{words: w("set", 3, "password", 1), name: "SET PASSWORD", kind: kindOther, minArgs: 2, maxArgs: 2, run: (*client).setPassword, implemented: true},
		{words: w("cancel", 3, "restore", 1), name: "CANCEL RESTORE", kind: kindRestore, options: []string{"noprompt"}, maxArgs: 0, run: (*client).cancelRestore, implemented: true},
	}
	// Real commands that are recognised but not modelled, so that using one gives
	// an honest "not implemented" instead of a syntax error.
	for _, ws := range [][]any{
		{"archive", 2}, {"retrieve", 3}, {"incremental", 1}, {"expire", 3}, {"help", 1},
		{"loop", 2}, {"macro", 2}, {"monitor", 3, "process", 1}, {"preview", 3},
		{"restart", 5, "restore", 1}, {"schedule", 3},
		{"query", 1, "archive", 2}, {"query", 1, "backupset", 7}, {"query", 1, "group", 1},
		{"query", 1, "inclexcl", 4}, {"query", 1, "mgmtclass", 1}, {"query", 1, "node", 1},
		{"query", 1, "options", 1}, {"query", 1, "restore", 1}, {"query", 1, "schedule", 2},
		{"query", 1, "systeminfo", 2}, {"query", 1, "vm", 2},
		{"delete", 3, "archive", 2}, {"delete", 3, "filespace", 1}, {"delete", 3, "group", 1},
		{"backup", 1, "nas", 1}, {"backup", 1, "vm", 2}, {"backup", 1, "group", 2}, {"backup", 1, "systemstate", 7}, {"backup", 1, "fastback", 5},
		{"restore", 3, "backupset", 7}, {"restore", 3, "group", 1}, {"restore", 3, "nas", 1}, {"restore", 3, "vm", 2}, {"restore", 3, "systemstate", 7},
	} {
		d := &cmdDef{words: w(ws...), kind: kindOther, maxArgs: -1}
		var names []string
		for _, x := range d.words {
			names = append(names, strings.ToUpper(x.full))
		}
		d.name = strings.Join(names, " ")
		commandDefs = append(commandDefs, d)
	}
}

func (w word) matches(tok string) bool {
	tok = strings.ToLower(tok)
	return len(tok) >= w.min && strings.HasPrefix(w.full, tok)
}

// option is one parsed -option[=value].
type option struct {
	def    *optDef
	raw    string
	value  string
	hasVal bool
}

// cmdLine is a parsed dsmc command line.
type cmdLine struct {
	def     *cmdDef
	words   []string // command words as typed
	args    []string // file specs
	options []option
}

// parseError carries the message the real client would print for a bad line.
type parseError struct {
	id   string
	args []any
}

func (e *parseError) Error() string { return fmt.Sprint(e.id, e.args) }

// parseCommandLine splits argv into options (anywhere on the line) and words,
// then matches the leading words against the grammar.
func parseCommandLine(argv []string) (*cmdLine, error) {
	cl := &cmdLine{}
	var words []string
	for _, a := range argv {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			o, err := parseOption(a)
			if err != nil {
				return nil, err
			}
			cl.options = append(cl.options, o)
			continue
		}
		words = append(words, a)
	}
	if len(words) == 0 {
		return cl, nil // interactive mode
	}
	var best *cmdDef
	for _, d := range commandDefs {
		if len(d.words) > len(words) {
			continue
		}
		ok := true
		for i, w := range d.words {
			if !w.matches(words[i]) {
				ok = false
				break
			}
		}
		if ok && (best == nil || len(d.words) > len(best.words)) {
			best = d
		}
	}
	if best == nil {
		// A group word without a valid subcommand.
		for _, d := range commandDefs {
			if len(d.words) > 1 && d.words[0].matches(words[0]) {
				if len(words) == 1 {
					return nil, &parseError{id: "ANS1138E", args: []any{strings.ToLower(words[0])}}
				}
				return nil, &parseError{id: "ANS1107E", args: []any{words[1]}}
			}
		}
		return nil, &parseError{id: "ANS1107E", args: []any{words[0]}}
	}
	cl.def = best
	cl.words = words[:len(best.words)]
	cl.args = words[len(best.words):]
	if best.implemented {
		allowed := map[string]bool{}
		for _, n := range globalOptions {
			allowed[n] = true
		}
		for _, n := range best.options {
			allowed[n] = true
		}
		for _, o := range cl.options {
			if !allowed[o.def.name] {
				return nil, &parseError{id: "ANS1108E", args: []any{o.raw, best.name}}
			}
		}
		if len(cl.args) < best.minArgs {
			return nil, &parseError{id: "ANS1079E"}
		}
		if best.maxArgs >= 0 && len(cl.args) > best.maxArgs {
			return nil, &parseError{id: "ANS1102E"}
		}
	}
	return cl, nil
}

func parseOption(a string) (option, error) {
	body := a[1:]
	name, val, hasVal := strings.Cut(body, "=")
	d := lookupOption(name)
	if d == nil {
		return option{}, &parseError{id: "ANS1107E", args: []any{a}}
	}
	o := option{def: d, raw: "-" + name, value: val, hasVal: hasVal}
	switch d.kind {
	case optFlag:
		if hasVal {
			return option{}, &parseError{id: "ANS1107E", args: []any{a}}
		}
	case optYesNo:
		if _, ok := yesNo(val); !ok {
			return option{}, &parseError{id: "ANS1107E", args: []any{a}}
		}
	case optValue:
		if !hasVal || val == "" {
			return option{}, &parseError{id: "ANS1107E", args: []any{a}}
		}
		if d.values != nil {
			lv := strings.ToLower(val)
			ok := false
			for _, v := range d.values {
				if v == lv {
					ok = true
				}
			}
			if !ok {
				return option{}, &parseError{id: "ANS1107E", args: []any{a}}
			}
			o.value = lv
		}
	}
	return o, nil
}

// opt returns the last occurrence of an option (the last one wins, as in dsmc).
func (cl *cmdLine) opt(name string) (string, bool) {
	v, ok := "", false
	for _, o := range cl.options {
		if o.def.name == name {
			v, ok = o.value, true
		}
	}
	return v, ok
}

func (cl *cmdLine) flag(name string) bool {
	_, ok := cl.opt(name)
	return ok
}

// yes returns a yes/no option's value, or def when absent.
func (cl *cmdLine) yes(name string, def bool) bool {
	v, ok := cl.opt(name)
	if !ok {
		return def
	}
	b, _ := yesNo(v)
	return b
}
