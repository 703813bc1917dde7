package shard

import (
	"sync"
	"sync/atomic"

	"disq/engine/aof"
	"disq/engine/job"
	"disq/replicate"
)

// Persistence: during a step the shard appends a record to its log buffer
// for every change that matters (semantics.md 13.1): a LoadJob when it
// starts holding a job (the creator after replication or at once, a
// replica when it accepts a copy, an importer), a DelJob when it acks or
// removes an active or queued job. At the end of the step the buffer goes to
// the node's log writer as one batch, and the step's replies (and copy
// confirmations, GOTJOB) are held until the writer says the batch is
// durable per appendfsync: after the fsync that covers it with "always",
// after write(2) otherwise. The wait holds back those replies only; the
// shard goes on with its next step.

// Log is the node's log writer as the shards see it (engine/aof.Writer).
type Log = atomic.Pointer[aof.Writer]

// logAdd appends a LoadJob record for j to the step's log batch.
func (s *Shard) logAdd(j *job.Job) {
	s.logBuf = s.appendLoadJob(s.logBuf, j)
	s.logN++
}

// appendLoadJob appends a LoadJob record describing j to dst.
func (s *Shard) appendLoadJob(dst []byte, j *job.Job) []byte {
	q := s.queueByID(j.Queue)
	r := aof.Job{ID: j.ID, CTime: j.CTime, Expire: int64(j.Expire), Delay: j.Delay, Retry: j.Retry,
		Repl: j.Repl, Nacks: j.Nacks, AddDel: j.AddDel, Tenant: s.tenantName(j.Tenant)}
	if j.State == job.Queued {
		r.State = aof.StateQueued
	}
	if j.Flags&job.FlagDelivered != 0 {
		r.Flags |= aof.JobDelivered
	}
	if j.Flags&job.FlagCountRequeue != 0 {
		r.Flags |= aof.JobCountRequeue
	}
	if j.Flags&job.FlagQueuedOnce != 0 {
		r.Flags |= aof.JobQueuedOnce
	}
	if q != nil {
		r.Queue = q.name
	}
	r.Body = s.ar.get(j.Body, j.BodyLen)
	if j.Holders != 0 {
		for _, id := range s.holders(j) {
			s.holdBuf = id.AppendText(s.holdBuf)
		}
		r.Holders = s.holdBuf
	}
	dst = aof.AppendLoadJob(dst, &r)
	s.holdBuf = s.holdBuf[:0]
	return dst
}

// logDel appends a DelJob record for j.
func (s *Shard) logDel(j *job.Job) {
	s.logBuf = aof.AppendDelJob(s.logBuf, j.ID, string(s.tenantName(j.Tenant)))
	s.logN++
}

// logWriter returns the current log writer, or nil when the log is off (or
// while the shard replays it).
func (s *Shard) logWriter() *aof.Writer {
	if s.cfg.Log == nil || s.loading {
		return nil
	}
	return s.cfg.Log.Load()
}

// flushLog hands the step's records to the writer and, if there were any,
// holds the step's replies and copy confirmations until they are durable.
// It reports whether it took the replies.
func (s *Shard) flushLog() bool {
	if s.logN == 0 && len(s.heldBus) == 0 {
		return false
	}
	// With held messages but no records (a confirmation for a copy stored
	// in an earlier step, e.g. a resent REPLJOB), an empty batch carries
	// them: the writer releases it once everything before it is durable.
	// (These messages used to be dropped, so the creator never got that
	// confirmation.)
	w := s.logWriter()
	if w == nil {
		s.logBuf, s.logN = s.logBuf[:0], 0
		s.sendHeld()
		return false
	}
	lb := getLogBatch()
	lb.b.Producer, lb.b.Count = s.cfg.Index, s.logN
	lb.b.Records = append(lb.b.Records[:0], s.logBuf...)
	s.logBuf, s.logN = s.logBuf[:0], 0
	// Take the step's replies and held bus messages; they leave when the
	// batch is durable (on the writer's goroutine).
	for i := range s.out {
		if s.out[i].b != nil {
			lb.out = append(lb.out, s.out[i])
			s.out[i].b = nil
		}
	}
	lb.held = append(lb.held, s.heldBus...)
	clear(s.heldBus)
	s.heldBus = s.heldBus[:0]
	lb.bus = s.cfg.Bus
	w.AppendNow(&lb.b) // written here when the writer is idle (not under always)
	return true
}

// logBatch is one step's records with the replies and bus messages they
// hold back; pooled (the writer gives a Batch back when it calls
// OnDurable), so a step costs no allocation for its log hand-off.
type logBatch struct {
	b    aof.Batch
	out  []outbox
	held []heldMsg
	bus  Bus
}

var logBatchPool sync.Pool

