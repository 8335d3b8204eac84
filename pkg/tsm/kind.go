package tsm

import "strconv"

// Kind classifies why a dsmc run did not succeed, so that callers can map it
// to a retry policy or a gRPC code without reading message texts.
type Kind int

const (
	// KindUnknown: dsmc ended with a return code dsmc never documents and
	// no message says why.
	KindUnknown Kind = iota
	// KindAuth: the node could not log in (ANS1025E, ANS1051I, ANS2050E, ...).
	KindAuth
	// KindConnection: the server could not be reached or the session broke
	// (ANS1017E, ANS1029E, ...).
	KindConnection
	// KindNotFound: nothing on the server matches the object (restore and
	// delete only; a query with no match is an empty list, not an error).
	KindNotFound
	// KindRestartPending: a restartable restore session blocks the node
	// (ANS1330S); it must be cancelled with `dsmc cancel restore`.
	KindRestartPending
	// KindNoSpace: the server has no storage space left (ANS1311E, ANS1329S).
	KindNoSpace
	// KindTimeout: the run hit its deadline and its process group was killed.
	KindTimeout
	// KindCanceled: the caller's context was cancelled and the process group
	// was killed.
	KindCanceled
	// KindMissing: the dsmc binary was not found or is not executable.
	KindMissing
	// KindFailed: dsmc ran to completion but its return code, messages or
	// statistics do not prove that the operation succeeded.
	KindFailed
	// KindCrashed: dsmc was killed by a signal nobody in this package sent.
	KindCrashed
	// KindInvalid: the request was refused before dsmc was started (empty
	// name, wildcard in an object name, conflicting options).
	KindInvalid
	// KindBusy: the server reported a condition IBM calls temporary (all
	// sessions in use, no mount point free, session lost and being
	// re-established, ...); the same request may succeed later.
	KindBusy
	// KindNoPassword: dsmc needed the node's password and could not prompt
	// for it (ANS2050E): with PASSWORDACCESS GENERATE the password was never
	// stored on this node. Client.SeedPassword stores it.
	KindNoPassword
	// KindUnverified: dsmc reported success but the server does not hold
	// what the run should have stored (Client.Verify), or the run skipped
	// the object with only a warning (an include-exclude rule).
	KindUnverified
)

var kindNames = [...]string{
	KindUnknown:        "unknown",
	KindAuth:           "auth",
	KindConnection:     "connection",
	KindNotFound:       "not-found",
	KindRestartPending: "restart-pending",
	KindNoSpace:        "no-space",
	KindTimeout:        "timeout",
	KindCanceled:       "canceled",
	KindMissing:        "missing",
	KindFailed:         "failed",
	KindCrashed:        "crashed",
	KindInvalid:        "invalid",
	KindBusy:           "busy",
	KindNoPassword:     "no-password",
	KindUnverified:     "unverified",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}
