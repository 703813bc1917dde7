package engine

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"disq/engine/config"
	"disq/netpoll/resp"
)

// gatherLoops runs fn on every event loop (for sessions living there) and
// then done on s's loop with the results, in loop order. The request keeps
// its reply slot meanwhile, so the client's replies stay in order.
func (s *Session) gatherLoops(fn func(ls *loopState) []byte, done func(s *Session, sl *slot, parts [][]byte)) {
	loops := s.e.loopList()
	_, sl := s.alloc()
	parts := make([][]byte, len(loops))
	remaining := len(loops)
	home := s.ls.loop
	for i, ls := range loops {
		_ = ls.loop.ExecuteFunc(func() {
			p := fn(ls)
			_ = home.ExecuteFunc(func() {
				parts[i] = p
				if remaining--; remaining == 0 && !s.closed {
					done(s, sl, parts)
					s.finish(sl)
					s.flush()
				}
			})
		})
	}
}

// CLIENT LIST | KILL | SETNAME | GETNAME | PAUSE | REPLY
func cmdClient(s *Session, args [][]byte) {
	sub := args[1]
	switch {
	case eqFold(sub, "list") && len(args) == 2:
		s.gatherLoops(func(ls *loopState) []byte {
			var b []byte
			now := time.Now()
			for _, x := range ls.sessionsByID() {
				b = x.appendClientInfo(b, now)
			}
			return b
		}, func(s *Session, sl *slot, parts [][]byte) {
			sl.buf = resp.AppendBulk(sl.buf[:0], bytes.Join(parts, nil))
		})
	case eqFold(sub, "kill"):
		clientKill(s, args)
	case eqFold(sub, "setname") && len(args) == 3:
		name := args[2]
		for _, c := range name {
			if c < '!' || c > '~' {
				s.replyError("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
		}
		s.name = string(name)
		s.replyOK()
	case eqFold(sub, "getname") && len(args) == 2:
		if s.name == "" {
			b := s.reply()
			*b = resp.AppendNullBulk(*b)
			return
		}
		s.replyBulk([]byte(s.name))
	case eqFold(sub, "pause") && len(args) == 3:
		ms, msg := parseTimeout(args[2])
		if msg != "" {
			s.replyError(msg)
			return
		}
		until := time.Now().Add(time.Duration(ms) * time.Millisecond).UnixMilli()
		for {
			old := s.e.pauseUntil.Load()
			if until <= old || s.e.pauseUntil.CompareAndSwap(old, until) {
				break
			}
		}
		s.replyOK()
	case eqFold(sub, "reply") && len(args) == 3:
		switch {
		case eqFold(args[2], "on"):
			s.replyOff = false
			s.mute = false
			s.replyOK()
		case eqFold(args[2], "off"):
			s.replyOff = true
			s.mute = true
		case eqFold(args[2], "skip"):
			if !s.replyOff {
				s.skipNext = true
			}
			s.mute = true
		default:
			s.replyError(errSyntax)
		}
	default:
		s.replyError("ERR Syntax error, try CLIENT (LIST | KILL ip:port | GETNAME | SETNAME connection-name)")
	}
}

// sessionsByID returns the loop's live sessions ordered by client ID.
func (ls *loopState) sessionsByID() []*Session {
	out := make([]*Session, 0, len(ls.sessions))
	for x := range ls.sessions {
		if !x.closed {
			out = append(out, x)
		}
	}
	for i := 1; i < len(out); i++ {
		for k := i; k > 0 && out[k].id < out[k-1].id; k-- {
			out[k], out[k-1] = out[k-1], out[k]
		}
	}
	return out
}

// appendClientInfo appends the CLIENT LIST line of x (on x's loop).
func (x *Session) appendClientInfo(b []byte, now time.Time) []byte {
	flags := ""
	if x.monitor {
		flags += "O"
	}
	if x.blocking || x.barrierOn || x.replOn {
		flags += "b" // (a GETJOB that may block is outstanding)
	}
	if x.closeAfter {
		flags += "c"
	}
	if flags == "" {
		flags = "N"
	}
	events := "r"
	if x.conn.OutboundBuffered() > 0 {
		events = "rw"
	}
	cmd := x.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	b = append(b, "id="...)
	b = strconv.AppendUint(b, x.id, 10)
	b = append(b, " addr="...)
	b = append(b, x.conn.RemoteAddr()...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(x.conn.Fd()), 10)
	b = append(b, " name="...)
	b = append(b, x.name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(x.created).Seconds()), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, int64(now.Sub(x.lastActive).Seconds()), 10)
	b = append(b, " flags="...)
	b = append(b, flags...)
	b = append(b, " qbuf="...)
	b = strconv.AppendInt(b, int64(x.conn.InboundBuffered()), 10)
	b = append(b, " qbuf-free=0 obl="...)
	b = strconv.AppendInt(b, int64(len(x.out)), 10)
	b = append(b, " oll="...)
	b = strconv.AppendInt(b, int64(x.pending()), 10)
	b = append(b, " omem="...)
	b = strconv.AppendInt(b, int64(x.conn.OutboundBuffered()), 10)
	b = append(b, " events="...)
	b = append(b, events...)
	b = append(b, " cmd="...)
	b = append(b, cmd...)
	return append(b, '\n')
}

// CLIENT KILL ip:port | CLIENT KILL [ID n] [TYPE normal] [ADDR ip:port] [SKIPME yes|no]
func clientKill(s *Session, args [][]byte) {
	if len(args) == 3 {
		addr := string(args[2])
		s.gatherLoops(func(ls *loopState) []byte {
			for x := range ls.sessions {
				if !x.closed && x.conn.RemoteAddr() == addr {
					x.kill(s)
					return []byte{1}
				}
			}
			return nil
		}, func(s *Session, sl *slot, parts [][]byte) {
			for _, p := range parts {
				if len(p) > 0 {
					sl.buf = resp.AppendSimple(sl.buf[:0], "OK")
					return
				}
			}
			sl.buf = resp.AppendError(sl.buf[:0], "ERR No such client")
		})
		return
	}
	var (
		id     uint64
		hasID  bool
		addr   string
		skipme = true
	)
	if len(args) < 4 || len(args)%2 != 0 {
		s.replyError(errSyntax)
		return
	}
	for i := 2; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		switch {
		case eqFold(k, "id"):
			n, ok := parseInt(v)
			if !ok || n < 0 {
				s.replyError(errNotInteger)
				return
			}
			id, hasID = uint64(n), true
		case eqFold(k, "type"):
			if !eqFold(v, "normal") {
				s.replyError("ERR Unknown client type '" + string(v) + "'")
				return
			}
		case eqFold(k, "addr"):
			addr = string(v)
		case eqFold(k, "skipme"):
			switch {
			case eqFold(v, "yes"):
				skipme = true
			case eqFold(v, "no"):
				skipme = false
			default:
				s.replyError(errSyntax)
				return
			}
		default:
			s.replyError(errSyntax)
			return
		}
	}
	s.gatherLoops(func(ls *loopState) []byte {
		n := 0
		for x := range ls.sessions {
			if x.closed || (hasID && x.id != id) || (addr != "" && x.conn.RemoteAddr() != addr) || (skipme && x == s) {
				continue
			}
			x.kill(s)
			n++
		}
		return []byte(strconv.Itoa(n))
	}, func(s *Session, sl *slot, parts [][]byte) {
		total := 0
		for _, p := range parts {
			n, _ := strconv.Atoi(string(p))
			total += n
		}
		sl.buf = resp.AppendInt(sl.buf[:0], int64(total))
	})
}

