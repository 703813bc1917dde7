package engine

import "disq/shard"

// Every error line the server sends is defined here (spec commands.md
// section 6), so client-visible texts live in one place. Values include the
// prefix and exclude the CRLF.
const (
	errSyntax         = "ERR syntax error"
	errNoAuth         = "NOAUTH Authentication required."
	errInvalidPass    = "ERR invalid password"
	errNoPassSet      = "ERR Client sent AUTH, but no password is set"
	errWrongPass      = "WRONGPASS invalid username-password pair or user is disabled."
	errOOM            = "OOM command not allowed when used memory > 'maxmemory'."
	errMaxClients     = "ERR max number of clients reached"
	errBadID          = "BADID Invalid Job ID format."
	errNoJob          = "NOJOB Job not known in the context of this node."
	errTooLate        = "TOOLATE Half of job TTL already elapsed, you are no longer allowed to postpone the next delivery."
	errAcked          = "ACKED Job already acknowledged."
	errPaused         = "PAUSED Queue paused in input, try later"
	errMaxLen         = "MAXLEN Queue is already longer than the specified MAXLEN count"
	errNoRepl         = "NOREPL Not enough reachable nodes for the requested replication level"
	errNoReplOOM      = "NOREPL Not enough reachable nodes for the requested replication level, since I'm unable to hold a copy of the message for the following reason: I'm out of memory"
	errNoReplLeaving  = "NOREPL Not enough reachable nodes for the requested replication level, since I'm unable to hold a copy of the message for the following reason: I'm leaving the cluster"
	errNoReplRemoved  = "NOREPL job removed (expired?) before the requested replication level was achieved"
	errLeaving        = "LEAVING This node is leaving the cluster, please connect to a different one"
	errReplicate      = "ERR REPLICATE must be between 1 and 65535"
	errTTL            = "ERR TTL must be a number > 0"
	errRetry          = "ERR RETRY time must be a non negative number"
	errDelay          = "ERR DELAY time must be a non negative number"
	errMaxLenArg      = "ERR MAXLEN must be a positive number"
	errRetryRepl      = "ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)"
	errDelayTTL       = "ERR The specified DELAY is greater than TTL. Job refused since would never be delivered"
	errIDCollision    = "ERR Internal error creating the job, check server logs"
	errTimeoutInt     = "ERR timeout is not an integer or out of range"
	errTimeoutNeg     = "ERR timeout is negative"
	errCount          = "ERR COUNT must be a number greater than zero"
	errNotInteger     = "ERR value is not an integer or out of range"
	errCursor         = "ERR invalid cursor or option name"
	errStateName      = "ERR Invalid job state name"
	errReplyType      = "ERR Invalid REPLY type, try ID or ALL"
	errLoadJob        = "ERR LOADJOB is a special command only processed from AOF"
	errTooLarge       = "ERR value out of range: must be at most 2147483647 seconds"
	errCommandSub     = "ERR Unknown subcommand or wrong number of arguments."
	errDebugSleepTime = "ERR value is not a valid float"
	errRewriteBusy    = "ERR Background append only file rewriting already in progress" // BGREWRITEAOF, DEBUG LOADAOF
)

// errUnknownCommand formats the unknown-command error with the name as sent.
func errUnknownCommand(name []byte) string { return "ERR unknown command '" + string(name) + "'" }

// errArity formats the arity error with the table name.
func errArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// errNotImplemented answers commands of the spec that this server does not
// implement yet: an explicit error, never a fake success.
func errNotImplemented(what string) string {
	return "ERR " + what + " is not implemented yet in disq"
}

// codeError maps a shard outcome code to its error line.
func codeError(c shard.Code) string {
	switch c {
	case shard.ErrMaxLen:
		return errMaxLen
	case shard.ErrPaused:
		return errPaused
	case shard.ErrNoJob:
		return errNoJob
	case shard.ErrTooLate:
		return errTooLate
	case shard.ErrAcked:
		return errAcked
	case shard.ErrIDCollision:
		return errIDCollision
	case shard.ErrRemoved:
		return errNoReplRemoved
	case shard.ErrLeaving:
		return errLeaving
	case shard.ErrOOM:
		return errOOM
	case shard.ErrQuota:
		return "" // the reply bytes carry the line
	case shard.ErrNoReplTimeout:
		return "NOREPL Timeout reached before replicating to the requested number of nodes"
	}
	return "ERR internal error"
}

func errNoPerm(tenant, cmd string) string {
	return "NOPERM tenant '" + tenant + "' may not run '" + cmd + "': node-wide commands belong to the default tenant"
}
