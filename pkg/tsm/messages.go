package tsm

import (
	"regexp"
	"strings"
)

// Message is one ANS message of the backup-archive client.
type Message struct {
	ID       string // e.g. "ANS1017E"
	Severity byte   // 'I', 'W', 'E' or 'S', the last letter of ID
	Text     string // the rest of the line, without continuation lines
}

// A message starts a line, possibly indented, possibly after the date and
// time that dsmsched.log and dsmerror.log put in front; the API variant
// appends "(RCnnn)" to the id. Requiring the id at that position keeps a
// file name such as "/data/ANS1234E" in a progress line from being read as
// a message.
var messageRe = regexp.MustCompile(`^\s*(?:\S+\s+\d{1,2}:\d{2}:\d{2}\s+)?(ANS\d{4}[IWES])(?:\(RC-?\d+\))?(?:\s+(.*))?$`)

// ParseMessages returns every ANS message in out, in order.
func ParseMessages(out string) []Message {
	var msgs []Message
	for _, line := range splitLines(out) {
		m := messageRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		msgs = append(msgs, Message{ID: m[1], Severity: m[1][7], Text: strings.TrimSpace(m[2])})
	}
	return msgs
}

// Message classes. The lists are the verified ids of dsmc.md §3.2 plus a
// few that are assumed (marked); an unlisted id never changes the verdict,
// it only leaves the Kind at KindFailed.
var (
	authIDs = map[string]bool{
		"ANS1025E": true, // Session rejected: Authentication failure
		"ANS1051I": true, // Invalid user id or password
		"ANS2050E": true, // needs to prompt for the password but cannot prompt
		"ANS1352E": true, // assumed: password expired
		"ANS1353E": true, // assumed: unknown or incorrect node id
		"ANS1503E": true, // assumed: valid password not available
	}
	connectionIDs = map[string]bool{
		"ANS1017E": true, // Session rejected: TCP/IP connection failure
		"ANS1029E": true, // Communication with the server is lost
		"ANS1217E": true, // Server name not found in System Options File
	}
	notFoundIDs = map[string]bool{
		"ANS1092W": true, // No files matching search criteria were found
		"ANS1092E": true, // the same in 4.x clients
		"ANS1302E": true, // No objects on server match query
		"ANS1345E": true, // No objects on the server match '<name>'
		"ANS4000E": true, // Error processing '<fs>': file space does not exist
	}
	restartIDs = map[string]bool{
		"ANS1330S": true, // This node currently has a pending restartable restore session
	}
	noSpaceIDs = map[string]bool{
		"ANS1311E": true, // Server out of data storage space
		"ANS1329S": true, // assumed: server out of data storage space (severe form)
	}
)

// classPrecedence lists the message classes from the strongest to the
// weakest; the first class with a message decides the Kind. A login problem
// comes first because dsmc reports it as a lost session too (ANS2050E is
// followed by ANS1029E). A pending restartable restore and a full server are
// explicit causes, so they beat the generic session loss that may follow
// them. Not-found is not in this list: it is weaker than all of them and
// needs extra conditions (see notFoundOnly).
var classPrecedence = []struct {
	ids  map[string]bool
	kind Kind
}{
	{authIDs, KindAuth},
	{restartIDs, KindRestartPending},
	{noSpaceIDs, KindNoSpace},
	{connectionIDs, KindConnection},
}

// classify returns the strongest message class present, or KindUnknown.
func classify(msgs []Message) Kind {
	for _, c := range classPrecedence {
		for _, m := range msgs {
			if c.ids[m.ID] {
				return c.kind
			}
		}
	}
	return KindUnknown
}

// notFoundOnly reports whether some message says that nothing matches and
// every error-level message is of that sort. Not-found is what makes a
// delete idempotent for a CSI caller, so it must not be concluded when any
// other error was reported alongside.
func notFoundOnly(msgs []Message) bool {
	found := false
	for _, m := range msgs {
		if notFoundIDs[m.ID] {
			found = true
			continue
		}
		if isErrorSeverity(m) {
			return false
		}
	}
	return found
}

func hasNotFound(msgs []Message) bool {
	for _, m := range msgs {
		if notFoundIDs[m.ID] {
			return true
		}
	}
	return false
}

func isErrorSeverity(m Message) bool { return m.Severity == 'E' || m.Severity == 'S' }

func hasErrorSeverity(msgs []Message) bool {
	for _, m := range msgs {
		if isErrorSeverity(m) {
			return true
		}
	}
	return false
}
