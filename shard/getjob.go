package shard

import (
	"container/heap"

	"disq/engine/job"
	"disq/netpoll/resp"
)

// waiter is a client blocked in GETJOB on queues of this shard. It is
// listed in each queue's FIFO, in the session map (for cancellation) and,
// with a timeout, in the deadline heap. Once done it is skipped everywhere
// and dropped lazily.
type waiter struct {
	sess     any
	rq       *ReplyQueue
	seq      uint32
	claim    *Claim
	queues   []*queue
	counters bool
	deadline job.Millis // 0 = none
	tenant   uint16
	deferred *Batch // later ops of the same client, run once it is answered
	admitted bool   // holds one of the tenant's max_blocked_clients places
	granted  bool   // holds one consume-rate token for the job it waits for
	done     bool
	hidx     int // position in the deadline heap, -1 if not there
}

// getJob runs GETJOB over queues that all live on this shard (the engine
// splits multi-shard requests into OpCounts/OpPopN and an armed OpGetJob).
func (s *Shard) getJob(b *Batch, op *Op) {
	count := op.N[0]
	counters := op.Flags&FlagWithCounters != 0
	if op.Flags&FlagArm == 0 {
		// The fetch algorithm of the spec: one job per listed queue per
		// pass, duplicates included, until COUNT or no progress.
		s.idxs = s.idxs[:0]
		var qs []*queue // parallel to idxs
		remaining := count
		claimed := false
	loop:
		for {
			progress := false
			for a := op.A; a < op.B; a++ {
				name := b.arg(a)
				q := s.lookupQueue(op.Tenant, name)
				if q != nil && q.pause&pauseOut == 0 && q.live > 0 {
					if !claimed {
						// A client that went away meanwhile (the engine
						// cancelled the claim) must not be handed jobs.
						if !op.Claim.Take() {
							return
						}
						claimed = true
					}
					if i := s.take(q); i != 0 {
						s.idxs = append(s.idxs, i)
						qs = append(qs, q)
						remaining--
						progress = true
					}
				} else {
					if q == nil {
						q = s.getQueue(op.Tenant, name) // GETJOB creates the queues it names
					}
					s.needJobs(q, false) // federation: "clients waiting"
				}
				if remaining == 0 {
					break loop
				}
			}
			if !progress {
				break
			}
		}
		s.consumed(op, int64(len(s.idxs)), len(s.idxs) == 0 && op.Flags&FlagNoHang == 0)
		if len(s.idxs) > 0 {
			s.releaseBlock(op)
			rb := s.begin(op.RQ)
			start := len(rb.Data)
			rb.Data = resp.AppendArray(rb.Data, len(s.idxs))
			for k, i := range s.idxs {
				rb.Data = s.appendItem(rb.Data, qs[k], s.st.get(i), counters)
			}
			end(rb, op.Sess, op.Seq, start, OK, 0)
			return
		}
	} else if s.serveOne(b, op) {
		return
	}
	if op.Flags&FlagNoHang != 0 {
		s.releaseBlock(op)
		if op.Claim != nil {
			s.replyCode(op, Part) // nothing here
			return
		}
		rb := s.begin(op.RQ)
		start := len(rb.Data)
		rb.Data = resp.AppendNullArray(rb.Data)
		end(rb, op.Sess, op.Seq, start, OK, 0)
		return
	}
	if op.Flags&FlagLeaving != 0 {
		s.releaseBlock(op)
		if s.cfg.Acct != nil && op.Flags&FlagGranted != 0 && op.Flags&FlagArm == 0 {
			s.cfg.Acct.ConsumeReturn(op.Tenant, 1) // the one kept for blocking
		}
		if op.Claim.Take() {
			s.replyCode(op, ErrLeaving)
		}
		return
	}
	// Block: one waiter listed in every distinct queue.
	w := &waiter{sess: op.Sess, rq: op.RQ, seq: op.Seq, claim: op.Claim, counters: counters, hidx: -1,
		tenant: op.Tenant, admitted: op.Flags&FlagBlockAdmitted != 0, granted: op.Flags&FlagGranted != 0}
	for a := op.A; a < op.B; a++ {
		q := s.getQueue(op.Tenant, b.arg(a))
		dup := false
		for _, o := range w.queues {
			if o == q {
				dup = true
				break
			}
		}
		if !dup {
			w.queues = append(w.queues, q)
			q.addWaiter(w)
		}
	}
	if t := op.N[1]; t > 0 && job.Millis(t) < maxInt64()-s.now-1 {
		// +1: the shard's clock is in whole milliseconds (truncated), so
		// a deadline at now+t could fire up to 1 ms before t has elapsed.
		w.deadline = s.now + job.Millis(t) + 1
		heap.Push(&s.waits, w)
	} // else: a timeout beyond the end of time is no timeout
	if old := s.blocked[op.Sess]; old != nil {
		s.finishWaiter(old, nil) // cannot happen: a blocked session sends nothing else
	}
	s.blocked[op.Sess] = w
}

