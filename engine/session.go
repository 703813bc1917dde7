package engine

import (
	"encoding/binary"
	"fmt"
	"time"

	"disq/engine/config"
	"disq/netpoll"
	"disq/netpoll/resp"
	"disq/shard"
	"disq/tenant"
)

// Session is one client connection's state. It belongs to the connection's
// event loop: only that loop's goroutine touches it.
type Session struct {
	e    *Engine
	ls   *loopState
	conn netpoll.Conn
	id   uint64
	args [][]byte // reused argument slice for the parser
	need int      // bytes of input needed before parsing can progress

	// Replies are ordered by sequence number: head is the first request
	// whose reply is not written yet, tail the next number to assign. The
	// ring holds the slots of [head, tail).
	head, tail uint32
	ring       []slot
	out        []byte

	inflightBytes int64
	blocking      bool   // a GETJOB that may block is outstanding
	blockSeq      uint32 // its sequence number
	blockShards   []int  // shards holding its waiters
	blockClaim    *shard.Claim
	barrierOn     bool   // a GETJOB on barrierShard may block: only its shard's requests may follow
	replOn        bool   // ADDJOBs wait for replication: only more ADDJOBs may follow
	replSeq       uint32 // the last of them
	barrierShard  int
	barrierSeq    uint32
	stalled       bool      // parsing stopped with input left; Wake when possible
	throttled     bool      // waiting for the node-wide budget (listed in ls.throttled)
	holding       bool      // a GETJOB waits for its tenant's admission (gate.go)
	gate          gate      // what admission granted to the GETJOB being dispatched
	multi         *multiGet // the multi-shard GETJOB in progress
	closeAfter    bool      // close once every reply is written (QUIT, protocol error)
	closed        bool
	dirty         bool

	authed     bool
	t          *tenant.Tenant
	tenant     string
	tenantIdx  uint16
	name       string
	created    time.Time
	lastActive time.Time
	lastCmd    string
	softSince  time.Time
	monitor    bool
	replyOff   bool     // CLIENT REPLY OFF
	skipNext   bool     // CLIENT REPLY SKIP: mute the next command
	mute       bool     // the command being dispatched gets no reply
	curCmd     int      // table index of the command being dispatched
	curArgs    [][]byte // its arguments, while a shard command is dispatched
}

const (
	slotFree uint8 = iota
	slotWaiting
	slotReady
)

// slot is the reply position of one request.
type slot struct {
	state  uint8
	mute   bool  // CLIENT REPLY OFF/SKIP: the reply is dropped
	cmd    int16 // command index, for commandstats
	parts  int32 // parts still expected (requests spanning shards)
	acc    int64 // sum of parts (ACKJOB & co.)
	bytes  int64 // argument bytes this request holds in shards
	buf    []byte
	gather func(s *Session, seq uint32, sl *slot, r *shard.Reply, data []byte)
	ctx    any
	argv   []byte // trimmed copy of the request for the slow log (shard commands)
}

func newSession(e *Engine, ls *loopState, c netpoll.Conn) *Session {
	now := time.Now()
	s := &Session{e: e, ls: ls, conn: c, id: e.nextClientID.Add(1), created: now, lastActive: now,
		ring: make([]slot, 4)}
	def := e.reg.Default()
	def.ChargeConnection()
	s.setTenant(def)
	s.authed = e.Config().RequirePass == ""
	return s
}

func (s *Session) slot(seq uint32) *slot { return &s.ring[seq&uint32(len(s.ring)-1)] }

// pending returns the number of requests whose replies are not written.
func (s *Session) pending() int { return int(s.tail - s.head) }

// waiting reports whether the client has requests in flight or is blocked
// (the idle timeout does not apply then).
func (s *Session) waiting() bool {
	return s.head != s.tail || s.blocking || s.barrierOn || s.replOn
}

// alloc assigns the next sequence number to a request whose reply comes
// later.
func (s *Session) alloc() (uint32, *slot) {
	if s.pending() == len(s.ring) {
		r := make([]slot, len(s.ring)*2)
		for q := s.head; q != s.tail; q++ {
			r[q&uint32(len(r)-1)] = s.ring[q&uint32(len(s.ring)-1)]
		}
		s.ring = r
	}
	seq := s.tail
	s.tail++
	sl := s.slot(seq)
	sl.state = slotWaiting
	sl.mute, sl.cmd = s.mute, int16(s.curCmd)
	sl.parts, sl.acc, sl.bytes, sl.gather, sl.ctx = 1, 0, 0, nil, nil
	sl.buf = sl.buf[:0]
	sl.argv = sl.argv[:0]
	if s.curArgs != nil && s.e.recordMicros.Load() >= 0 {
		sl.argv = appendArgv(sl.argv, s.curArgs)
	}
	return seq, sl
}