// kill closes x (on its loop); the killer itself is closed after its reply.
func (x *Session) kill(by *Session) {
	if x == by {
		x.closeAfter = true
		return
	}
	x.closeNow()
}

// clientPaused reports whether CLIENT PAUSE holds clients now, and for how long.
func (e *Engine) clientPaused() (time.Duration, bool) {
	until := e.pauseUntil.Load()
	if until == 0 {
		return 0, false
	}
	d := time.Until(time.UnixMilli(until))
	if d <= 0 {
		e.pauseUntil.CompareAndSwap(until, 0)
		return 0, false
	}
	return d, true
}

// ---- MONITOR -------------------------------------------------------------

func cmdMonitor(s *Session, args [][]byte) {
	if s.monitor {
		return // a second MONITOR is silently ignored
	}
	s.monitor = true
	s.ls.newMonitors = append(s.ls.newMonitors, s) // after this pass's lines
	s.e.monitors.Add(1)
	s.replyOK()
}

// feedMonitors formats a command for the monitors (called on the loop that
// ran it; lines go out at the end of the pass).
func (s *Session) feedMonitors(args [][]byte) {
	now := time.Now()
	b := s.ls.monOut
	b = append(b, '+')
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '.')
	us := now.Nanosecond() / 1000
	b = append(b, strconv.Itoa(1000000 + us)[1:]...)
	b = append(b, " ["...)
	b = append(b, s.conn.RemoteAddr()...)
	b = append(b, ']')
	for i, a := range args {
		b = append(b, ' ')
		if i >= 1 && eqFold(args[0], "auth") {
			b = append(b, `"(redacted)"`...)
			continue
		}
		b = append(b, strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(config.Repr(string(a)))...)
	}
	s.ls.monOut = append(b, '\r', '\n')
}

// flushMonitors sends the pass's monitor lines to every loop with monitors.
func (ls *loopState) flushMonitors() {
	defer func() {
		ls.monitors = append(ls.monitors, ls.newMonitors...)
		clear(ls.newMonitors)
		ls.newMonitors = ls.newMonitors[:0]
	}()
	if len(ls.monOut) == 0 {
		return
	}
	lines := append([]byte(nil), ls.monOut...)
	ls.monOut = ls.monOut[:0]
	for _, other := range ls.e.loopList() {
		o := other
		_ = o.loop.ExecuteFunc(func() {
			live := o.monitors[:0]
			for _, m := range o.monitors {
				if m.closed {
					continue
				}
				m.conn.Write(lines)
				live = append(live, m)
			}
			clear(o.monitors[len(live):])
			o.monitors = live
		})
	}
}