func getLogBatch() *logBatch {
	if lb, ok := logBatchPool.Get().(*logBatch); ok {
		return lb
	}
	lb := &logBatch{}
	lb.b.OnDurable = lb.durable
	return lb
}

// durable runs on the writer's goroutine once the records are durable (err
// nil) or cannot be written.
func (lb *logBatch) durable(err error) {
	for _, o := range lb.out {
		if err != nil {
			// Not durable: the clients are told so instead of being
			// acknowledged (the writer keeps retrying the data).
			for k := range o.b.Items {
				it := &o.b.Items[k]
				it.Code, it.Start = ErrMisconf, uint32(len(o.b.Data))
				o.b.Data = append(o.b.Data, err.Error()...)
				it.End = uint32(len(o.b.Data))
			}
		}
		o.rq.Push(o.b)
	}
	if err == nil && lb.bus != nil {
		for _, m := range lb.held {
			lb.bus.Send(m.to, m.msg)
		}
	}
	clear(lb.out)
	clear(lb.held)
	lb.out, lb.held, lb.bus = lb.out[:0], lb.held[:0], nil
	if cap(lb.b.Records) > 1<<20 {
		lb.b.Records = nil // a burst: do not keep its buffer
	}
	logBatchPool.Put(lb)
}

// heldMsg is a bus message sent only once the step's records are durable.
type heldMsg struct {
	to  replicate.NodeID
	msg []byte
}

// sendHeld sends the held messages now (no log).
func (s *Shard) sendHeld() {
	if s.cfg.Bus != nil {
		for _, m := range s.heldBus {
			s.cfg.Bus.Send(m.to, m.msg)
		}
	}
	s.heldBus = s.heldBus[:0]
}

// confirmCopy answers GOTJOB for a copy. The step's confirmations leave
// together at its end (flushConfirms): one GOTJOBS per creating node, after
// the log holds the copies when the log is on.
func (s *Shard) confirmCopy(to replicate.NodeID, id [24]byte) {
	for k := range s.gotPend {
		if s.gotPend[k].to == to {
			s.gotPend[k].ids = append(s.gotPend[k].ids, id)
			return
		}
	}
	if n := len(s.gotPend); n < cap(s.gotPend) {
		s.gotPend = s.gotPend[:n+1]
		e := &s.gotPend[n]
		e.to, e.ids = to, append(e.ids[:0], id)
		return
	}
	s.gotPend = append(s.gotPend, gotPend{to: to, ids: [][24]byte{id}})
}

// gotPend is a step's copy confirmations for one node.
type gotPend struct {
	to  replicate.NodeID
	ids [][24]byte
}

// flushConfirms sends (or, with the log on, holds for flushLog) one
// message per node for the step's confirmations: GOTJOB for one copy,
// GOTJOBS for more. A replica storing a creator's pipeline of copies thus
// answers with one message instead of one per copy.
func (s *Shard) flushConfirms() {
	if len(s.gotPend) == 0 {
		return
	}
	logOn := s.logWriter() != nil
	for k := range s.gotPend {
		e := &s.gotPend[k]
		m := replicate.Msg{Type: replicate.MsgGotJob, ID: e.ids[0]}
		if len(e.ids) > 1 {
			m.Type, m.IDs = replicate.MsgGotJobs, e.ids
		}
		if logOn {
			s.heldBus = append(s.heldBus, heldMsg{e.to, replicate.AppendMsg(nil, &m)})
		} else {
			s.send(e.to, &m)
		}
		e.ids = e.ids[:0]
	}
	s.gotPend = s.gotPend[:0]
}

// ---- loading and rewriting -------------------------------------------------

// LoadOptions tell Load how to treat what it replays.
type LoadOptions struct {
	EnqueueOnce bool // aof-enqueue-jobs-once: queued jobs are queued again
}

