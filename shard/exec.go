package shard

import (
	"disq/engine/job"
	"disq/netpoll/resp"
	"disq/replicate"
)

// exec runs one op. Replies (or reply codes) go to op.RQ.
func (s *Shard) exec(b *Batch, op *Op) {
	// A client blocked in GETJOB executes nothing else (commands.md 1.1):
	// its later ops wait with its waiter and run once it is answered.
	if op.Sess != nil && op.Kind != OpCancel && op.Kind != OpBus && op.Kind != OpCall {
		if w := s.blocked[op.Sess]; w != nil {
			w.defer_(b, op) // blocked, or answered with ops still deferred
			return
		}
	}
	switch op.Kind {
	case OpAddJob:
		s.addJob(b, op)
	case OpGetJob:
		s.getJob(b, op)
	case OpIDs:
		s.ids(b, op)
	case OpWorking:
		s.working(b, op)
	case OpShow:
		s.show(b, op)
	case OpQLen:
		n := 0
		if q := s.lookupQueue(op.Tenant, b.arg(op.A)); q != nil {
			n = q.live
		}
		rb := s.begin(op.RQ)
		start := len(rb.Data)
		rb.Data = resp.AppendInt(rb.Data, int64(n))
		end(rb, op.Sess, op.Seq, start, OK, 0)
	case OpQPeek:
		s.qpeek(b, op)
	case OpQStat:
		s.qstat(b, op)
	case OpPause:
		s.pause(b, op)
	case OpCounts:
		s.counts(b, op)
	case OpPopN:
		s.popN(b, op)
	case OpCancel:
		s.cancel(op.Sess)
	case OpFlush:
		s.flushAll()
		s.replyCode(op, Part)
	case OpQScan:
		s.qscan(b, op)
	case OpJScan:
		s.jscan(b, op)
	case OpSync:
		s.replyCode(op, Part)
	case OpBus:
		s.busOp(b, op)
	case OpCall:
		op.Call(s)
	}
}

// addJob creates a job (ADDJOB on the immediate path: REPLICATE 1 on this
// node, or ASYNC). The engine has validated the options.
func (s *Shard) addJob(b *Batch, op *Op) {
	name, body := b.arg(op.A), b.arg(op.A+1)
	repl, delay, retry, ttl, maxlen := op.N[0], op.N[1], op.N[2], op.N[3], op.N[4]
	q := s.lookupQueue(op.Tenant, name)
	if maxlen > 0 && q != nil && int64(q.live) >= maxlen {
		s.refuseAdd(op, len(body), ErrMaxLen, nil)
		return
	}
	if q != nil && q.pause&pauseIn != 0 {
		s.refuseAdd(op, len(body), ErrPaused, nil)
		return
	}
	if q == nil {
		if s.cfg.Acct != nil {
			if err := s.cfg.Acct.AdmitQueue(op.Tenant); err != nil {
				s.refuseAdd(op, len(body), ErrQuota, []byte(err.Error()))
				return
			}
		}
		q = s.newQueue(op.Tenant, name)
	}
	var rnd [18]byte
	s.random(rnd[:])
	// 132 random bits from a ChaCha8 generator seeded from crypto/rand make
	// a collision practically impossible (the spec's "Internal error
	// creating the job" path); checking the index would cost a failed
	// lookup per job.
	id := job.MakeID(s.prefix, op.Slot, &rnd, ttl, retry)
	now := s.now
	ct := uint64(now) * 1_000_000
	if ct <= s.lastCT {
		ct = s.lastCT + 1
	}
	s.lastCT = ct
	i, j := s.st.alloc()
	id.SetHint(i)
	j.ID = id
	j.CTime = ct
	j.Expire = now + job.Millis(ttl)*1000
	j.Delay, j.Retry, j.Repl = uint32(delay), uint32(retry), uint16(repl)
	j.Tenant = op.Tenant
	j.Queue = q.id
	j.Body, j.BodyLen = s.ar.put(body), uint32(len(body))
	q.refs++
	s.st.index(i)
	s.Stats.Created.Add(1)
	s.count(op.Tenant, EvAdded, 1)
	external := op.Flags&FlagExternal != 0
	if repl > 1 || external {
		s.addReplicated(i, j, op, external)
		return
	}
	s.replyID(op.RQ, op.Sess, op.Seq, &j.ID)
	// Apply after the reply is written: serving a blocked client may reuse
	// the record's queue right away, and the reply order does not matter
	// across connections.
	_, _ = s.apply(i, j, job.Event{Kind: job.EvAdd})
}

