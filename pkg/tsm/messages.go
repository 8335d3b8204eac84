package tsm

import (
	"regexp"
	"sort"
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
	// noPasswordIDs: the stored password is missing. Sample 12 shows
	// ANS2050E followed by ANS1029E, so it must beat connection.
	noPasswordIDs = map[string]bool{
		"ANS2050E": true, // needs to prompt for the password but cannot prompt (sample 12)
	}
	// busyIDs are conditions IBM describes as temporary: retry later.
	// Message texts are from IBM's client message reference where known
	// (docs/ans-codes.md cites each); the ids marked assumed were not found
	// in a stored IBM page.
	busyIDs = map[string]bool{
		"ANS1351E": true, // Session rejected: All server sessions are currently in use (assumed id/text)
		"ANS0326E": true, // This node has exceeded its maximum number of mount points (assumed id/text)
		"ANS1312E": true, // Server media mount not possible (assumed)
		"ANS1809W": true, // session lost; the client tries to re-establish it (assumed)
		"ANS1810E": true, // the session was re-established; the operation must be retried (assumed)
		"ANS1316E": true, // server has not enough recovery log space; retry later (assumed)
	}
	// excludedIDs: the object was skipped by an include-exclude rule.
	excludedIDs = map[string]bool{
		"ANS1115W": true, // excluded by Include/Exclude list (assumed id, no IBM page found)
	}
	// failedIDs are handled explicitly but say nothing beyond "failed".
	failedIDs = map[string]bool{
		"ANS1228E": true, // Sending of object failed
		"ANS1598E": true, // -deltype=all needs a fully wildcarded directory
		"ANS1108E": true, // invalid option for this command (unverified text)
		"ANS1107E": true, // invalid option/value (unverified text)
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
	{noPasswordIDs, KindNoPassword},
	{restartIDs, KindRestartPending},
	{noSpaceIDs, KindNoSpace},
	{busyIDs, KindBusy},
	{connectionIDs, KindConnection},
}

// MessageKind returns the Kind that the ANS message id alone leads to when it
// decides a failed run: the class kinds above, KindNotFound for the no-match
// ids, KindUnverified for an exclusion, KindFailed for the other ids this
// package handles by name and KindUnknown for ids it does not know (which
// never change a verdict). docs/ans-codes.md is the same table for humans.
func MessageKind(id string) Kind {
	id = strings.ToUpper(strings.TrimSpace(id))
	for _, c := range classPrecedence {
		if c.ids[id] {
			return c.kind
		}
	}
	switch {
	case notFoundIDs[id]:
		return KindNotFound
	case excludedIDs[id]:
		return KindUnverified
	case failedIDs[id]:
		return KindFailed
	}
	return KindUnknown
}

// HandledMessageIDs lists every ANS id MessageKind knows, sorted.
func HandledMessageIDs() []string {
	var ids []string
	for _, m := range []map[string]bool{noPasswordIDs, authIDs, restartIDs, noSpaceIDs, busyIDs, connectionIDs, notFoundIDs, excludedIDs, failedIDs} {
		for id := range m {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
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