// appendArgv keeps what the slow log keeps of a request: at most 32
// arguments of at most 128 bytes (plus their true lengths), so shard
// commands can be logged with the arguments the client sent.
func appendArgv(dst []byte, args [][]byte) []byte {
	dst = append(dst, byte(min(len(args), slowMaxArgs)))
	dst = binary.AppendUvarint(dst, uint64(len(args)))
	for i, a := range args {
		if i == slowMaxArgs {
			break
		}
		n := min(len(a), slowMaxArgLen)
		dst = binary.AppendUvarint(dst, uint64(len(a)))
		dst = binary.AppendUvarint(dst, uint64(n))
		dst = append(dst, a[:n]...)
	}
	return dst
}

// decodeArgv rebuilds the request for the slow log, with the trimming
// marks of full-length arguments restored by record.
func decodeArgv(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	k := int(b[0])
	b = b[1:]
	total, n := binary.Uvarint(b)
	b = b[n:]
	out := make([][]byte, 0, k+1)
	for i := 0; i < k; i++ {
		full, n1 := binary.Uvarint(b)
		b = b[n1:]
		l, n2 := binary.Uvarint(b)
		b = b[n2:]
		a := append([]byte(nil), b[:l]...)
		if full > l {
			a = append(a, fmt.Sprintf("... (%d more bytes)", full-l)...)
		}
		out = append(out, a)
		b = b[l:]
	}
	if int(total) > k {
		out[k-1] = []byte(fmt.Sprintf("... (%d more arguments)", int(total)-k+1))
	}
	return out
}

// reply returns the buffer where a reply produced on the loop now must be
// appended: the output itself when nothing is in flight, else a new ready
// slot, so the reply keeps its place.
func (s *Session) reply() *[]byte {
	if s.mute {
		s.ls.scratch = s.ls.scratch[:0]
		return &s.ls.scratch
	}
	if s.head == s.tail {
		return &s.out
	}
	_, sl := s.alloc()
	sl.state = slotReady
	return &sl.buf
}

func (s *Session) replyError(msg string) { b := s.reply(); *b = resp.AppendError(*b, msg) }
func (s *Session) replySimple(m string)  { b := s.reply(); *b = resp.AppendSimple(*b, m) }
func (s *Session) replyInt(v int64)      { b := s.reply(); *b = resp.AppendInt(*b, v) }
func (s *Session) replyBulk(v []byte)    { b := s.reply(); *b = resp.AppendBulk(*b, v) }
func (s *Session) replyOK()              { s.replySimple("OK") }

// op appends an op for shard i to the loop's batch and assigns it a reply
// slot. args are copied into the batch.
func (s *Session) op(i int, kind shard.Kind, args ...[]byte) (*shard.Op, *slot, *shard.Batch) {
	seq, sl := s.alloc()
	b := s.ls.batch(i)
	return s.opIn(b, seq, kind, args...), sl, b
}

// opIn appends an op for an existing slot to batch b.
func (s *Session) opIn(b *shard.Batch, seq uint32, kind shard.Kind, args ...[]byte) *shard.Op {
	a := b.NumArgs()
	n := int64(0)
	for _, x := range args {
		b.Arg(x)
		n += int64(len(x))
	}
	b.Ops = append(b.Ops, shard.Op{Kind: kind, Tenant: s.tenantIdx, Seq: seq, A: a, B: b.NumArgs(),
		Sess: s, RQ: &s.ls.rq})
	if n > 0 {
		s.addInflight(s.slot(seq), n)
	}
	return &b.Ops[len(b.Ops)-1]
}

func (s *Session) addInflight(sl *slot, n int64) {
	sl.bytes += n
	s.inflightBytes += n
	s.ls.inflight += n
}

// finish marks a slot ready and gives back its in-flight bytes.
func (s *Session) finish(sl *slot) {
	sl.state = slotReady
	if sl.bytes != 0 {
		s.inflightBytes -= sl.bytes
		s.ls.inflight -= sl.bytes
		sl.bytes = 0
	}
}

