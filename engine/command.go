package engine

// Command is one entry of the command table: Disque's name, arity and
// flags, and the handler that runs on the event loop.
//
// Arity counts the command name: N means exactly N words, -N at least N, 0
// disables the check (COMMAND). The handler never re-checks it.
type Command struct {
	Name    string // lower case, as COMMAND and error messages show it
	Arity   int
	Flags   Flag
	Handler func(s *Session, args [][]byte)
	id      int // index in the per-loop command stats
	// shardCmd: the handler hands the work to shards, which time it; other
	// handlers run (and are timed) on the loop.
	shardCmd bool
}

// Flag is a command flag. Only denyoom, loading and write change behaviour;
// all are visible through COMMAND.
type Flag uint16

const (
	FlagWrite    Flag = 1 << iota // w: refused by -MISCONF after an AOF write error
	FlagReadonly                  // r
	FlagDenyOOM                   // m: refused with -OOM under memory pressure
	FlagAdmin                     // a
	FlagLoading                   // l: allowed while the AOF loads
	FlagFast                      // F
)

// flagNames lists the flags in the order COMMAND prints them.
var flagNames = [...]struct {
	f    Flag
	name string
}{
	{FlagWrite, "write"}, {FlagReadonly, "readonly"}, {FlagDenyOOM, "denyoom"},
	{FlagAdmin, "admin"}, {FlagLoading, "loading"}, {FlagFast, "fast"},
}

func parseFlags(s string) Flag {
	var f Flag
	for _, c := range s {
		switch c {
		case 'w':
			f |= FlagWrite
		case 'r':
			f |= FlagReadonly
		case 'm':
			f |= FlagDenyOOM
		case 'a':
			f |= FlagAdmin
		case 'l':
			f |= FlagLoading
		case 'F':
			f |= FlagFast
		}
	}
	return f
}

// commandTable returns Disque's command table (commands.md section 0).
// Commands that the server does not implement yet answer an explicit error
// saying so (notImplemented), never a fake success.
func commandTable() []*Command {
	c := func(name string, arity int, flags string, h func(*Session, [][]byte)) *Command {
		return &Command{Name: name, Arity: arity, Flags: parseFlags(flags), Handler: h}
	}
	cmds := []*Command{
		c("auth", -2, "rlF", cmdAuth),
		c("ping", -1, "rF", cmdPing),
		c("info", -1, "rl", cmdInfo),
		c("shutdown", -1, "arl", cmdShutdown),
		c("monitor", 1, "ar", cmdMonitor),
		c("debug", -2, "a", cmdDebug),
		c("config", -2, "ar", cmdConfig),
		c("cluster", -2, "ar", cmdCluster),
		c("client", -2, "ar", cmdClient),
		c("slowlog", -2, "r", cmdSlowlog),
		c("time", 1, "rF", cmdTime),
		c("command", 0, "rl", cmdCommand),
		c("latency", -2, "arl", cmdLatency),
		c("hello", 1, "rF", cmdHello),
		c("addjob", -4, "wmF", cmdAddJob),
		c("getjob", -2, "wF", cmdGetJob),
		c("ackjob", -1, "wF", cmdAckJob),
		c("fastack", -1, "wF", cmdFastAck),
		c("deljob", -1, "wF", cmdDelJob),
		c("show", 2, "rF", cmdShow),
		c("loadjob", 2, "w", cmdLoadJob),
		c("bgrewriteaof", 1, "ar", cmdBgRewriteAOF),
		c("qlen", 2, "rF", cmdQLen),
		c("qpeek", 3, "r", cmdQPeek),
		c("qstat", 2, "rF", cmdQStat),
		c("qscan", -1, "r", cmdQScan),
		c("jscan", -1, "r", cmdJScan),
		c("enqueue", -1, "mwF", cmdEnqueue),
		c("nack", -1, "mwF", cmdNack),
		c("dequeue", -1, "wF", cmdDequeue),
		c("working", 2, "wF", cmdWorking),
		c("pause", -3, "rF", cmdPause),
	}
	for _, c := range cmds {
		switch c.Name {
		case "addjob", "getjob", "ackjob", "fastack", "deljob", "show", "qlen", "qpeek", "qstat",
			"qscan", "jscan", "enqueue", "nack", "dequeue", "working", "pause":
			c.shardCmd = true
		}
	}
	return cmds
}

// lookupKey lower-cases a command name into buf for a table lookup without
// allocating. Names longer than buf cannot be commands.
func lookupKey(buf *[32]byte, name []byte) ([]byte, bool) {
	if len(name) > len(buf) {
		return nil, false
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(name)], true
}

// eqFold reports whether b equals the lower-case ASCII word w, ignoring case.
func eqFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}
