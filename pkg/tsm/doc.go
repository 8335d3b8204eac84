// Package tsm drives the IBM Storage Protect (formerly Tivoli Storage
// Manager) backup-archive command line client, dsmc. It is the only code in
// the project that knows dsmc's command lines and output.
//
// Every run gets -optfile=<the driver's options file> (the site's options
// with NUMBERFORMAT 1, DATEFORMAT 3, TIMEFORMAT 1 and VERBOSE pinned; the
// commands IBM lists for them also get -dateformat=3 -timeformat=1
// -numberformat=1 on the command line), runs with LANG and LC_ALL pinned to
// en_US.UTF-8 and stdin from /dev/null (or a pipe with the login prompt
// answers when Config.PasswordFile is set), is bounded by a timeout and is
// killed together with its whole process group when that expires.
//
// Beyond single commands: RestoreImageToFile restores every byte of an image
// (a restore onto a device skips sector 0, as IBM documents), DeleteAll
// removes every version and confirms it, Verify proves an upload with a
// query, SeedPassword stores the node's password without a command line.
//
// # Judging a run
//
// Success needs the return code, the ANS messages and the final statistics
// to agree (see judge for the exact rule). Per command, with "no E/S" meaning
// that no ANS message of severity E or S was printed:
//
//	command        rc 0                       rc 4 (files skipped)        rc 8 (warnings)             rc 12 / other
//	backup image   backed up >= 1, failed 0   as rc 0, and no E/S         as rc 0, and no E/S         error
//	selective      backed up >= 1, failed 0   as rc 0, and no E/S         as rc 0, and no E/S         error
//	restore image  restored >= 1, failed 0    as rc 0, and no E/S         as rc 0, and no E/S         error (not-found: KindNotFound)
//	restore        restored >= 1, failed 0    as rc 0, and no E/S         as rc 0, and no E/S         error (not-found: KindNotFound)
//	delete backup  deleted >= 1 if printed    deleted printed and >= 1,   deleted printed and >= 1,   error (not-found: KindNotFound)
//	                                          no E/S                      no E/S; ANS1092W: NotFound
//	query image    rows                       rows if no E/S              rows if no E/S; ANS1092W    error; only no-match
//	query backup                                                          is no error (no rows)       errors: no rows
//	query session  banner/block parsed        as rc 0 if no E/S           as rc 0 if no E/S           error
//
// "failed 0" also accepts an absent failed counter. An rc 4 or 8 is never
// accepted on the return code alone: the counter must show that our one
// object was processed, so a skipped object fails the run.
//
// # Error kinds
//
// Process-level kinds come first: KindMissing (no dsmc), KindCanceled and
// KindTimeout (the process group was killed), KindCrashed (killed by a
// signal). Otherwise the messages decide, strongest first: KindAuth
// (ANS1025E, ANS1051I, ...) > KindNoPassword (ANS2050E) > KindRestartPending
// (ANS1330S) > KindNoSpace (ANS1311E, ANS1329S) > KindBusy (ANS1351E,
// ANS0326E, ...: temporary) > KindConnection (ANS1017E, ANS1029E, ANS1217E)
// > KindNotFound (ANS1092W/E, ANS1302E, ANS1345E, ANS4000E; only
// for restore and delete, and only when no other E/S message was printed) >
// KindFailed (dsmc's documented return codes 0, 4, 8, 12) > KindUnknown (any
// other return code). A backup that printed the exclude warning is
// KindUnverified, as is a failed Verify. MessageKind gives the kind of one
// id; docs/ans-codes.md lists them with their gRPC codes.
//
// # Secrets
//
// The password, when one is configured, is read from Config.PasswordFile at
// every run and written only to the child's stdin pipe. It is removed from
// the captured output before anything is parsed, logged or returned, and
// logged command lines have any -password= value replaced by "***".
package tsm