// complete places a shard's reply. Called by the loop's drain.
func (s *Session) complete(r *shard.Reply, data []byte) {
	if s.closed || r.Seq-s.head >= s.tail-s.head {
		return // the connection is gone, or a late part of a finished request
	}
	sl := s.slot(r.Seq)
	if sl.state != slotWaiting {
		return
	}
	// An op that took under a microsecond has Usec 0: still logged when
	// the threshold is 0 (slowlog-log-slower-than 0 logs every command).
	if t := s.e.recordMicros.Load(); (r.Usec != 0 || t == 0) && int(sl.cmd) < len(s.ls.stats.cmds) {
		s.ls.stats.cmds[sl.cmd].usec.Add(int64(r.Usec))
		if t >= 0 && int64(r.Usec) >= t && len(sl.argv) > 0 {
			s.e.record(s.e.cmdList[sl.cmd], decodeArgv(sl.argv), time.Duration(r.Usec)*time.Microsecond)
		}
	}
	if sl.gather != nil {
		sl.gather(s, r.Seq, sl, r, data)
		return
	}
	switch r.Code {
	case shard.OK:
		s.finish(sl)
		if r.Seq == s.head && !sl.mute {
			s.out = append(s.out, data...)
			sl.state = slotFree
			s.head++
			return
		}
		sl.buf = append(sl.buf[:0], data...)
	case shard.Part:
		sl.acc += r.N
		if sl.parts--; sl.parts <= 0 {
			sl.buf = resp.AppendInt(sl.buf[:0], sl.acc)
			s.finish(sl)
		}
	case shard.ErrQuota:
		sl.buf = resp.AppendError(sl.buf[:0], string(data))
		s.finish(sl)
	case shard.ErrMisconf: // the log write covering this reply failed
		sl.buf = resp.AppendError(sl.buf[:0], misconfMsg+string(data))
		s.finish(sl)
	default:
		sl.buf = resp.AppendError(sl.buf[:0], codeError(r.Code))
		s.finish(sl)
	}
}

// flush writes every reply that is in order, then resumes parsing if the
// session had stopped and may go on.
func (s *Session) flush() {
	for s.head != s.tail {
		sl := s.slot(s.head)
		if sl.state != slotReady {
			break
		}
		if !sl.mute {
			s.out = append(s.out, sl.buf...)
		}
		sl.state = slotFree
		if cap(sl.buf) > 64<<10 {
			sl.buf = nil
		}
		s.head++
	}
	if s.barrierOn && s.barrierSeq-s.head >= s.tail-s.head {
		s.barrierOn = false // the GETJOB's reply is out
		if !s.blocking && !s.replOn {
			s.blockShards = s.blockShards[:0]
			s.blockClaim = nil
		}
	}
	if s.replOn && s.replSeq-s.head >= s.tail-s.head {
		s.replOn = false // every replicated ADDJOB has answered
		if !s.blocking && !s.barrierOn {
			s.blockShards = s.blockShards[:0]
		}
	}
	if s.blocking && s.blockSeq-s.head >= s.tail-s.head {
		s.blocking = false // the blocking request's reply is out
		if len(s.blockShards) > 1 {
			// A GETJOB armed on several shards was answered by one: drop
			// the waiters the others still hold (they would otherwise stay
			// until a job or the timeout comes).
			for _, i := range s.blockShards {
				b := s.ls.batch(i)
				b.Ops = append(b.Ops, opCancel(s))
			}
			s.ls.schedulePush()
		}
		s.blockShards = s.blockShards[:0]
		s.blockClaim = nil
	}
	if len(s.out) > 0 && !s.closed {
		s.conn.Write(s.out)
		s.ls.stats.netOut.Add(int64(len(s.out)))
		if cap(s.out) > 1<<20 {
			s.out = nil
		} else {
			s.out = s.out[:0]
		}
		s.checkOutput(s.e.Config(), time.Time{})
	}
	if s.closed {
		return
	}
	if s.closeAfter && s.head == s.tail {
		_ = s.conn.Close()
		return
	}
	if s.stalled && s.canParse() && s.conn.InboundBuffered() > 0 {
		s.stalled = false
		_ = s.conn.Wake()
	}
}

// canParse reports whether the session may parse another request.
func (s *Session) canParse() bool {
	return !s.blocking && !s.holding && !s.closeAfter && !s.closed && s.pending() < maxInflight && s.inflightBytes < maxInflightBytes
}

// checkOutput enforces client-output-buffer-limit on unsent replies.
func (s *Session) checkOutput(cfg *config.Config, now time.Time) {
	lim := cfg.ClientOutputBufferLimit
	ob := int64(s.conn.OutboundBuffered())
	if lim.Hard > 0 && ob > lim.Hard {
		s.e.log.Warn("closing client over the output buffer hard limit", "addr", s.conn.RemoteAddr(),
			"bytes", ob, "limit", lim.Hard)
		s.closeNow()
		return
	}
	if lim.Soft > 0 && ob > lim.Soft {
		if now.IsZero() {
			now = time.Now()
		}
		if s.softSince.IsZero() {
			s.softSince = now
		} else if now.Sub(s.softSince) > time.Duration(lim.Seconds)*time.Second {
			s.e.log.Warn("closing client over the output buffer soft limit", "addr", s.conn.RemoteAddr(),
				"bytes", ob, "limit", lim.Soft, "seconds", lim.Seconds)
			s.closeNow()
		}
		return
	}
	s.softSince = time.Time{}
}

// closeNow closes the connection without waiting for pending replies.
func (s *Session) closeNow() {
	if !s.closed {
		_ = s.conn.Close()
	}
}
