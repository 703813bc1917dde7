package engine

import (
	"crypto/subtle"
	"time"

	"disq/netpoll"
	"disq/netpoll/resp"
)

// Handler returns the engine as a netpoll.Handler.
func (e *Engine) Handler() netpoll.Handler { return handler{e} }

type handler struct{ e *Engine }

func (h handler) Open(c netpoll.Conn) ([]byte, bool) {
	e := h.e
	e.stats.connections.Add(1)
	if e.clients.Load() >= int64(e.Config().MaxClients) {
		e.stats.rejected.Add(1)
		return resp.AppendError(nil, errMaxClients), true
	}
	e.clients.Add(1)
	ls := e.loopFor(c.Loop())
	s := newSession(e, ls, c)
	ls.sessions[s] = struct{}{}
	c.SetContext(s)
	return nil, false
}

func (h handler) Closed(c netpoll.Conn, err error) {
	s, ok := c.Context().(*Session)
	if !ok || s.closed {
		return
	}
	s.closed = true
	h.e.clients.Add(-1)
	s.t.ReleaseConnection()
	delete(s.ls.sessions, s)
	if s.ls.lastSess == s {
		s.ls.lastSess = nil
	}
	if s.multi != nil {
		s.multi.settle(s, 0)
	}
	if s.blocking || s.barrierOn || s.replOn {
		// Drop its waiters; a shard that already answered will find the
		// session closed.
		s.blockClaim.Cancel()
		for _, i := range s.blockShards {
			b := s.ls.batch(i)
			b.Ops = append(b.Ops, opCancel(s))
		}
		s.ls.push()
	}
	if s.inflightBytes != 0 {
		s.ls.inflight -= s.inflightBytes
		s.inflightBytes = 0
		s.ls.publishInflight()
	}
}

func (h handler) Traffic(c netpoll.Conn, in []byte) (int, bool) {
	s, ok := c.Context().(*Session)
	if !ok {
		return 0, true
	}
	e := h.e
	cfg := e.Config()
	if int64(len(in)) > cfg.ClientQueryBufferLimit {
		e.log.Warn("closing client over the query buffer limit", "addr", c.RemoteAddr(),
			"bytes", len(in), "limit", cfg.ClientQueryBufferLimit)
		return 0, true
	}
	used := 0
	stopped := false // parsing stopped with complete requests possibly left
	if d, paused := e.clientPaused(); paused && len(in) > 0 {
		// CLIENT PAUSE: process nothing until the deadline.
		c := s.conn
		time.AfterFunc(d, func() { _ = c.Wake() })
		return 0, false
	}
	if len(in) >= s.need {
		s.need = 0
		s.ls.lim.MaxArgs = resp.DefaultMaxArgs
		s.ls.lim.MaxBulkLen = cfg.ProtoMaxBulkLen
		for {
			if !s.canParse() {
				stopped = true
				break
			}
			if e.inflight.Load() >= e.inflightBudget() && s.pending() > 0 {
				if !s.throttled {
					s.throttled = true
					s.ls.throttled = append(s.ls.throttled, s)
				}
				stopped = true
				break
			}
			args, n, err := resp.ReadCommand(in[used:], s.args[:0], &s.ls.lim)
			if err != nil {
				s.replyError("ERR " + err.Error())
				s.closeAfter = true
				e.log.Debug("protocol error", "addr", c.RemoteAddr(), "err", err.Error())
				break
			}
			if n <= 0 {
				s.need = -n
				break
			}
			if len(args) > 0 && ((s.barrierOn && !s.sameShard(args, s.barrierShard)) ||
				(s.replOn && !eqFold(args[0], "addjob"))) {
				stopped = true // parsed again once the waiting request is answered
				break
			}
			if len(args) > 0 && eqFold(args[0], "getjob") && s.gated() {
				if d := s.admitGetJob(args); d > 0 {
					s.hold(d) // parsed again after the wait
					break
				}
			}
			used += n
			s.args = args[:0]
			if len(args) > 0 {
				s.dispatch(args)
				if s.gate.on {
					s.ungate() // the command refused the request
				}
			}
		}
	}
	now := time.Now()
	if used > 0 {
		s.ls.stats.netIn.Add(int64(used))
		s.lastActive = now
	}
	if stopped && used < len(in) && !s.closeAfter {
		s.stalled = true // flush wakes the connection when it may go on
	}
	s.ls.afterTraffic(s, now)
	s.ls.flushMonitors()
	s.flush()
	s.ls.publishInflight()
	if s.closeAfter && s.head == s.tail {
		return used, true
	}
	return used, false
}