// defer_ keeps a copy of op (and its arguments) until the waiter is done.
func (w *waiter) defer_(b *Batch, op *Op) {
	if w.deferred == nil {
		w.deferred = GetBatch()
	}
	d := w.deferred
	c := *op
	c.A = d.NumArgs()
	for a := op.A; a < op.B; a++ {
		d.Arg(b.arg(a))
	}
	c.B = d.NumArgs()
	d.Ops = append(d.Ops, c)
}

// runDeferred runs the ops a client sent while it was blocked (they may
// block it again: the rest then waits for the new waiter).
func (s *Shard) runDeferred(w *waiter) {
	d := w.deferred
	if d == nil {
		return
	}
	w.deferred = nil
	for i := range d.Ops {
		s.exec(d, &d.Ops[i])
	}
	putBatch(d)
}

// serveOne is the armed (multi-shard) path: take one job from the first
// listed queue that has one, if the claim can be taken.
func (s *Shard) serveOne(b *Batch, op *Op) bool {
	for a := op.A; a < op.B; a++ {
		q := s.lookupQueue(op.Tenant, b.arg(a))
		if q == nil || q.pause&pauseOut != 0 || q.live == 0 {
			continue
		}
		if !op.Claim.Take() {
			return true // someone else answered
		}
		i := s.take(q)
		rb := s.begin(op.RQ)
		start := len(rb.Data)
		rb.Data = resp.AppendArray(rb.Data, 1)
		rb.Data = s.appendItem(rb.Data, q, s.st.get(i), op.Flags&FlagWithCounters != 0)
		end(rb, op.Sess, op.Seq, start, OK, 0)
		return true
	}
	return false
}

// consumed gives back the consume-rate tokens a GETJOB was granted and did
// not use; a GETJOB about to block keeps one for the job it waits for.
func (s *Shard) consumed(op *Op, got int64, blocking bool) {
	if s.cfg.Acct == nil || op.Flags&FlagGranted == 0 {
		return
	}
	unused := op.N[0] - got
	if blocking {
		unused--
	}
	if unused > 0 {
		s.cfg.Acct.ConsumeReturn(op.Tenant, unused)
	}
}

// releaseBlock gives back a max_blocked_clients place admitted for a
// GETJOB that did not block.
func (s *Shard) releaseBlock(op *Op) {
	if s.cfg.Acct != nil && op.Flags&FlagBlockAdmitted != 0 {
		s.cfg.Acct.ReleaseBlocked(op.Tenant)
	}
}

// take pops the head of q and delivers it (state active, counted in
// jobs-out). It returns 0 if the queue had only stale entries.
func (s *Shard) take(q *queue) uint32 {
	i := q.pop(&s.st)
	if i == 0 {
		return 0
	}
	_, _ = s.apply(i, s.st.get(i), job.Event{Kind: job.EvDeliver})
	s.count(q.tenant, EvDelivered, 1)
	q.jobsOut++
	q.atime = s.now
	if q.live == 0 && q.federation != nil {
		s.needJobs(q, true) // federation: "queue drained"
	}
	return i
}

// serveWaiters gives queued jobs of q to its blocked clients, oldest first,
// one job each.
func (s *Shard) serveWaiters(q *queue) {
	for q.live > 0 && q.pause&pauseOut == 0 {
		w := q.nextWaiter()
		if w == nil {
			return
		}
		if !w.claim.Take() {
			s.finishWaiter(w, nil)
			s.unblock(w)
			continue
		}
		i := s.take(q)
		if i == 0 {
			return
		}
		rb := s.begin(w.rq)
		start := len(rb.Data)
		rb.Data = resp.AppendArray(rb.Data, 1)
		rb.Data = s.appendItem(rb.Data, q, s.st.get(i), w.counters)
		end(rb, w.sess, w.seq, start, OK, 0)
		s.finishWaiter(w, nil)
		s.unblock(w)
	}
}

