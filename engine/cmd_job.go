package engine

import (
	"disq/engine/job"
	"disq/shard"
)

// ADDJOB <queue> <body> <ms-timeout> [REPLICATE n] [DELAY s] [RETRY s]
// [TTL s] [MAXLEN n] [ASYNC] — validation in the spec's order.
func cmdAddJob(s *Session, args [][]byte) {
	var (
		repl          int64 = -1
		delay, maxlen int64
		retry         int64 = -1
		ttl           int64 = 86400
		async         bool
	)
	for j := 4; j < len(args); j++ {
		opt := args[j]
		last := j == len(args)-1
		switch {
		case eqFold(opt, "replicate") && !last:
			v, ok := parseInt(args[j+1])
			if !ok || v <= 0 || v > 65535 {
				s.replyError(errReplicate)
				return
			}
			repl = v
			j++
		case eqFold(opt, "delay") && !last:
			v, ok := parseInt(args[j+1])
			if !ok || v < 0 {
				s.replyError(errDelay)
				return
			}
			delay = min(v, maxSeconds)
			j++
		case eqFold(opt, "retry") && !last:
			v, ok := parseInt(args[j+1])
			if !ok || v < 0 {
				s.replyError(errRetry)
				return
			}
			retry = min(v, maxSeconds)
			j++
		case eqFold(opt, "ttl") && !last:
			v, ok := parseInt(args[j+1])
			if !ok || v <= 0 {
				s.replyError(errTTL)
				return
			}
			ttl = min(v, maxSeconds)
			j++
		case eqFold(opt, "maxlen") && !last:
			v, ok := parseInt(args[j+1])
			if !ok || v <= 0 {
				s.replyError(errMaxLenArg)
				return
			}
			maxlen = v
			j++
		case eqFold(opt, "async"):
			async = true
		default:
			s.replyError(errSyntax)
			return
		}
	}
	if _, msg := parseTimeout(args[3]); msg != "" {
		s.replyError(msg)
		return
	}
	csize, creach, leaving := s.e.clusterFacts()
	size := int64(csize)
	if repl < 0 {
		repl = min(3, size)
	}
	if repl > 1 && retry == 0 {
		s.replyError(errRetryRepl)
		return
	}
	if delay >= ttl {
		s.replyError(errDelayTTL)
		return
	}
	if retry < 0 {
		retry = ttl / 10
		if retry > 300 {
			retry = 300
		}
		if retry == 0 {
			retry = 1
		}
	}
	// External replication: above 75% of maxmemory, or when leaving, the
	// node keeps no copy, so it needs REPLICATE other reachable nodes.
	reachable := int64(creach)
	oom := s.e.mem.level(s.e.Config()) >= 1
	external := oom || leaving
	needed := repl - 1
	if external {
		needed = repl
	}
	if needed > reachable {
		switch {
		case external && needed-1 == reachable && leaving:
			s.replyError(errNoReplLeaving)
		case external && needed-1 == reachable:
			s.replyError(errNoReplOOM)
		default:
			s.replyError(errNoRepl)
		}
		return
	}
	timeout, _ := parseTimeout(args[3])
	if err := s.admitProduce(int64(len(args[2])), repl); err != nil {
		s.replyError(err.Error())
		return
	}
	queue := args[1]
	slot := shard.Slot(s.tenant, queue)
	op, _, _ := s.op(shard.Of(slot, len(s.e.shards)), shard.OpAddJob, queue, args[2])
	op.Slot = slot
	op.N = [6]int64{repl, delay, retry, ttl, maxlen, timeout}
	if async {
		op.Flags |= shard.FlagAsync
	}
	if external {
		op.Flags |= shard.FlagExternal
	}
	if (repl > 1 || external) && !async {
		// Waiting for replication blocks the client: nothing else of this
		// connection runs until the reply (commands.md 1.1) -- except more
		// ADDJOBs, which replicate concurrently (their replies stay in
		// order), so a pipelined producer is not capped at one round trip.
		s.replOn, s.replSeq = true, op.Seq
		s.blockShards = appendUniqueInt(s.blockShards, shard.Of(slot, len(s.e.shards)))
	}
}

// GETJOB [NOHANG] [TIMEOUT ms] [COUNT n] [WITHCOUNTERS] FROM q1 q2 ...
func cmdGetJob(s *Session, args [][]byte) {
	var (
		timeout, count int64 = 0, 1
		flags          uint16
		from           = -1
	)
	for j := 1; j < len(args); j++ {
		opt := args[j]
		last := j == len(args)-1
		switch {
		case eqFold(opt, "nohang"):
			flags |= shard.FlagNoHang
		case eqFold(opt, "withcounters"):
			flags |= shard.FlagWithCounters
		case eqFold(opt, "timeout") && !last:
			v, msg := parseTimeout(args[j+1])
			if msg != "" {
				s.replyError(msg)
				return
			}
			timeout = v
			j++
		case eqFold(opt, "count") && !last:
			v, ok := parseInt(args[j+1])
			if !ok || v <= 0 {
				s.replyError(errCount)
				return
			}
			count = v
			j++
		case eqFold(opt, "from"):
			from = j + 1
			j = len(args)
		default:
			s.replyError(errSyntax)
			return
		}
	}
	if from < 0 || from >= len(args) {
		s.replyError(errSyntax)
		return
	}
	queues := args[from:]
	if _, _, leaving := s.e.clusterFacts(); leaving {
		flags |= shard.FlagLeaving
	}
	n := len(s.e.shards)
	first := shard.Of(shard.Slot(s.tenant, queues[0]), n)
	single := true
	for _, q := range queues[1:] {
		if shard.Of(shard.Slot(s.tenant, q), n) != first {
			single = false
			break
		}
	}
	g := s.gate
	s.gate = gate{}
	if g.on {
		count = min(count, g.n)
	}
	if !single {
		s.getJobMulti(queues, count, timeout, flags, g)
		return
	}
	op, _, _ := s.op(first, shard.OpGetJob, queues...)
	op.N[0], op.N[1] = count, timeout
	op.Flags = flags | g.flags
	if flags&shard.FlagNoHang == 0 {
		// The claim lets Closed cancel the wait atomically: a shard serves
		// a waiter only after taking its claim, so a client that went away
		// is not handed a job.
		op.Claim = new(shard.Claim)
		// The shard makes this client's later requests wait while it is
		// blocked, so requests for the same shard may follow in the
		// pipeline; anything else waits for the reply (barrier).
		s.barrierOn, s.barrierShard, s.barrierSeq = true, first, op.Seq
		s.blockShards = append(s.blockShards[:0], first)
		s.blockClaim = op.Claim
	}
}

