package engine

import (
	"strconv"

	"disq/engine/job"
	"disq/netpoll/resp"
	"disq/shard"
)

// queueOp routes a command about one queue to its shard.
func (s *Session) queueOp(kind shard.Kind, queue []byte, more ...[]byte) *shard.Op {
	slot := shard.Slot(s.tenant, queue)
	args := append([][]byte{queue}, more...)
	op, _, _ := s.op(shard.Of(slot, len(s.e.shards)), kind, args...)
	op.Slot = slot
	return op
}

func cmdQLen(s *Session, args [][]byte)  { s.queueOp(shard.OpQLen, args[1]) }
func cmdQStat(s *Session, args [][]byte) { s.queueOp(shard.OpQStat, args[1]) }

func cmdQPeek(s *Session, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		s.replyError(errNotInteger)
		return
	}
	s.queueOp(shard.OpQPeek, args[1]).N[0] = n
}

// PAUSE <queue> <option>...: the new state is built from scratch, left to
// right; the queue's state is replaced only if in/out/all/none appeared.
func cmdPause(s *Session, args [][]byte) {
	var state int64
	set, bcast := false, false
	for _, o := range args[2:] {
		switch {
		case eqFold(o, "in"):
			state |= 1
			set = true
		case eqFold(o, "out"):
			state |= 2
			set = true
		case eqFold(o, "all"):
			state |= 3
			set = true
		case eqFold(o, "none"):
			state = 0
			set = true
		case eqFold(o, "state"):
		case eqFold(o, "bcast"):
			bcast = true
		default:
			s.replyError(errSyntax)
			return
		}
	}
	op := s.queueOp(shard.OpPause, args[1])
	op.N[0] = state
	if set {
		op.Flags |= shard.FlagSetPause
	}
	if bcast {
		op.Flags |= shard.FlagBcast
	}
}

// scan is a QSCAN or JSCAN in progress: the cursor encodes
// position<<12 | shard; the engine walks shards in order.
type scan struct {
	kind   shard.Kind
	queue  []byte
	n      [6]int64
	flags  uint16
	shard  int
	items  []byte
	nitems int
}

const cursorShardBits = 12

// parseScan parses the options common to QSCAN and JSCAN; opt handles the
// command's own options and returns the number of arguments it consumed
// (0 = not an option of this command), or -1 after replying an error.
func parseScan(s *Session, args [][]byte, opt func(j int) int) (cursor uint64, count int64, busy, ok bool) {
	count = 100
	haveCursor := false
	for j := 1; j < len(args); j++ {
		a := args[j]
		last := j == len(args)-1
		switch {
		case eqFold(a, "count") && !last:
			v, good := parseInt(args[j+1])
			if !good {
				s.replyError(errNotInteger)
				return
			}
			count = v
			j++
			continue
		case eqFold(a, "busyloop"):
			busy = true
			continue
		}
		if k := opt(j); k < 0 {
			return
		} else if k > 0 {
			j += k - 1
			continue
		}
		c, good := parseUint(a)
		if !good {
			s.replyError(errCursor)
			return
		}
		if haveCursor {
			s.replyError(errSyntax)
			return
		}
		haveCursor = true
		cursor = c
	}
	return cursor, count, busy, true
}

func cmdQScan(s *Session, args [][]byte) {
	var minlen, maxlen, rate int64 = 0, -1, 0
	cursor, count, busy, ok := parseScan(s, args, func(j int) int {
		a := args[j]
		if j == len(args)-1 {
			return 0
		}
		var dst *int64
		switch {
		case eqFold(a, "minlen"):
			dst = &minlen
		case eqFold(a, "maxlen"):
			dst = &maxlen
		case eqFold(a, "importrate"):
			dst = &rate
		default:
			return 0
		}
		v, good := parseInt(args[j+1])
		if !good {
			s.replyError(errNotInteger)
			return -1
		}
		*dst = v
		return 2
	})
	if !ok {
		return
	}
	sc := &scan{kind: shard.OpQScan, n: [6]int64{0, count, minlen, maxlen, rate}}
	s.startScan(sc, cursor, busy)
}

func cmdJScan(s *Session, args [][]byte) {
	var mask int64
	var queue []byte
	var flags uint16
	cursor, count, busy, ok := parseScan(s, args, func(j int) int {
		a := args[j]
		if j == len(args)-1 {
			return 0
		}
		switch {
		case eqFold(a, "queue"):
			queue = args[j+1]
			flags |= shard.FlagQueueFilter
		case eqFold(a, "state"):
			st, good := job.ParseState(args[j+1])
			if !good {
				s.replyError(errStateName)
				return -1
			}
			mask |= 1 << st
		case eqFold(a, "reply"):
			switch {
			case eqFold(args[j+1], "all"):
				flags |= shard.FlagReplyAll
			case eqFold(args[j+1], "id"):
				flags &^= shard.FlagReplyAll
			default:
				s.replyError(errReplyType)
				return -1
			}
		default:
			return 0
		}
		return 2
	})
	if !ok {
		return
	}
	sc := &scan{kind: shard.OpJScan, n: [6]int64{0, count, mask}, flags: flags}
	if queue != nil {
		sc.queue = append([]byte(nil), queue...)
	}
	s.startScan(sc, cursor, busy)
}

func (s *Session) startScan(sc *scan, cursor uint64, busy bool) {
	if busy {
		sc.flags |= shard.FlagBusyLoop
	}
	sc.shard = int(cursor & (1<<cursorShardBits - 1))
	if sc.shard >= len(s.e.shards) {
		// A cursor from a node with more shards, or made up: start over
		// rather than skip everything.
		sc.shard, cursor = 0, 0
	}
	sc.n[0] = int64(cursor >> cursorShardBits)
	seq, sl := s.alloc()
	sl.gather = gatherScan
	sl.ctx = sc
	sc.send(s, seq)
}

func (sc *scan) send(s *Session, seq uint32) {
	var op *shard.Op
	if sc.queue != nil {
		op = s.opIn(s.ls.batch(sc.shard), seq, sc.kind, sc.queue)
	} else {
		op = s.opIn(s.ls.batch(sc.shard), seq, sc.kind)
	}
	op.N = sc.n
	op.Flags = sc.flags
}

func gatherScan(s *Session, seq uint32, sl *slot, r *shard.Reply, data []byte) {
	sc := sl.ctx.(*scan)
	if r.Code != shard.Part || len(data) < 4 {
		return
	}
	sc.nitems += int(uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24)
	sc.items = append(sc.items, data[4:]...)
	var cursor uint64
	next := r.N
	switch {
	case next != 0:
		cursor = uint64(next)<<cursorShardBits | uint64(sc.shard)
	case sc.shard+1 < len(s.e.shards):
		cursor = uint64(sc.shard + 1)
	}
	if cursor != 0 && sc.flags&shard.FlagBusyLoop != 0 {
		sc.shard = int(cursor & (1<<cursorShardBits - 1))
		sc.n[0] = int64(cursor >> cursorShardBits)
		sc.send(s, seq)
		return
	}
	b := resp.AppendArray(sl.buf[:0], 2)
	b = resp.AppendBulkString(b, strconv.FormatUint(cursor, 10))
	b = resp.AppendArray(b, sc.nitems)
	sl.buf = append(b, sc.items...)
	s.finish(sl)
}
