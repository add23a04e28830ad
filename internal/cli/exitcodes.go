package cli

// Exit codes, one table for every command (README.md lists them too):
//
//	0    success
//	1    the command failed (a provider failed its test, a request was refused, …)
//	2    usage: an unknown command or flag, a missing or bad argument
//	3    conflict: the home is already served by another gateway
//	4    the gateway refused the admin key (401)
//	5    no gateway answers where the command looked
//	127  exec: the command could not be started
//	128+N  exec/serve: ended by signal N (130 for Ctrl-C)
//
// exec otherwise exits with its command's own code.
const (
	exitConflict    = 3
	exitAuth        = 4
	exitUnavailable = 5
)