// sameShard reports whether a request only touches shard i (or nothing),
// so it may be handed over while a GETJOB on shard i may still block: the
// shard runs it after the GETJOB is answered. Requests of other kinds wait.
func (s *Session) sameShard(args [][]byte, i int) bool {
	n := len(s.e.shards)
	name := args[0]
	on := func(q []byte) bool { return shard.Of(shard.Slot(s.tenant, q), n) == i }
	switch {
	case eqFold(name, "ping"):
		return true // no side effect
	case eqFold(name, "getjob"):
		for k := 1; k < len(args); k++ {
			if eqFold(args[k], "from") {
				if k+1 >= len(args) {
					return true // a syntax error, answered at once
				}
				for _, q := range args[k+1:] {
					if !on(q) {
						return false
					}
				}
				return true
			}
		}
		return true // a syntax error
	case eqFold(name, "addjob"), eqFold(name, "qlen"), eqFold(name, "qpeek"), eqFold(name, "qstat"), eqFold(name, "pause"):
		return len(args) < 2 || on(args[1])
	case eqFold(name, "ackjob"), eqFold(name, "fastack"), eqFold(name, "nack"), eqFold(name, "enqueue"),
		eqFold(name, "dequeue"), eqFold(name, "deljob"), eqFold(name, "show"), eqFold(name, "working"):
		for _, id := range args[1:] {
			if job.ValidID(id) && shard.Of(job.SlotOfText(id), n) != i {
				return false
			}
		}
		return true
	}
	return false
}

// block marks the session blocked on request seq: nothing else is parsed
// until its reply is written (Disque executes nothing for a blocked client).
func (s *Session) block(seq uint32, shards ...int) {
	s.blocking = true
	s.blockSeq = seq
	s.blockShards = append(s.blockShards[:0], shards...)
}

func opCancel(s *Session) shard.Op { return shard.Op{Kind: shard.OpCancel, Sess: s} }

// idsCommand validates every job ID (all of them, before doing anything),
// groups them by shard and sends one op per shard; the reply is the sum of
// the shards' counts.
func idsCommand(s *Session, args [][]byte, sub uint8) {
	ids := args[1:]
	for _, id := range ids {
		if !job.ValidID(id) {
			s.replyError(errBadID)
			return
		}
	}
	if len(ids) == 0 {
		s.replyInt(0)
		return
	}
	n := len(s.e.shards)
	first := shard.Of(job.SlotOfText(ids[0]), n)
	same := true
	for _, id := range ids[1:] {
		if shard.Of(job.SlotOfText(id), n) != first {
			same = false
			break
		}
	}
	if same {
		op, _, _ := s.op(first, shard.OpIDs, ids...)
		op.Sub = sub
		return
	}
	seq, sl := s.alloc()
	sl.parts = 0
	var byShard [][][]byte
	for _, id := range ids {
		i := shard.Of(job.SlotOfText(id), n)
		for len(byShard) <= i {
			byShard = append(byShard, nil)
		}
		byShard[i] = append(byShard[i], id)
	}
	for i, list := range byShard {
		if len(list) == 0 {
			continue
		}
		op := s.opIn(s.ls.batch(i), seq, shard.OpIDs, list...)
		op.Sub = sub
		sl.parts++
	}
}

func cmdAckJob(s *Session, args [][]byte)  { idsCommand(s, args, shard.IDAck) }
func cmdFastAck(s *Session, args [][]byte) { idsCommand(s, args, shard.IDFastAck) }
func cmdDelJob(s *Session, args [][]byte)  { idsCommand(s, args, shard.IDDel) }
func cmdNack(s *Session, args [][]byte)    { idsCommand(s, args, shard.IDNack) }
func cmdEnqueue(s *Session, args [][]byte) { idsCommand(s, args, shard.IDEnqueue) }
func cmdDequeue(s *Session, args [][]byte) { idsCommand(s, args, shard.IDDequeue) }

// oneID routes a single-ID command.
func oneID(s *Session, args [][]byte, kind shard.Kind) {
	id := args[1]
	if !job.ValidID(id) {
		s.replyError(errBadID)
		return
	}
	s.op(shard.Of(job.SlotOfText(id), len(s.e.shards)), kind, id)
}

func cmdWorking(s *Session, args [][]byte) { oneID(s, args, shard.OpWorking) }
func cmdShow(s *Session, args [][]byte)    { oneID(s, args, shard.OpShow) }

func cmdLoadJob(s *Session, args [][]byte) { s.replyError(errLoadJob) }
