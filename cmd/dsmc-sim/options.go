package main

import (
	"strings"
)

type optKind int

const (
	optFlag  optKind = iota // -noprompt
	optValue                // -servername=X
	optYesNo                // -subdir=yes
)

// optDef is one client option. min is the length of the capitalised part of
// IBM's syntax diagram: any prefix at least that long names the option.
type optDef struct {
	name   string
	min    int
	kind   optKind
	values []string // allowed values (lower case) for enumerated options
}

var optionDefs = []optDef{
	{name: "asnodename", min: 6, kind: optValue},
	{name: "compression", min: 9, kind: optYesNo},
	{name: "compressalways", min: 9, kind: optYesNo},
	{name: "dateformat", min: 4, kind: optValue, values: []string{"0", "1", "2", "3", "4", "5", "6", "7"}},
	{name: "deletefiles", min: 7, kind: optFlag},
	{name: "deltype", min: 3, kind: optValue, values: []string{"active", "inactive", "all"}},
	{name: "detail", min: 3, kind: optFlag},
	{name: "dirsonly", min: 2, kind: optFlag},
	{name: "dynamicimage", min: 8, kind: optYesNo},
	{name: "errorlogname", min: 9, kind: optValue},
	{name: "filelist", min: 5, kind: optValue},
	{name: "filesonly", min: 6, kind: optFlag},
	{name: "fromnode", min: 5, kind: optValue},
	{name: "fromowner", min: 5, kind: optValue},
	{name: "imagetofile", min: 7, kind: optFlag},
	{name: "inactive", min: 3, kind: optFlag},
	{name: "incremental", min: 5, kind: optFlag},
	{name: "latest", min: 3, kind: optFlag},
	{name: "mode", min: 3, kind: optValue, values: []string{"selective", "incremental"}},
	{name: "noprompt", min: 3, kind: optFlag},
	{name: "numberformat", min: 3, kind: optValue, values: []string{"0", "1", "2", "3", "4", "5", "6"}},
	{name: "objtype", min: 3, kind: optValue, values: []string{"file", "image"}},
	{name: "optfile", min: 7, kind: optValue},
	{name: "password", min: 3, kind: optValue},
	{name: "pick", min: 2, kind: optFlag},
	{name: "pitdate", min: 4, kind: optValue},
	{name: "pittime", min: 4, kind: optValue},
	{name: "querysummary", min: 12, kind: optFlag},
	{name: "quiet", min: 5, kind: optFlag},
	{name: "replace", min: 3, kind: optValue, values: []string{"yes", "no", "all", "prompt"}},
	{name: "scrolllines", min: 7, kind: optValue},
	{name: "scrollprompt", min: 7, kind: optYesNo},
	{name: "servername", min: 2, kind: optValue},
	{name: "snapshotproviderimage", min: 17, kind: optValue, values: []string{"none", "linux_lvm"}},
	{name: "subdir", min: 2, kind: optYesNo},
	{name: "tapeprompt", min: 5, kind: optYesNo},
	{name: "timeformat", min: 4, kind: optValue, values: []string{"0", "1", "2", "3", "4"}},
	{name: "verbose", min: 2, kind: optFlag},
	{name: "verifyimage", min: 7, kind: optFlag},
	{name: "virtualnodename", min: 8, kind: optValue},
}

// globalOptions are accepted by every command.
var globalOptions = []string{
	"servername", "optfile", "asnodename", "password", "virtualnodename",
	"dateformat", "timeformat", "numberformat", "quiet", "verbose", "errorlogname",
	"scrollprompt", "scrolllines", "tapeprompt", "compression", "compressalways",
}

// lookupOption resolves an abbreviated option name.
func lookupOption(name string) *optDef {
	name = strings.ToLower(name)
	for i := range optionDefs {
		d := &optionDefs[i]
		if len(name) >= d.min && strings.HasPrefix(d.name, name) {
			return d
		}
	}
	return nil
}

// yesNo reads the yes/no spelling dsmc accepts.
func yesNo(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "y":
		return true, true
	case "no", "n":
		return false, true
	}
	return false, false
}