// Load applies one record replayed from the log (a job of this shard). The
// caller runs it on the shard goroutine (Do), or before Run starts.
func (s *Shard) Load(rec *aof.Record, opts LoadOptions) {
	s.loading = true
	defer func() { s.loading = false }()
	s.now = s.clock()
	id := job.ID(rec.Job.ID)
	switch rec.Type {
	case aof.RecDelJob:
		if i := s.st.lookup(&id); i != 0 {
			_, _ = s.apply(i, s.st.get(i), job.Event{Kind: job.EvDelete})
		}
	case aof.RecLoadJob:
		r := &rec.Job
		if job.Millis(r.Expire) <= s.now {
			return // expired while the node was down
		}
		tenant, ok := s.tenantIndex(r.Tenant)
		if !ok {
			return // the tenant is gone
		}
		if i := s.st.lookup(&id); i != 0 {
			_, _ = s.apply(i, s.st.get(i), job.Event{Kind: job.EvDelete}) // a newer record wins
		}
		q := s.getQueue(tenant, r.Queue)
		i, j := s.st.alloc()
		j.ID = id
		j.CTime = r.CTime
		j.Expire = job.Millis(r.Expire)
		j.Delay, j.Retry, j.Repl = r.Delay, r.Retry, r.Repl
		j.Nacks, j.AddDel = r.Nacks, r.AddDel
		j.Tenant = tenant
		j.Queue = q.id
		j.Body, j.BodyLen = s.ar.put(r.Body), uint32(len(r.Body))
		if r.Flags&aof.JobDelivered != 0 {
			j.Flags |= job.FlagDelivered
		}
		q.refs++
		// Holders: keep the nodes this node still knows.
		var hs []replicate.NodeID
		for k := 0; k < r.NumHolders(); k++ {
			if nid, ok := replicate.ParseNodeID(string(r.Holder(k))); ok && (nid == s.self || s.knows(nid)) {
				hs = append(hs, nid)
			}
		}
		if len(hs) > 0 && !(len(hs) == 1 && hs[0] == s.self) {
			if !containsNode(hs, s.self) {
				hs = append(hs, s.self)
			}
			j.Holders = s.sets.intern(hs)
		}
		s.st.index(i)
		if s.cfg.Acct != nil {
			s.cfg.Acct.ChargeJob(tenant, int64(len(r.Body)))
		}
		if r.State == aof.StateQueued && opts.EnqueueOnce {
			// Queued again, exactly once even for at-most-once jobs.
			_, _ = s.apply(i, j, job.Event{Kind: job.EvImport})
			if r.Flags&aof.JobCountRequeue != 0 {
				j.Flags |= job.FlagCountRequeue
			}
			return
		}
		// Held active: the requeue clock restarts at now + (DELAY + RETRY)
		// s + jitter; at-most-once jobs are never queued again.
		_, _ = s.apply(i, j, job.Event{Kind: job.EvReplica})
		if r.Flags&aof.JobCountRequeue == 0 {
			j.Flags &^= job.FlagCountRequeue
		}
		if r.Flags&aof.JobQueuedOnce != 0 {
			j.Flags |= job.FlagQueuedOnce
		}
	}
}

// knows reports whether nid is a node of the current membership.
func (s *Shard) knows(nid replicate.NodeID) bool {
	if s.view == nil {
		if s.cfg.Bus == nil {
			return false
		}
		s.view = s.cfg.Bus.View()
	}
	_, ok := s.view.Node(nid)
	return ok
}

// snapshot is this shard's part of a background rewrite in progress: the
// store is serialized a chunk per step (snapshotChunk), between the steps'
// own work, so a rewrite never stops the shard for longer than one chunk
// (the whole store at once took 0.1-0.75 s with 1-3 million jobs). The
// writer copies this shard's live batches from the first chunk on into the
// new file, in order with the chunks (engine/aof, rewrite protocol), so a
// job that changes after its chunk was taken is followed there by its
// change, and one that changes before is serialized as it is by then.
type snapshot struct {
	rw   *aof.Rewrite
	next uint32 // the next store index to serialize
}

// Chunk bounds: store slots visited and record bytes per step.
const (
	snapshotSlots = 8192
	snapshotBytes = 512 << 10
)

// Snapshot starts this shard's part of the rewrite rw (an OpCall); the
// chunks follow at the end of this and the next steps. Shard goroutine
// only.
func (s *Shard) Snapshot(rw *aof.Rewrite) {
	if s.snap != nil {
		// A rewrite that failed meanwhile: end our part of it (the writer
		// ignores calls for a rewrite that is over).
		s.snap.rw.End(s.cfg.Index)
	}
	s.snap = &snapshot{rw: rw, next: 1}
}

// snapshotChunk hands the next chunk of the store's jobs (active and
// queued: not wait-repl, not acked) to the rewrite, and ends this shard's
// part after the last one. It runs after the step's flushLog, so the
// step's live records precede the chunk in the writer's queue, and only in
// the shard goroutine's own steps (nextDue keeps them coming), not in those
// an event loop runs inline: the loop's connections do not wait for it.
func (s *Shard) snapshotChunk() {
	sn := s.snap
	var buf []byte // the writer owns it after Snapshot
	n := 0
	i, end := sn.next, min(s.st.next, sn.next+snapshotSlots)
	for ; i < end && len(buf) < snapshotBytes; i++ {
		j := s.st.get(i)
		if j.State != job.Active && j.State != job.Queued {
			continue
		}
		if buf == nil {
			buf = make([]byte, 0, snapshotBytes+4<<10)
		}
		buf = s.appendLoadJob(buf, j)
		n++
	}
	sn.next = i
	if n > 0 {
		sn.rw.Snapshot(s.cfg.Index, buf, n)
	}
	if i >= s.st.next {
		sn.rw.End(s.cfg.Index)
		s.snap = nil
	}
}
