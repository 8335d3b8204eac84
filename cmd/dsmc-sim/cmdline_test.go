package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCommandLine(t *testing.T) {
	tests := []struct {
		argv    string
		cmd     string
		args    []string
		opts    map[string]string // option name -> value
		errID   string
		errArgs []any
	}{
		{argv: "backup image -snapshotproviderimage=none -dateformat=3 -timeformat=1 /dev/x", cmd: "BACKUP IMAGE", args: []string{"/dev/x"},
			opts: map[string]string{"snapshotproviderimage": "none", "dateformat": "3", "timeformat": "1"}},
		{argv: "b i /dev/x", cmd: "BACKUP IMAGE", args: []string{"/dev/x"}},
		{argv: "BACKUP IMAGE /dev/x -SNAPSHOTPROVIDERI=NONE", cmd: "BACKUP IMAGE", args: []string{"/dev/x"}, opts: map[string]string{"snapshotproviderimage": "none"}},
		{argv: "sel /d/f", cmd: "SELECTIVE", args: []string{"/d/f"}},
		{argv: "Selective -compression=yes /d/f", cmd: "SELECTIVE", args: []string{"/d/f"}, opts: map[string]string{"compression": "yes"}},
		{argv: "backup /d/f", cmd: "SELECTIVE", args: []string{"/d/f"}},
		{argv: "res i -noprompt /dev/a /dev/b", cmd: "RESTORE IMAGE", args: []string{"/dev/a", "/dev/b"}, opts: map[string]string{"noprompt": ""}},
		{argv: "restore image /dev/a /dev/b -noprompt", cmd: "RESTORE IMAGE", args: []string{"/dev/a", "/dev/b"}},
		{argv: "rest /d/f /d/g -rep=yes", cmd: "RESTORE", args: []string{"/d/f", "/d/g"}, opts: map[string]string{"replace": "yes"}},
		{argv: "restore -replace=ALL /d/f", cmd: "RESTORE", args: []string{"/d/f"}, opts: map[string]string{"replace": "all"}},
		{argv: "del ba -noprompt -objtype=image /dev/x", cmd: "DELETE BACKUP", args: []string{"/dev/x"}, opts: map[string]string{"objtype": "image"}},
		{argv: "delete backup /d/f -deltype=ALL -obj=FILE", cmd: "DELETE BACKUP", args: []string{"/d/f"}, opts: map[string]string{"deltype": "all", "objtype": "file"}},
		{argv: "q sess", cmd: "QUERY SESSION"},
		{argv: "Q SE -se=srv1", cmd: "QUERY SESSION", opts: map[string]string{"servername": "srv1"}},
		{argv: "query session -ser=srv1", cmd: "QUERY SESSION", opts: map[string]string{"servername": "srv1"}},
		{argv: "query session -servername=srv1", cmd: "QUERY SESSION", opts: map[string]string{"servername": "srv1"}},
		{argv: "q ba /d/p-* -inactive", cmd: "QUERY BACKUP", args: []string{"/d/p-*"}, opts: map[string]string{"inactive": ""}},
		{argv: "q im", cmd: "QUERY IMAGE"},
		{argv: "q i /dev/x -inact", cmd: "QUERY IMAGE", args: []string{"/dev/x"}},
		{argv: "query image -fromnode=other /dev/x", cmd: "QUERY IMAGE", args: []string{"/dev/x"}, opts: map[string]string{"fromnode": "other"}},
		{argv: "q fi", cmd: "QUERY FILESPACE"},
		{argv: "q a", cmd: "QUERY ACCESS"},
		{argv: "set access backup /d/* NODEB", cmd: "SET ACCESS", args: []string{"backup", "/d/*", "NODEB"}},
		{argv: "sel /d/f -asnodename=T -optfile=/x/dsm.opt -password=p", cmd: "SELECTIVE", args: []string{"/d/f"}, opts: map[string]string{"asnodename": "T", "optfile": "/x/dsm.opt", "password": "p"}},
		// errors
		{argv: "q sess -bogus=1", errID: "ANS1107E", errArgs: []any{"-bogus=1"}},
		{argv: "q sess -s=1", errID: "ANS1107E", errArgs: []any{"-s=1"}}, // -s is shorter than SErvername's capitals
		{argv: "q ba /x -noprompt", errID: "ANS1108E", errArgs: []any{"-noprompt", "QUERY BACKUP"}},
		{argv: "del ba /x -fromnode=A", errID: "ANS1108E", errArgs: []any{"-fromnode", "DELETE BACKUP"}},
		{argv: "sel /x -replace=yes", errID: "ANS1108E", errArgs: []any{"-replace", "SELECTIVE"}},
		{argv: "res /x -replace=maybe", errID: "ANS1107E", errArgs: []any{"-replace=maybe"}},
		{argv: "q sess -inactive=yes", errID: "ANS1107E", errArgs: []any{"-inactive=yes"}},
		{argv: "q", errID: "ANS1138E", errArgs: []any{"q"}},
		{argv: "q xyz", errID: "ANS1107E", errArgs: []any{"xyz"}},
		{argv: "frobnicate", errID: "ANS1107E", errArgs: []any{"frobnicate"}},
		{argv: "backup image", errID: "ANS1079E"},
		{argv: "restore image /a /b /c", errID: "ANS1102E"},
		{argv: "q sess extra", errID: "ANS1102E"},
	}
	for _, tc := range tests {
		t.Run(tc.argv, func(t *testing.T) {
			cl, err := parseCommandLine(strings.Fields(tc.argv))
			if tc.errID != "" {
				var pe *parseError
				if !errors.As(err, &pe) {
					t.Fatalf("want %s, got %v", tc.errID, err)
				}
				if pe.id != tc.errID || !reflect.DeepEqual(pe.args, tc.errArgs) {
					t.Fatalf("want %s %v, got %s %v", tc.errID, tc.errArgs, pe.id, pe.args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cl.def.name != tc.cmd {
				t.Fatalf("command %q, want %q", cl.def.name, tc.cmd)
			}
			if tc.args == nil {
				tc.args = []string{}
			}
			if got := append([]string{}, cl.args...); !reflect.DeepEqual(got, tc.args) {
				t.Fatalf("args %q, want %q", got, tc.args)
			}
			for name, want := range tc.opts {
				got, ok := cl.opt(name)
				if !ok || got != want {
					t.Fatalf("option %s = %q (present %v), want %q", name, got, ok, want)
				}
			}
		})
	}
}

func TestUnimplementedCommandsAreRecognised(t *testing.T) {
	for _, argv := range []string{"archive /x", "q sched", "del fi /x", "incr /x", "ret /x"} {
		cl, err := parseCommandLine(strings.Fields(argv))
		if err != nil {
			t.Fatalf("%s: %v", argv, err)
		}
		if cl.def.implemented {
			t.Fatalf("%s: resolved to implemented %s", argv, cl.def.name)
		}
	}
}

func TestLastOptionWins(t *testing.T) {
	cl, err := parseCommandLine([]string{"q", "sess", "-se=one", "-servername=two"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cl.opt("servername"); v != "two" {
		t.Fatalf("servername %q, want two", v)
	}
}
