package engine

import (
	"fmt"
	"os"
	"unsafe"

	"disq/engine/job"
	"strconv"
	"time"

	"disq/engine/config"
	"disq/netpoll/resp"
	"disq/shard"
	"disq/tenant"
)

func cmdPing(s *Session, args [][]byte) {
	switch len(args) {
	case 1:
		s.replySimple("PONG")
	case 2:
		s.replyBulk(args[1])
	default:
		s.replyError(errArity("ping"))
	}
}

func cmdInfo(s *Session, args [][]byte) {
	if len(args) > 2 {
		s.replyError(errSyntax)
		return
	}
	sec := "default"
	if len(args) == 2 {
		sec = string(args[1])
	}
	var t *tenant.Tenant
	if s.e.reg.Configured() {
		t = s.t
	}
	s.replyBulk([]byte(s.e.info(sec, t)))
}

func cmdTime(s *Session, args [][]byte) {
	now := time.Now()
	b := s.reply()
	d := resp.AppendArray(*b, 2)
	d = resp.AppendBulkString(d, strconv.FormatInt(now.Unix(), 10))
	d = resp.AppendBulkString(d, strconv.Itoa(now.Nanosecond()/1000))
	*b = d
}

// COMMAND [INFO name... | COUNT]
func cmdCommand(s *Session, args [][]byte) {
	e := s.e
	switch {
	case len(args) == 1:
		b := s.reply()
		d := resp.AppendArray(*b, len(e.cmdList))
		for _, c := range e.cmdList {
			d = appendCommandInfo(d, c)
		}
		*b = d
	case eqFold(args[1], "info"):
		b := s.reply()
		d := resp.AppendArray(*b, len(args)-2)
		for _, name := range args[2:] {
			var kb [32]byte
			key, ok := lookupKey(&kb, name)
			var c *Command
			if ok {
				c = e.cmds[string(key)]
			}
			if c == nil {
				d = resp.AppendNullBulk(d)
			} else {
				d = appendCommandInfo(d, c)
			}
		}
		*b = d
	case eqFold(args[1], "count") && len(args) == 2:
		s.replyInt(int64(len(e.cmdList)))
	default:
		s.replyError(errCommandSub)
	}
}

func appendCommandInfo(d []byte, c *Command) []byte {
	d = resp.AppendArray(d, 6)
	d = resp.AppendBulkString(d, c.Name)
	d = resp.AppendInt(d, int64(c.Arity))
	n := 0
	for _, f := range flagNames {
		if c.Flags&f.f != 0 {
			n++
		}
	}
	d = resp.AppendArray(d, n)
	for _, f := range flagNames {
		if c.Flags&f.f != 0 {
			d = resp.AppendSimple(d, f.name)
		}
	}
	d = resp.AppendInt(d, 0)
	d = resp.AppendInt(d, 0)
	return resp.AppendInt(d, 0)
}

// SHUTDOWN [REWRITE-AOF]: the client gets no reply; the process exits.
func cmdShutdown(s *Session, args [][]byte) {
	rewrite := false
	switch {
	case len(args) == 1:
	case len(args) == 2 && eqFold(args[1], "rewrite-aof"):
		rewrite = true
	default:
		s.replyError(errSyntax)
		return
	}
	if s.e.opts.Shutdown == nil {
		s.replyError("ERR Errors trying to SHUTDOWN. Check logs.")
		return
	}
	s.e.log.Warn("user requested shutdown", "addr", s.conn.RemoteAddr())
	c := s.conn
	go func() {
		if err := s.e.opts.Shutdown(rewrite); err != nil {
			_ = c.Loop().ExecuteFunc(func() {
				c.Write(resp.AppendError(nil, "ERR Errors trying to SHUTDOWN. Check logs."))
			})
		}
	}()
}

// DEBUG FLUSHALL | SLEEP <seconds> | ERROR <text> | ...
func cmdDebug(s *Session, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "flushall") && len(args) == 2:
		s.flushShards()
	case eqFold(sub, "loadaof") && len(args) == 2:
		if err := s.e.debugLoadAOF(); err != nil {
			if err == errRewriteRefused {
				s.replyError(errRewriteBusy)
				return
			}
			s.e.log.Warn("DEBUG LOADAOF", "err", err)
			s.replyError("ERR")
			return
		}
		s.replyOK()
	case eqFold(sub, "sleep") && len(args) == 3:
		secs, err := strconv.ParseFloat(string(args[2]), 64)
		if err != nil {
			s.replyError(errDebugSleepTime)
			return
		}
		// DEBUG SLEEP blocks the whole server, as in Disque: every event
		// loop and every shard sleeps.
		d := time.Duration(secs * float64(time.Second))
		for _, ls := range s.e.loopList() {
			if ls != s.ls {
				_ = ls.loop.ExecuteFunc(func() { time.Sleep(d) })
			}
		}
		for _, sh := range s.e.shards {
			b := shard.GetBatch()
			b.Ops = append(b.Ops, shard.Op{Kind: shard.OpCall, Call: func(*shard.Shard) { time.Sleep(d) }})
			sh.Push(b)
		}
		time.Sleep(d)
		s.replyOK()
	case eqFold(sub, "error") && len(args) == 3:
		s.replyError(string(args[2]))
	case (eqFold(sub, "restart") || eqFold(sub, "crash-and-recover")) && len(args) <= 3:
		var delay int64
		if len(args) == 3 {
			v, ok := parseInt(args[2])
			if !ok || v < 0 {
				s.replyError(errNotInteger)
				return
			}
			delay = v
		}
		if s.e.opts.Restart == nil || s.e.opts.Restart(time.Duration(delay)*time.Millisecond, eqFold(sub, "restart")) != nil {
			s.replyError("ERR failed to restart the server. Check server logs.")
			return
		}
		// No reply: the process is replaced.
	case eqFold(sub, "structsize") && len(args) == 2:
		s.replyBulk([]byte(fmt.Sprintf("job record:%d bytes\nshard op:%d bytes\nreply item:%d bytes\n",
			unsafe.Sizeof(job.Job{}), unsafe.Sizeof(shard.Op{}), unsafe.Sizeof(shard.Reply{}))))
	default:
		s.replyError("ERR Unknown DEBUG subcommand or wrong number of arguments for '" + string(sub) + "'")
	}
}