// refuseAdd answers a refused ADDJOB and gives back the job and bytes the
// event loop reserved for it.
func (s *Shard) refuseAdd(op *Op, bodyLen int, c Code, text []byte) {
	if s.cfg.Acct != nil {
		s.cfg.Acct.ReleaseJob(op.Tenant, int64(bodyLen))
	}
	s.replyTo(op.RQ, op.Sess, op.Seq, c, text)
}

// addReplicated creates a job whose copies live on other nodes too:
// synchronously (the client waits for REPLICATE confirmed copies) or, with
// ASYNC, sending the copies once and answering at once. With external
// replication this node keeps no copy.
func (s *Shard) addReplicated(i uint32, j *job.Job, op *Op, external bool) {
	if op.Flags&FlagAsync == 0 {
		_, _ = s.apply(i, j, job.Event{Kind: job.EvAdd, Sync: true})
		s.startReplication(i, j, op, external)
		return
	}
	needed := int(j.Repl)
	holders := []replicate.NodeID{}
	if !external {
		needed--
		holders = append(holders, s.self)
	}
	targets := s.pickReachable(needed, holders)
	j.Holders = s.sets.intern(append(holders, targets...))
	s.sendCopies(j, targets, targets, true) // no confirmation asked
	s.replyID(op.RQ, op.Sess, op.Seq, &j.ID)
	if external {
		if len(targets) > 0 {
			q := replicate.Msg{Type: replicate.MsgEnqueue, ID: j.ID, Delay: int64(j.Delay) * 1000}
			s.send(targets[s.rng.IntN(len(targets))], &q)
		}
		// The record only served to build the copies.
		q := s.queueByID(j.Queue)
		if s.cfg.Acct != nil {
			s.cfg.Acct.ReleaseJob(j.Tenant, int64(j.BodyLen))
		}
		s.st.remove(i)
		s.ar.release(j.Body, j.BodyLen)
		if q != nil {
			q.refs--
		}
		j.Holders = 0
		s.st.release(i)
		return
	}
	_, _ = s.apply(i, j, job.Event{Kind: job.EvAdd})
}

// ids runs ACKJOB, FASTACK, NACK, ENQUEUE, DEQUEUE and DELJOB on the IDs of
// this shard and replies a Part with the count.
func (s *Shard) ids(b *Batch, op *Op) {
	n := int64(0)
	for a := op.A; a < op.B; a++ {
		text := b.arg(a)
		i, j := s.find(text, op.Tenant)
		if i == 0 {
			s.unknownID(op, text)
			continue
		}
		var err error
		switch op.Sub {
		case IDAck:
			_, err = s.apply(i, j, job.Event{Kind: job.EvAck})
			if err == nil {
				s.Stats.Acked.Add(1)
				s.count(j.Tenant, EvAcked, 1)
			}
			if j.State == job.Acked { // newly or already acked: collect
				s.collect(i, j)
			}
		case IDFastAck:
			m := idMsg(replicate.MsgDelJob, j)
			s.sendHolders(j, &m)
			if r := s.repls[i]; r != nil {
				s.replFail(i, j, r, ErrRemoved)
			} else {
				_, err = s.apply(i, j, job.Event{Kind: job.EvDelete})
			}
		case IDDel:
			if r := s.repls[i]; r != nil {
				s.replFail(i, j, r, ErrRemoved) // and best-effort deletes
			} else {
				_, err = s.apply(i, j, job.Event{Kind: job.EvDelete})
			}
		case IDNack:
			if _, err = s.apply(i, j, job.Event{Kind: job.EvNack}); err == nil {
				s.count(j.Tenant, EvNacked, 1)
			}
		case IDEnqueue:
			if _, err = s.apply(i, j, job.Event{Kind: job.EvEnqueue}); err == nil {
				s.count(j.Tenant, EvRequeued, 1)
			}
		case IDDequeue:
			_, err = s.apply(i, j, job.Event{Kind: job.EvDequeue})
		}
		if err == nil {
			n++
		}
	}
	if op.RQ != nil {
		rb := s.begin(op.RQ)
		end(rb, op.Sess, op.Seq, len(rb.Data), Part, n)
	}
}