// finishWaiter marks w done and, with a non-nil reply function, answers it.
func (s *Shard) finishWaiter(w *waiter, answer func(rb *ReplyBatch) Code) {
	if w.done {
		return
	}
	w.done = true
	if s.cfg.Acct != nil {
		if w.admitted {
			s.cfg.Acct.ReleaseBlocked(w.tenant)
		}
		if w.granted && answer != nil {
			s.cfg.Acct.ConsumeReturn(w.tenant, 1) // no job after all
		}
	}
	for _, q := range w.queues {
		q.blocked--
	}
	if w.hidx >= 0 {
		heap.Remove(&s.waits, w.hidx)
	}
	if answer != nil {
		rb := s.begin(w.rq)
		start := len(rb.Data)
		code := answer(rb)
		end(rb, w.sess, w.seq, start, code, 0)
	}
}

// unblock ends w's hold on its client: at once, or, when the client sent
// more requests meanwhile, at the end of the step, which then runs them
// (until then its new requests keep queueing behind them).
func (s *Shard) unblock(w *waiter) {
	if s.blocked[w.sess] != w {
		return
	}
	if w.deferred == nil {
		delete(s.blocked, w.sess)
		return
	}
	s.resumed = append(s.resumed, w)
}

func answerNull(rb *ReplyBatch) Code {
	rb.Data = resp.AppendNullArray(rb.Data)
	return OK
}

// expireWaiters answers blocked clients whose TIMEOUT passed.
func (s *Shard) expireWaiters(now job.Millis) {
	for {
		w := s.waits.peek()
		if w == nil || w.deadline > now {
			return
		}
		if w.claim.Take() {
			s.finishWaiter(w, answerNull)
		} else {
			s.finishWaiter(w, nil)
		}
		s.unblock(w)
	}
}

// cancel drops the blocked GETJOB of a session that went away.
func (s *Shard) cancel(sess any) {
	if w := s.blocked[sess]; w != nil {
		delete(s.blocked, sess)
		s.finishWaiter(w, nil)
		if w.deferred != nil { // the client is gone: so are its queued requests
			putBatch(w.deferred)
			w.deferred = nil
		}
	}
	if len(s.repls) > 0 {
		s.cancelRepl(sess)
	}
}

// counts replies, for GETJOB across shards, the number of jobs available in
// each listed queue (0 when paused out), as a Part whose bytes are one
// little-endian uint32 per queue.
func (s *Shard) counts(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	for a := op.A; a < op.B; a++ {
		n := 0
		if q := s.lookupQueue(op.Tenant, b.arg(a)); q != nil && q.pause&pauseOut == 0 {
			n = q.live
		} else if q == nil {
			s.getQueue(op.Tenant, b.arg(a))
		}
		rb.Data = append(rb.Data, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	}
	endTag(rb, op, start, Part, 0)
}

// popN takes N[k] jobs from the k-th listed queue and replies a Part: the
// job items, each preceded by its queue's position (uint32 LE) and its
// encoded length (uint32 LE), in pop order.
func (s *Shard) popN(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	counters := op.Flags&FlagWithCounters != 0
	k := 0
	for a := op.A; a < op.B && k < len(op.N); a, k = a+1, k+1 {
		q := s.lookupQueue(op.Tenant, b.arg(a))
		for n := op.N[k]; n > 0 && q != nil && q.pause&pauseOut == 0 && q.live > 0; n-- {
			i := s.take(q)
			if i == 0 {
				break
			}
			hdr := len(rb.Data)
			rb.Data = append(rb.Data, byte(k), byte(k>>8), 0, 0, 0, 0, 0, 0)
			rb.Data = s.appendItem(rb.Data, q, s.st.get(i), counters)
			l := len(rb.Data) - hdr - 8
			rb.Data[hdr+4], rb.Data[hdr+5], rb.Data[hdr+6], rb.Data[hdr+7] = byte(l), byte(l>>8), byte(l>>16), byte(l>>24)
		}
	}
	endTag(rb, op, start, Part, 0)
}

// waitHeap orders waiters by deadline.
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *waitHeap) Push(x any) { w := x.(*waiter); w.hidx = len(*h); *h = append(*h, w) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.hidx = -1
	return w
}
func (h waitHeap) peek() *waiter {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}
