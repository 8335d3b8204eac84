package tsm

import (
	"reflect"
	"strings"
	"testing"
)

func ids(msgs []Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestParseMessagesSamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want []string
	}{
		{"02 query session", sampleWhole(t, "02-query-session-8.1.6.txt"), []string{}},
		{"04 query archive with asnodename", sampleWhole(t, "04-query-archive-asnode-7.1.4.txt"), []string{}},
		{"05 tsm> session (indented)", dedent(sampleWhole(t, "05-query-backup-oxford-style-ddmmyyyy.txt"), 4),
			[]string{"ANS1071E", "ANS1081E"}},
		// "ANS12471" is an OCR error in the source for ANS1247I: with a
		// digit where the severity belongs it is not a message.
		{"06 restore (OCR'd ANS12471)", sample06(t, "dsmc restore /ibm/gpfs0/ /ibm/gpfsl/"), []string{}},
		{"08 ANS1092W after a table", sampleWhole(t, "08-query-archive-detail-iso-asnode.txt"), []string{"ANS1092W"}},
		{"10 TSM 4.2 ANS1092E", sample10(t, 0), []string{"ANS1092E"}},
		{"11 A first login prompts", sample11(t, "A"), []string{}},
		{"11 B stored password invalid", sample11(t, "B"), []string{"ANS1051I"}},
		{"12 dsmsched.log lines with timestamps", sampleWhole(t, "12-dsmsched-ANS2050E-background-password.txt"),
			[]string{"ANS2050E", "ANS2050E", "ANS1029E"}},
		{"13 restartable restore", sampleWhole(t, "13-restore-pending-restartable-session-ANS1330S.txt"),
			[]string{"ANS1247I", "ANS1330S"}},
		{"14 query access", sampleWhole(t, "14-set-query-delete-access.txt"), []string{"ANS1302E"}},
		{"16 dsmadmc session errors", sampleWhole(t, "16-admin-client-session-errors.txt"),
			[]string{"ANS1051I", "ANS1051I", "ANS1051I", "ANS8023E", "ANS8002I", "ANS1217E", "ANS1017E", "ANS8023E", "ANS8002I"}},
		{"17 Cinder simulator failure", sample17(t, "backup (injected failure"), []string{"ANS1228E", "ANS1063E"}},
		{"17 Cinder simulator unknown path", sample17(t, "restore/delete of unknown path"), []string{"ANS4000E"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseMessages(tc.out)
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Fatalf("ids = %v, want %v", ids(got), tc.want)
			}
			for _, m := range got {
				if m.Severity != m.ID[7] || m.Text == "" || strings.ContainsAny(m.Text, "\r\n") {
					t.Errorf("malformed %+v", m)
				}
			}
		})
	}
}

func TestParseMessagesTexts(t *testing.T) {
	got := ParseMessages(sampleWhole(t, "12-dsmsched-ANS2050E-background-password.txt"))
	want := Message{ID: "ANS1029E", Severity: 'E', Text: "Communication with the IBM Storage Protect server is lost."}
	if got[2] != want {
		t.Errorf("got %+v, want %+v", got[2], want)
	}
	got = ParseMessages(sampleWhole(t, "13-restore-pending-restartable-session-ANS1330S.txt"))
	if got[1].Text != "This node currently has a pending restartable restore session." || got[1].Severity != 'S' {
		t.Errorf("got %+v", got[1])
	}
}

func TestParseMessagesLineShapes(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []Message
	}{
		{"ANS1017E Session rejected: TCP/IP connection failure\r",
			[]Message{{"ANS1017E", 'E', "Session rejected: TCP/IP connection failure"}}},
		{"   ANS1092W No files matching search criteria were found   ",
			[]Message{{"ANS1092W", 'W', "No files matching search criteria were found"}}},
		{"ANS1025E(RC137) Session rejected: Authentication failure",
			[]Message{{"ANS1025E", 'E', "Session rejected: Authentication failure"}}},
		{"2024-09-13 08:00:00 ANS1311E Server out of data storage space",
			[]Message{{"ANS1311E", 'E', "Server out of data storage space"}}},
		{"Normal File-->  12 /data/ANS1234E [Sent]", nil},
		{"Restoring  12 /x/ANS1017E --> /y/ANS1017E [Done]", nil},
		{"ANS12471 Waiting for files from the server...", nil},
		{"ANS1234X not a severity", nil},
		{"XANS1017E glued", nil},
	} {
		got := ParseMessages(tc.line)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMessages(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func TestClassifyPrecedence(t *testing.T) {
	m := func(ids ...string) []Message {
		var out []Message
		for _, id := range ids {
			out = append(out, Message{ID: id, Severity: id[7]})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		msgs []Message
		want Kind
	}{
		{"none", nil, KindUnknown},
		{"unlisted error", m("ANS1228E"), KindUnknown},
		{"auth alone", m("ANS1025E"), KindAuth},
		{"ANS2050E is followed by ANS1029E: no stored password beats connection", m("ANS2050E", "ANS2050E", "ANS1029E"), KindNoPassword},
		{"invalid password then session failure", m("ANS1051I", "ANS1017E"), KindAuth},
		{"connection before auth in the output still auth", m("ANS1017E", "ANS1051I"), KindAuth},
		{"restart pending beats connection", m("ANS1330S", "ANS1029E"), KindRestartPending},
		{"auth beats restart pending", m("ANS1330S", "ANS1025E"), KindAuth},
		{"no space beats connection", m("ANS1029E", "ANS1311E"), KindNoSpace},
		{"restart pending beats no space", m("ANS1311E", "ANS1330S"), KindRestartPending},
		{"connection alone", m("ANS1017E"), KindConnection},
		{"not-found is not a class here", m("ANS1345E"), KindUnknown},
		{"all sessions in use", m("ANS1351E"), KindBusy},
		{"session re-established beats the session loss", m("ANS1809W", "ANS1029E", "ANS1810E"), KindBusy},
		{"no mount point", m("ANS0326E"), KindBusy},
		{"no space beats busy", m("ANS0326E", "ANS1311E"), KindNoSpace},
		{"wrong password then no prompt: auth", m("ANS1051I", "ANS2050E", "ANS1029E"), KindAuth},
	} {
		if got := classify(tc.msgs); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNotFoundOnly(t *testing.T) {
	m := func(ids ...string) []Message {
		var out []Message
		for _, id := range ids {
			out = append(out, Message{ID: id, Severity: id[7]})
		}
		return out
	}
	for _, tc := range []struct {
		msgs []Message
		want bool
	}{
		{nil, false},
		{m("ANS1092W"), true},
		{m("ANS1092E"), true},
		{m("ANS1345E"), true},
		{m("ANS1302E"), true},
		{m("ANS4000E"), true},
		{m("ANS1051I", "ANS1092W"), true},  // informational messages do not matter
		{m("ANS1213W", "ANS1092W"), true},  // nor do other warnings
		{m("ANS1345E", "ANS1228E"), false}, // another error was reported
		{m("ANS1092W", "ANS1029E"), false},
		{m("ANS1228E"), false},
	} {
		if got := notFoundOnly(tc.msgs); got != tc.want {
			t.Errorf("notFoundOnly(%v) = %v, want %v", ids(tc.msgs), got, tc.want)
		}
	}
}