// unknownID handles an ID this shard does not hold: ACKJOB records a dummy
// ACK (cluster, at-least-once ID), FASTACK tells every node to delete it.
func (s *Shard) unknownID(op *Op, text []byte) {
	switch op.Sub {
	case IDAck:
		s.dummyAck(text, op.Tenant)
	case IDFastAck:
		if id, ok := job.ParseID(text); ok && s.cfg.Bus != nil {
			s.broadcast(&replicate.Msg{Type: replicate.MsgDelJob, ID: id})
		}
	}
}

// collect garbage-collects an acked job: at once when this node is its only
// holder (on a lone node, always), else with the SETACK/GOTACK protocol.
func (s *Shard) collect(i uint32, j *job.Job) {
	if !s.hasOthers(j) && j.Flags&job.FlagDummy == 0 {
		_, _ = s.apply(i, j, job.Event{Kind: job.EvDelete})
		return
	}
	s.startGC(i, j)
}

func (s *Shard) working(b *Batch, op *Op) {
	i, j := s.find(b.arg(op.A), op.Tenant)
	if i == 0 {
		s.replyCode(op, ErrNoJob)
		return
	}
	retry := int64(j.Retry)
	_, err := s.apply(i, j, job.Event{Kind: job.EvWorking})
	switch err {
	case job.ErrTooLate:
		s.replyCode(op, ErrTooLate)
		return
	case job.ErrAlreadyAcked:
		s.replyCode(op, ErrAcked)
		return
	}
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	rb.Data = resp.AppendInt(rb.Data, retry)
	end(rb, op.Sess, op.Seq, start, OK, 0)
}

func (s *Shard) show(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	i, j := s.find(b.arg(op.A), op.Tenant)
	if i == 0 {
		rb.Data = resp.AppendNullBulk(rb.Data)
	} else {
		rb.Data = s.appendShow(rb.Data, j)
	}
	end(rb, op.Sess, op.Seq, start, OK, 0)
}

// appendShow appends SHOW's 30-element array for j.
func (s *Shard) appendShow(d []byte, j *job.Job) []byte {
	now := s.now
	dummy := j.Flags&job.FlagDummy != 0
	d = resp.AppendArray(d, 30)
	d = resp.AppendBulkString(d, "id")
	d = appendIDBulk(d, &j.ID)
	d = resp.AppendBulkString(d, "queue")
	if q := s.queueByID(j.Queue); q != nil && !dummy {
		d = resp.AppendBulk(d, q.name)
	} else {
		d = resp.AppendNullBulk(d)
	}
	d = resp.AppendBulkString(d, "state")
	d = resp.AppendBulkString(d, j.State.String())
	ttl := int64(j.Expire-now) / 1000
	if ttl < 0 {
		ttl = 0
	}
	pairs := [...]struct {
		k string
		v int64
	}{
		{"repl", int64(j.Repl)}, {"ttl", ttl}, {"ctime", int64(j.CTime)},
		{"delay", int64(j.Delay)}, {"retry", int64(j.Retry)},
		{"nacks", int64(j.Nacks)}, {"additional-deliveries", int64(j.AddDel)},
	}
	for _, p := range pairs {
		d = resp.AppendBulkString(d, p.k)
		d = resp.AppendInt(d, p.v)
	}
	d = resp.AppendBulkString(d, "nodes-delivered")
	d = appendNodes(d, s.holders(j))
	d = resp.AppendBulkString(d, "nodes-confirmed")
	var confirmed []replicate.NodeID
	if r := s.repls[s.st.lookup(&j.ID)]; r != nil && j.State == job.WaitRepl {
		confirmed = r.confirmed
	} else if g := s.gcs[s.st.lookup(&j.ID)]; g != nil && j.State == job.Acked {
		confirmed = g.confirmed
	}
	d = appendNodes(d, confirmed)
	d = resp.AppendBulkString(d, "next-requeue-within")
	if t := j.NextRequeue(now); t != 0 && !dummy {
		d = resp.AppendInt(d, int64(max(t-now, 0)))
	} else {
		d = resp.AppendNullBulk(d)
	}
	d = resp.AppendBulkString(d, "next-awake-within")
	if j.TSlot != 0 {
		// The next action: the requeue (or roll-over of a queued job's
		// requeue clock), or the expiry.
		awake := j.Expire
		if t := j.NextRequeue(now); t != 0 && t < awake {
			awake = t
		}
		d = resp.AppendInt(d, int64(max(awake-now, 0)))
	} else {
		d = resp.AppendNullBulk(d)
	}
	d = resp.AppendBulkString(d, "body")
	if dummy {
		d = resp.AppendNullBulk(d)
	} else {
		d = resp.AppendBulk(d, s.ar.get(j.Body, j.BodyLen))
	}
	return d
}