// flushShards deletes every job and queue of this node (DEBUG FLUSHALL,
// CLUSTER RESET) and answers +OK once every shard is done and the memory
// is reclaimed.
func (s *Session) flushShards() {
	seq, sl := s.alloc()
	sl.parts = int32(len(s.e.shards))
	sl.gather = func(s *Session, _ uint32, sl *slot, r *shard.Reply, _ []byte) {
		if sl.parts--; sl.parts <= 0 {
			s.e.reclaim()
			sl.buf = resp.AppendSimple(sl.buf[:0], "OK")
			s.finish(sl)
		}
	}
	for i := range s.e.shards {
		s.opIn(s.ls.batch(i), seq, shard.OpFlush)
	}
}

// CONFIG GET | SET | RESETSTAT | REWRITE
func cmdConfig(s *Session, args [][]byte) {
	e := s.e
	sub := args[1]
	wrong := func() { s.replyError("ERR Wrong number of arguments for CONFIG " + string(sub)) }
	switch {
	case eqFold(sub, "get"):
		if len(args) != 3 {
			wrong()
			return
		}
		kv := e.Config().Get(string(args[2]))
		b := s.reply()
		d := resp.AppendArray(*b, len(kv))
		for _, x := range kv {
			d = resp.AppendBulkString(d, x)
		}
		*b = d
	case eqFold(sub, "set"):
		if len(args) != 4 {
			wrong()
			return
		}
		if eqFold(args[2], "appendonly") {
			on := eqFold(args[3], "yes")
			if !on && !eqFold(args[3], "no") {
				s.replyError("ERR Invalid argument '" + string(args[3]) + "' for CONFIG SET 'appendonly'")
				return
			}
			if err := e.setAppendOnly(on, e.Config()); err != nil {
				e.log.Warn("CONFIG SET appendonly", "err", err)
				s.replyError("ERR Unable to turn on AOF. Check server logs.")
				return
			}
		}
		if err := e.configSet(string(args[2]), string(args[3])); err != nil {
			s.replyError("ERR " + err.Error())
			return
		}
		s.replyOK()
	case eqFold(sub, "resetstat"):
		if len(args) != 2 {
			wrong()
			return
		}
		e.resetStats()
		s.replyOK()
	case eqFold(sub, "rewrite"):
		if len(args) != 2 {
			wrong()
			return
		}
		cfg := e.Config()
		if cfg.ConfigFile == "" {
			s.replyError("ERR The server is running without a config file")
			return
		}
		if err := config.Rewrite(cfg.ConfigFile, cfg); err != nil {
			s.replyError("ERR Rewriting config file: " + err.Error())
			return
		}
		s.replyOK()
	default:
		s.replyError("ERR CONFIG subcommand must be one of GET, SET, RESETSTAT, REWRITE")
	}
}

// configSet validates and swaps in a new configuration, then applies what
// takes effect at once.
func (e *Engine) configSet(name, value string) error {
	for {
		old := e.Config()
		nc, err := old.Set(name, value)
		if err != nil {
			return err
		}
		if e.cfg.CompareAndSwap(old, nc) {
			e.applyConfig(old, nc)
			return nil
		}
	}
}

// applyConfig carries out what a CONFIG SET changes at once; everything
// else is read from the current configuration where it is used.
func (e *Engine) applyConfig(old, nc *config.Config) {
	e.slowMicros.Store(nc.SlowlogLogSlowerThan)
	e.setRecordThreshold(nc)
	if old.MaxMemory != nc.MaxMemory {
		setMemoryLimit(nc.MaxMemory)
	}
	if old.Dir != nc.Dir {
		if err := os.Chdir(nc.Dir); err != nil {
			e.log.Warn("changing directory", "dir", nc.Dir, "err", err)
		}
	}
	if old.AppendFsync != nc.AppendFsync {
		if w := e.logw.Load(); w != nil {
			w.SetFsync(fsyncOf(nc))
		}
	}
	if old.LogLevel != nc.LogLevel && e.opts.SetLogLevel != nil {
		e.opts.SetLogLevel(string(nc.LogLevel))
	}
}

func (e *Engine) resetStats() {
	st := &e.stats
	st.connections.Store(0)
	st.rejected.Store(0)
	st.opsPrev.Store(0)
	st.inPrev.Store(0)
	st.outPrev.Store(0)
	for _, ls := range e.loopList() {
		ls.stats.commands.Store(0)
		ls.stats.netIn.Store(0)
		ls.stats.netOut.Store(0)
		for i := range ls.stats.cmds {
			ls.stats.cmds[i].calls.Store(0)
			ls.stats.cmds[i].usec.Store(0)
		}
	}
}

func notImplemented(what string) func(s *Session, args [][]byte) {
	return func(s *Session, args [][]byte) { s.replyError(errNotImplemented(what)) }
}