// dispatch runs the generic request pipeline of the spec (commands.md 1.4)
// and then the command's handler. CLIENT REPLY OFF/SKIP mute whatever the
// request answers, errors included.
func (s *Session) dispatch(args [][]byte) {
	s.mute = s.replyOff || s.skipNext
	s.skipNext = false
	s.run(args)
	s.mute = false
}

func (s *Session) run(args [][]byte) {
	e := s.e
	s.ls.stats.commands.Add(1)
	name := args[0]
	if eqFold(name, "quit") {
		s.replyOK()
		s.closeAfter = true
		return
	}
	var kb [32]byte
	key, ok := lookupKey(&kb, name)
	var cmd *Command
	if ok {
		cmd = e.cmds[string(key)]
	}
	if cmd == nil {
		s.replyError(errUnknownCommand(name))
		return
	}
	if (cmd.Arity > 0 && len(args) != cmd.Arity) || (cmd.Arity < 0 && len(args) < -cmd.Arity) {
		s.replyError(errArity(cmd.Name))
		return
	}
	if !s.authed && cmd.Name != "auth" {
		s.replyError(errNoAuth)
		return
	}
	if s.tenantIdx != 0 && nodeWide(cmd, args) {
		s.replyError(errNoPerm(s.tenant, cmd.Name))
		return
	}
	if cmd.Flags&FlagDenyOOM != 0 && e.mem.oom(e.Config()) {
		s.replyError(errOOM)
		return
	}
	if cmd.Flags&FlagWrite != 0 || cmd.Name == "ping" {
		if msg := e.misconf(); msg != "" {
			s.replyError(msg)
			return
		}
	}
	s.ls.stats.cmds[cmd.id].calls.Add(1)
	s.lastCmd = cmd.Name
	s.curCmd = cmd.id
	if e.monitors.Load() > 0 && !s.monitor && cmd.Name != "monitor" {
		s.feedMonitors(args) // (a monitor's own commands, and MONITOR, are not shown)
	}
	if cmd.shardCmd {
		s.curArgs = args // the op's slot keeps a trimmed copy for the slow log
		cmd.Handler(s, args)
		s.curArgs = nil
		return
	}
	t0 := time.Now()
	cmd.Handler(s, args)
	d := time.Since(t0)
	s.ls.stats.cmds[cmd.id].usec.Add(d.Microseconds())
	if t := e.recordMicros.Load(); t >= 0 && d.Microseconds() >= t {
		e.record(cmd, args, d)
	}
}

// checkPassword compares in constant time.
func checkPassword(given []byte, want string) bool {
	return len(want) > 0 && subtle.ConstantTimeCompare(given, []byte(want)) == 1
}

// nodeWide reports whether a command acts on or shows the whole node
// (admin commands, SLOWLOG): only the default tenant may run those. A
// tenant's connection keeps its own CLIENT SETNAME/GETNAME/ID/REPLY.
func nodeWide(cmd *Command, args [][]byte) bool {
	if cmd.Name == "client" {
		sub := args[1]
		return !(eqFold(sub, "setname") || eqFold(sub, "getname") || eqFold(sub, "id") || eqFold(sub, "reply"))
	}
	return cmd.Flags&FlagAdmin != 0 || cmd.Name == "slowlog"
}