func appendNodes(d []byte, ids []replicate.NodeID) []byte {
	d = resp.AppendArray(d, len(ids))
	for _, id := range ids {
		d = append(d, "$40\r\n"...)
		d = id.AppendText(d)
		d = append(d, '\r', '\n')
	}
	return d
}

func appendIDBulk(d []byte, id *job.ID) []byte {
	d = append(d, "$40\r\n"...)
	d = id.AppendText(d)
	return append(d, '\r', '\n')
}

// appendItem appends one GETJOB/QPEEK job item.
func (s *Shard) appendItem(d []byte, q *queue, j *job.Job, counters bool) []byte {
	if counters {
		d = resp.AppendArray(d, 7)
	} else {
		d = resp.AppendArray(d, 3)
	}
	d = resp.AppendBulk(d, q.name)
	d = appendIDBulk(d, &j.ID)
	d = resp.AppendBulk(d, s.ar.get(j.Body, j.BodyLen))
	if counters {
		d = resp.AppendBulkString(d, "nacks")
		d = resp.AppendInt(d, int64(j.Nacks))
		d = resp.AppendBulkString(d, "additional-deliveries")
		d = resp.AppendInt(d, int64(j.AddDel))
	}
	return d
}

func (s *Shard) qpeek(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	count := op.N[0]
	q := s.lookupQueue(op.Tenant, b.arg(op.A))
	if q == nil || count == 0 || q.live == 0 {
		rb.Data = resp.AppendArray(rb.Data, 0)
		end(rb, op.Sess, op.Seq, start, OK, 0)
		return
	}
	fromTail := count < 0
	if fromTail {
		count = -count
		if count < 0 { // -MinInt64 overflows
			count = int64(q.live)
		}
	}
	if count > int64(q.live) {
		count = int64(q.live)
	}
	s.idxs = q.ordered(&s.st, s.idxs[:0], int(count), fromTail)
	rb.Data = resp.AppendArray(rb.Data, len(s.idxs))
	for _, i := range s.idxs {
		rb.Data = s.appendItem(rb.Data, q, s.st.get(i), false)
	}
	end(rb, op.Sess, op.Seq, start, OK, 0)
}

