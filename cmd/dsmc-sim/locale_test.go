package main

import (
	"strings"
	"testing"
)

func TestLocale(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "f", pattern(453246, 6))
	tests := []struct {
		name string
		env  map[string]string
		args []string
		rc   int
		want []string
	}{
		{name: "english", env: map[string]string{}, args: []string{"sel", f}, rc: 0,
			want: []string{"Normal File-->       453,246 ", "Total number of bytes inspected:        442.62 KB"}},
		{name: "german LANG", env: map[string]string{"LANG": "de_DE.UTF-8", "LC_ALL": ""}, args: []string{"sel", f}, rc: 0,
			want: []string{"Normal File-->       453.246 ", "Total number of bytes inspected:        442,62 KB", "  Client date/time: "}},
		{name: "german LC_ALL wins", env: map[string]string{"LANG": "en_US.UTF-8", "LC_ALL": "de_DE.UTF-8"}, args: []string{"sel", f}, rc: 0,
			want: []string{"Normal File-->       453.246 "}},
		{name: "pinned english", env: map[string]string{"LANG": "de_DE.UTF-8", "LC_ALL": "en_US.UTF-8"}, args: []string{"sel", f}, rc: 0,
			want: []string{"Normal File-->       453,246 "}},
		// Sample 15: the German text of ANS1345E.
		{name: "german message", env: map[string]string{"LANG": "de_DE.UTF-8", "LC_ALL": ""}, args: []string{"del", "ba", "-noprompt", dir + "/none"}, rc: 12,
			want: []string{"ANS1345E Keine Objekte auf dem Server stimmen mit '" + dir + "/none' überein"}},
		{name: "english message", env: map[string]string{}, args: []string{"del", "ba", "-noprompt", dir + "/none"}, rc: 12,
			want: []string{"ANS1345E No objects on the server match '" + dir + "/none'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.runWith(runOpts{env: tc.env}, tc.args...)
			if r.rc != tc.rc {
				t.Fatalf("want rc %d\n%s", tc.rc, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("missing %q\n%s", w, r)
				}
			}
		})
	}
	// German dates default to DD.MM.YYYY; -dateformat overrides the locale.
	r := s.runWith(runOpts{env: map[string]string{"LC_ALL": "de_DE.UTF-8"}}, "q", "ba", f)
	matchLine(t, lines(r.stdout)[3], `~^  Client date/time: \d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$`)
	r = s.runWith(runOpts{env: map[string]string{"LC_ALL": "de_DE.UTF-8"}}, "q", "ba", f, "-dateformat=3", "-timeformat=1")
	matchLine(t, lines(r.stdout)[3], "~^  Client date/time: "+dt3+"$")
}

func TestStderrModes(t *testing.T) {
	s := newSim(t)
	tests := []struct {
		mode     string
		onStderr bool
		args     []string
		id       string
	}{
		{mode: "", onStderr: true, args: []string{"q", "ba", "/nothing/here"}, id: "ANS1092W"},
		{mode: "none", onStderr: false, args: []string{"q", "ba", "/nothing/here"}, id: "ANS1092W"},
		{mode: "", onStderr: false, args: []string{"del", "ba", "-noprompt", "/nothing/here"}, id: "ANS1345E"},
		{mode: "errors", onStderr: true, args: []string{"del", "ba", "-noprompt", "/nothing/here"}, id: "ANS1345E"},
	}
	for _, tc := range tests {
		r := s.runWith(runOpts{env: map[string]string{"DSMSIM_STDERR": tc.mode}}, tc.args...)
		if strings.Contains(r.stderr, tc.id) != tc.onStderr || strings.Contains(r.stdout, tc.id) == tc.onStderr {
			t.Fatalf("mode %q: %s on stderr should be %v\n%s", tc.mode, tc.id, tc.onStderr, r)
		}
	}
}