func (s *Shard) qstat(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	q := s.lookupQueue(op.Tenant, b.arg(op.A))
	if q == nil {
		rb.Data = resp.AppendNullArray(rb.Data)
		end(rb, op.Sess, op.Seq, start, OK, 0)
		return
	}
	d := resp.AppendArray(rb.Data, 20)
	d = resp.AppendBulkString(d, "name")
	d = resp.AppendBulk(d, q.name)
	for _, p := range [...]struct {
		k string
		v int64
	}{
		{"len", int64(q.live)}, {"age", int64(s.now-q.ctime) / 1000},
		{"idle", int64(s.now-q.atime) / 1000}, {"blocked", int64(q.blocked)},
	} {
		d = resp.AppendBulkString(d, p.k)
		d = resp.AppendInt(d, p.v)
	}
	d = resp.AppendBulkString(d, "import-from")
	var from []replicate.NodeID
	if f := q.federation; f != nil {
		for id, at := range f.responders {
			if s.now-at <= 5000 {
				from = append(from, id)
			}
		}
	}
	d = appendNodes(d, from)
	d = resp.AppendBulkString(d, "import-rate")
	d = resp.AppendInt(d, s.importRate(q))
	d = resp.AppendBulkString(d, "jobs-in")
	d = resp.AppendInt(d, int64(q.jobsIn))
	d = resp.AppendBulkString(d, "jobs-out")
	d = resp.AppendInt(d, int64(q.jobsOut))
	d = resp.AppendBulkString(d, "pause")
	d = resp.AppendBulkString(d, pauseName(q.pause))
	rb.Data = d
	end(rb, op.Sess, op.Seq, start, OK, 0)
}

// pause applies PAUSE: with FlagSetPause the state becomes N[0] (built from
// scratch by the engine); the reply is the resulting state.
func (s *Shard) pause(b *Batch, op *Op) {
	name := b.arg(op.A)
	q := s.lookupQueue(op.Tenant, name)
	if op.Flags&FlagSetPause != 0 {
		st := uint8(op.N[0])
		if q == nil && st != 0 {
			q = s.getQueue(op.Tenant, name)
		}
		if q != nil {
			old := q.pause
			q.pause = st
			q.atime = s.now
			if old&pauseOut != 0 && st&pauseOut == 0 {
				s.serveWaiters(q)
			}
		}
	}
	state := "none"
	var bits uint8
	if q != nil {
		state = pauseName(q.pause)
		bits = q.pause
	}
	if op.Flags&FlagBcast != 0 {
		s.broadcast(&replicate.Msg{Type: replicate.MsgPause, Tenant: s.tenantName(op.Tenant), Queue: name, State: bits})
	}
	if op.RQ == nil { // admin API: no client waits for a reply
		return
	}
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	rb.Data = resp.AppendSimple(rb.Data, state)
	end(rb, op.Sess, op.Seq, start, OK, 0)
}

// flushAll deletes every job and queue (DEBUG FLUSHALL). Blocked clients get
// a null reply.
// FlushAll deletes every job and queue (DEBUG FLUSHALL, DEBUG LOADAOF).
// Shard goroutine only.
func (s *Shard) FlushAll() { s.flushAll() }

// Reset empties the shard without logging the deletions (DEBUG LOADAOF:
// the log is about to be replayed into it). Shard goroutine only.
func (s *Shard) Reset() {
	s.loading = true
	s.flushAll()
	s.loading = false
}

func (s *Shard) flushAll() {
	for _, w := range s.blocked {
		if w.claim.Take() {
			s.finishWaiter(w, answerNull)
		} else {
			s.finishWaiter(w, nil)
		}
		s.unblock(w)
	}
	for i, r := range s.repls {
		s.replFail(i, s.st.get(i), r, ErrRemoved)
	}
	s.st.each(0, func(i uint32, j *job.Job) bool {
		_, _ = s.apply(i, j, job.Event{Kind: job.EvDelete})
		return true
	})
	s.gcs = make(map[uint32]*gcState)
	s.tasks = s.tasks[:0]
	for _, q := range s.queues {
		s.dropQueue(q)
	}
	// Start over with empty structures so the memory goes back to the
	// runtime (free lists would otherwise keep every chunk).
	s.st = store{}
	s.ar = arena{}
	s.mem.release()
	s.st.mem, s.ar.mem = &s.mem, &s.mem
	now := s.wh.now
	s.wh = wheel{st: &s.st, now: now}
	s.qbyID, s.qfree = []*queue{nil}, nil
	s.queues = make(map[string]*queue)
}
