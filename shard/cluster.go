package shard

import (
	"bytes"
	"time"

	"disq/engine/job"
	"disq/replicate"
)

// The cluster side of a shard: synchronous replication of the jobs it
// creates, copies of other nodes' jobs, requeue de-duplication (WILLQUEUE,
// QUEUED), ACK garbage collection (SETACK, GOTACK, DELJOB), WORKING,
// federation (NEEDJOBS, YOURJOBS) and PAUSE broadcasts (semantics.md 5-11).
// Messages go out through the Bus (replicate.Cluster); incoming messages
// reach the shard as OpBus ops routed by the job ID's slot (or the queue's
// slot), so this state, like everything else, is owned by the shard
// goroutine. With no Bus the shard is a lone node and none of this runs.

// Bus is the node-to-node bus as a shard sees it.
type Bus interface {
	Send(to replicate.NodeID, msg []byte) bool
	Broadcast(msg []byte) int
	View() *replicate.View
}

// nodeSets interns the holder sets of jobs ("nodes-delivered"): a job
// record keeps a uint32 index; index 0 means "this node only".
type nodeSets struct {
	sets  [][]replicate.NodeID
	byKey map[string]uint32
	ids   []replicate.NodeID // scratch: the sorted, deduplicated input
	key   []byte             // scratch: the map key
	// The last input and its index (intern's fast path).
	last    []replicate.NodeID
	lastIdx uint32
	lastOK  bool
}

// intern returns the index of the set of ids (order and duplicates do not
// matter; ids is not modified). It allocates only for a set not seen
// before: replicated ADDJOBs call it once per job.
func (ns *nodeSets) intern(ids []replicate.NodeID) uint32 {
	// Fast path: the same set as last time (every replica copy of a
	// 3-node cluster carries the same holders, in any order).
	if ns.lastOK && len(ids) == len(ns.last) && sameNodes(ids, ns.last) && sameNodes(ns.last, ids) {
		return ns.lastIdx
	}
	i := ns.internSlow(ids)
	ns.last = append(ns.last[:0], ids...)
	ns.lastIdx, ns.lastOK = i, true
	return i
}

// sameNodes reports whether every node of a is in b.
func sameNodes(a, b []replicate.NodeID) bool {
	for _, id := range a {
		if !containsNode(b, id) {
			return false
		}
	}
	return true
}

func (ns *nodeSets) internSlow(ids []replicate.NodeID) uint32 {
	// Insertion sort into the scratch, dropping duplicates (sets are a
	// handful of nodes).
	out := ns.ids[:0]
	for _, id := range ids {
		k := len(out)
		for k > 0 && bytes.Compare(out[k-1][:], id[:]) > 0 {
			k--
		}
		if k > 0 && out[k-1] == id {
			continue
		}
		out = append(out, replicate.NodeID{})
		copy(out[k+1:], out[k:])
		out[k] = id
	}
	ns.ids = out
	key := ns.key[:0]
	for _, id := range out {
		key = append(key, id[:]...)
	}
	ns.key = key
	if ns.byKey == nil {
		ns.byKey = make(map[string]uint32)
		ns.sets = [][]replicate.NodeID{nil}
	}
	if i, ok := ns.byKey[string(key)]; ok {
		return i
	}
	i := uint32(len(ns.sets))
	ns.sets = append(ns.sets, append([]replicate.NodeID(nil), out...))
	ns.byKey[string(key)] = i
	return i
}

// holders returns the nodes that may hold a copy of j.
func (s *Shard) holders(j *job.Job) []replicate.NodeID {
	if j.Flags&job.FlagDummy != 0 {
		return nil
	}
	if j.Holders == 0 {
		return s.selfSet[:]
	}
	return s.sets.sets[j.Holders]
}

func (s *Shard) hasOthers(j *job.Job) bool {
	for _, id := range s.holders(j) {
		if id != s.self {
			return true
		}
	}
	return false
}

// addHolders unions ids into j's holder set.
func (s *Shard) addHolders(j *job.Job, ids ...replicate.NodeID) {
	cur := s.holders(j)
	all := make([]replicate.NodeID, 0, len(cur)+len(ids))
	all = append(all, cur...)
	changed := false
	for _, id := range ids {
		if !containsNode(cur, id) {
			all = append(all, id)
			changed = true
		}
	}
	if changed {
		j.Holders = s.sets.intern(all)
	}
}

func containsNode(l []replicate.NodeID, id replicate.NodeID) bool {
	for _, x := range l {
		if x == id {
			return true
		}
	}
	return false
}

// send encodes m and queues it for node to.
func (s *Shard) send(to replicate.NodeID, m *replicate.Msg) {
	if s.cfg.Bus == nil || to == s.self {
		return
	}
	s.msgBuf = replicate.AppendMsg(s.msgBuf[:0], m)
	s.cfg.Bus.Send(to, s.msgBuf)
}

// sendHolders sends m to every other node that may hold j.
func (s *Shard) sendHolders(j *job.Job, m *replicate.Msg) {
	if s.cfg.Bus == nil {
		return
	}
	s.msgBuf = replicate.AppendMsg(s.msgBuf[:0], m)
	for _, id := range s.holders(j) {
		if id != s.self {
			s.cfg.Bus.Send(id, s.msgBuf)
		}
	}
}

func (s *Shard) broadcast(m *replicate.Msg) {
	if s.cfg.Bus == nil {
		return
	}
	s.msgBuf = replicate.AppendMsg(s.msgBuf[:0], m)
	s.cfg.Bus.Broadcast(s.msgBuf)
}

// idMsg builds a message about job j.
func idMsg(t replicate.MsgType, j *job.Job) replicate.Msg {
	return replicate.Msg{Type: t, ID: j.ID}
}

// jobMsg fills a replicate.Job from record j (REPLJOB, YOURJOBS).
func (s *Shard) jobMsg(dst *replicate.Job, j *job.Job) {
	q := s.queueByID(j.Queue)
	dst.ID = j.ID
	dst.Tenant = s.tenantName(j.Tenant)
	dst.Queue = nil
	if q != nil {
		dst.Queue = q.name
	}
	dst.Body = s.ar.get(j.Body, j.BodyLen)
	dst.CTime = int64(j.CTime)
	dst.TTL = int64(j.Expire - s.now)
	dst.Delay = int64(j.Delay) * 1000
	dst.Retry = int64(j.Retry) * 1000
	dst.Repl = uint32(j.Repl)
	dst.Nacks = uint32(j.Nacks)
	dst.AddDeliveries = uint32(j.AddDel)
	dst.Holders = s.holders(j)
}

// tenantName returns the name of a tenant index (the built-in tenant is
// "default"; the engine resolves others through Config.TenantName).
func (s *Shard) tenantName(t uint16) []byte {
	if t == 0 || s.cfg.TenantName == nil {
		return defaultTenant
	}
	return []byte(s.cfg.TenantName(t))
}

// tenantIndex maps a tenant name from another node to the local index; ok
// is false for a tenant this node does not know (its messages are dropped).
func (s *Shard) tenantIndex(name []byte) (uint16, bool) {
	if len(name) == 0 || bytes.Equal(name, defaultTenant) {
		return 0, true
	}
	if s.cfg.TenantIndex == nil {
		return 0, false
	}
	return s.cfg.TenantIndex(name)
}

var defaultTenant = []byte("default")

// ---- tasks: replication retries and timeouts, GC retries ----------------

// task is a timed action on a job in a side table (replication, GC),
// invalidated lazily by its version.
type task struct {
	at   job.Millis
	idx  uint32
	ver  uint32
	kind uint8
}

const (
	taskRepl uint8 = iota + 1
	taskGC
)

type taskHeap []task

// addTask and popTask keep s.tasks a binary min-heap on at (typed, so a
// task is not boxed into an interface on every push: one task per
// replicated ADDJOB).
func (s *Shard) addTask(t task) {
	h := append(s.tasks, t)
	for c := len(h) - 1; c > 0; {
		p := (c - 1) / 2
		if h[p].at <= h[c].at {
			break
		}
		h[p], h[c] = h[c], h[p]
		c = p
	}
	s.tasks = h
}

func (s *Shard) popTask() task {
	h := s.tasks
	t := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for p := 0; ; {
		c := 2*p + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].at < h[c].at {
			c++
		}
		if h[p].at <= h[c].at {
			break
		}
		h[p], h[c] = h[c], h[p]
		p = c
	}
	s.tasks = h
	return t
}

func (s *Shard) nextTask() job.Millis {
	if len(s.tasks) == 0 {
		return maxInt64()
	}
	return s.tasks[0].at
}

func (s *Shard) runTasks(now job.Millis) {
	for len(s.tasks) > 0 && s.tasks[0].at <= now {
		t := s.popTask()
		switch t.kind {
		case taskRepl:
			if r := s.repls[t.idx]; r != nil && r.ver == t.ver {
				s.replTick(t.idx, r)
			}
		case taskGC:
			if g := s.gcs[t.idx]; g != nil && g.ver == t.ver {
				s.gcAttempt(t.idx, s.st.get(t.idx), g)
			}
		}
	}
}

// ---- synchronous replication (the creating node) -------------------------

// replState is an ADDJOB waiting for REPLICATE confirmed copies.
type replState struct {
	sess      any
	rq        *ReplyQueue
	seq       uint32
	deadline  job.Millis // 0 = none
	targets   []replicate.NodeID
	confirmed []replicate.NodeID
	tbuf      [4]replicate.NodeID // first backing of targets (no allocation for up to 4)
	cbuf      [4]replicate.NodeID // and of confirmed
	repl      int
	external  bool // this node keeps no copy
	async     bool
	ver       uint32
	pooled    bool          // on the free list (freeRepl)
	sent      time.Duration // the first REPLJOB's op start (Shard.opAt)
}

// newRepl takes a replState from the shard's free list (one per replicated
// ADDJOB otherwise, 270 bytes with pointers: 5% of the producing node's
// CPU in a profile).
func (s *Shard) newRepl() *replState {
	n := len(s.replFree)
	if n == 0 {
		r := &replState{}
		r.targets, r.confirmed = r.tbuf[:0], r.cbuf[:0]
		return r
	}
	r := s.replFree[n-1]
	s.replFree[n-1] = nil
	s.replFree = s.replFree[:n-1]
	r.pooled = false
	return r
}

// freeRepl returns r, already out of s.repls and no longer used, to the
// free list. Its pending task, if any, finds another version at that index
// (versions come from one shard-wide counter) and does nothing.
func (s *Shard) freeRepl(r *replState) {
	if r.pooled {
		return
	}
	*r = replState{pooled: true}
	r.targets, r.confirmed = r.tbuf[:0], r.cbuf[:0]
	if len(s.replFree) < 4096 {
		s.replFree = append(s.replFree, r)
	}
}

// startReplication sends the copies of a job just created in wait-repl.
func (s *Shard) startReplication(i uint32, j *job.Job, op *Op, external bool) {
	r := s.newRepl()
	r.sess, r.rq, r.seq, r.repl, r.external = op.Sess, op.RQ, op.Seq, int(j.Repl), external
	r.sent = s.opAt
	if t := op.N[5]; t > 0 && job.Millis(t) < maxInt64()-s.now {
		r.deadline = s.now + job.Millis(t)
	}
	if !external {
		r.targets = append(r.targets, s.self)
		r.confirmed = append(r.confirmed, s.self)
	}
	needed := int(j.Repl)
	if !external {
		needed--
	}
	r.targets = append(r.targets, s.pickReachable(needed, r.targets)...)
	j.Holders = s.sets.intern(r.targets)
	s.repls[i] = r
	s.sendCopies(j, r.targets, r.confirmed, false)
	s.scheduleRepl(i, r)
}

// pickReachable returns up to n reachable nodes not in exclude, at random.
// The slice is scratch space, valid until the next call.
func (s *Shard) pickReachable(n int, exclude []replicate.NodeID) []replicate.NodeID {
	if n <= 0 || s.view == nil {
		return nil
	}
	cand := s.pickBuf[:0]
	for _, id := range s.view.Reachable {
		if !containsNode(exclude, id) {
			cand = append(cand, id)
		}
	}
	s.pickBuf = cand
	n = min(n, len(cand))
	for k := 0; k < n; k++ { // the first n of a Fisher-Yates shuffle
		r := k + s.rng.IntN(len(cand)-k)
		cand[k], cand[r] = cand[r], cand[k]
	}
	return cand[:n]
}

// sendCopies sends REPLJOB to the targets not yet confirmed (and, with
// all, to the confirmed ones too, without asking for a new confirmation,
// so they learn the new holder list).
func (s *Shard) sendCopies(j *job.Job, targets, confirmed []replicate.NodeID, all bool) {
	if s.cfg.Bus == nil {
		return
	}
	m := replicate.Msg{Type: replicate.MsgReplJob, ID: j.ID}
	s.jobMsg(&m.Job, j)
	var ask, noReply []byte // each encoded once, for every target it goes to
	for _, id := range targets {
		if id == s.self {
			continue
		}
		if containsNode(confirmed, id) {
			if !all {
				continue
			}
			if noReply == nil {
				m.Flags = replicate.MsgNoReply
				s.msgBuf2 = replicate.AppendMsg(s.msgBuf2[:0], &m)
				noReply = s.msgBuf2
			}
			s.cfg.Bus.Send(id, noReply)
		} else {
			if ask == nil {
				m.Flags = 0
				s.msgBuf = replicate.AppendMsg(s.msgBuf[:0], &m)
				ask = s.msgBuf
			}
			s.cfg.Bus.Send(id, ask)
		}
	}
}

func (s *Shard) scheduleRepl(i uint32, r *replState) {
	s.replVer++ // shard-wide: a new replState at a reused index never matches an old task
	r.ver = s.replVer
	at := s.now + 50 // add one node / resend every 50 ms
	if r.deadline != 0 && r.deadline < at {
		at = r.deadline
	}
	s.addTask(task{at: at, idx: i, ver: r.ver, kind: taskRepl})
}

// replTick: timeout, or add one more reachable node and resend.
func (s *Shard) replTick(i uint32, r *replState) {
	j := s.st.get(i)
	if r.deadline != 0 && s.now >= r.deadline {
		s.replFail(i, j, r, ErrNoReplTimeout)
		return
	}
	added := s.pickReachable(1, r.targets)
	r.targets = append(r.targets, added...)
	if len(added) > 0 {
		j.Holders = s.sets.intern(r.targets)
	}
	s.sendCopies(j, r.targets, r.confirmed, len(added) > 0)
	s.Stats.ReplResends.Add(1)
	s.scheduleRepl(i, r)
}

// replFail answers the ADDJOB client with code c, deletes the job here and
// sends a best-effort delete to every node that may have a copy.
func (s *Shard) replFail(i uint32, j *job.Job, r *replState, c Code) {
	delete(s.repls, i)
	s.replyTo(r.rq, r.sess, r.seq, c, nil)
	m := idMsg(replicate.MsgDelJob, j)
	for _, id := range r.targets {
		s.send(id, &m)
	}
	if j.State != job.Free {
		eff, err := j.Apply(job.Event{Kind: job.EvDelete}, s.now)
		if err == nil {
			s.effects(i, j, eff&^job.EffReplyAdd)
		}
	}
	s.freeRepl(r)
}

// gotJob: a node confirmed its copy.
func (s *Shard) gotJob(from replicate.NodeID, id *[24]byte, lat *replLat) {
	i := s.st.lookup((*job.ID)(id))
	if i == 0 {
		return
	}
	r := s.repls[i]
	if r == nil || containsNode(r.confirmed, from) {
		return
	}
	lat.add(s.opAt - r.sent)
	r.confirmed = append(r.confirmed, from)
	if !containsNode(r.targets, from) {
		r.targets = append(r.targets, from)
	}
	if len(r.confirmed) < r.repl {
		return
	}
	j := s.st.get(i)
	if r.external {
		// Ask one confirming node to do the first queueing, then forget
		// the job here.
		delete(s.repls, i)
		q := replicate.Msg{Type: replicate.MsgEnqueue, ID: j.ID, Delay: int64(j.Delay) * 1000}
		s.send(r.confirmed[s.rng.IntN(len(r.confirmed))], &q)
		s.replyID(r.rq, r.sess, r.seq, &j.ID)
		eff, err := j.Apply(job.Event{Kind: job.EvDelete}, s.now)
		if err == nil {
			s.effects(i, j, eff&^job.EffReplyAdd)
		}
		s.freeRepl(r)
		return
	}
	_, _ = s.apply(i, j, job.Event{Kind: job.EvReplicated}) // EffReplyAdd answers the client
}

// replLat adds up the replication latencies of the copies one GOTJOB(S)
// message confirms.
type replLat struct {
	sum time.Duration
	n   int
}

func (l *replLat) add(d time.Duration) {
	l.sum += max(d, 0)
	l.n++
}

// replObserver is the part of the bus that takes replication latencies
// (replicate.Cluster; test buses may leave it out).
type replObserver interface {
	ObserveReplLatency(from replicate.NodeID, sum time.Duration, n int)
}

// observeRepl hands one message's confirmation latencies to the bus
// metrics (disq_bus_repl_latency_seconds, INFO bus repl_latency_us).
func (s *Shard) observeRepl(from replicate.NodeID, l *replLat) {
	if l.n == 0 {
		return
	}
	if o, ok := s.cfg.Bus.(replObserver); ok {
		o.ObserveReplLatency(from, l.sum, l.n)
	}
}

// replyAdd answers the ADDJOB client of a wait-repl job that was replicated
// (or acked meanwhile: the same) or removed (freed).
func (s *Shard) replyAdd(i uint32, j *job.Job, freed bool) {
	r := s.repls[i]
	if r == nil {
		return
	}
	if freed {
		s.replFail(i, j, r, ErrRemoved)
		return
	}
	delete(s.repls, i)
	s.replyID(r.rq, r.sess, r.seq, &j.ID)
	s.freeRepl(r)
}

func (s *Shard) replyID(rq *ReplyQueue, sess any, seq uint32, id *job.ID) {
	if rq == nil {
		return
	}
	rb := s.begin(rq)
	start := len(rb.Data)
	rb.Data = append(rb.Data, '+')
	rb.Data = id.AppendText(rb.Data)
	rb.Data = append(rb.Data, '\r', '\n')
	end(rb, sess, seq, start, OK, 0)
}

func (s *Shard) replyTo(rq *ReplyQueue, sess any, seq uint32, c Code, data []byte) {
	if rq == nil {
		return
	}
	rb := s.begin(rq)
	start := len(rb.Data)
	rb.Data = append(rb.Data, data...)
	end(rb, sess, seq, start, c, 0)
}

// cancelRepl handles an ADDJOB client that went away: the job is deleted
// cluster-wide, best effort.
func (s *Shard) cancelRepl(sess any) {
	for i, r := range s.repls {
		if r.sess == sess {
			r.rq = nil
			s.replFail(i, s.st.get(i), r, ErrRemoved)
		}
	}
}

// ---- copies received from other nodes -----------------------------------

// replJob stores a copy sent by the creating node and confirms it.
func (s *Shard) replJob(from replicate.NodeID, m *replicate.Msg) {
	mj := &m.Job
	tenant, ok := s.tenantIndex(mj.Tenant)
	if !ok || s.refuseCopies() {
		return
	}
	if i := s.st.lookup((*job.ID)(&mj.ID)); i != 0 {
		j := s.st.get(i)
		s.addHolders(j, mj.Holders...)
		if m.Flags&replicate.MsgNoReply == 0 {
			s.confirmCopy(from, mj.ID)
		}
		return
	}
	if q := s.lookupQueue(tenant, mj.Queue); q != nil && q.pause&pauseIn != 0 {
		return // paused in: refuse the copy
	}
	i, j := s.newRecord(tenant, mj)
	_, _ = s.apply(i, j, job.Event{Kind: job.EvReplica})
	if m.Flags&replicate.MsgNoReply == 0 {
		s.confirmCopy(from, mj.ID) // after our own log holds it
	}
}

// refuseCopies: above 75% of maxmemory or when leaving, a node takes no new
// copies.
func (s *Shard) refuseCopies() bool {
	return s.memLevel() >= 1 || (s.view != nil && s.view.Leaving)
}

func (s *Shard) memLevel() int32 {
	if s.cfg.MemLevel == nil {
		return 0
	}
	return s.cfg.MemLevel.Load()
}

// newRecord creates a Free record holding a job received from another node.
func (s *Shard) newRecord(tenant uint16, mj *replicate.Job) (uint32, *job.Job) {
	q := s.getQueue(tenant, mj.Queue)
	i, j := s.st.alloc()
	j.ID = mj.ID
	j.CTime = uint64(mj.CTime)
	// Relative transfer of the TTL tolerates clock skew; one second more,
	// as Disque adds, so the creator expires first.
	j.Expire = s.now + job.Millis(max(mj.TTL, 0)) + 1000
	j.Delay = uint32(mj.Delay / 1000)
	j.Retry = uint32(mj.Retry / 1000)
	j.Repl = uint16(min(mj.Repl, 65535))
	j.Nacks = uint16(mj.Nacks)
	j.AddDel = uint16(mj.AddDeliveries)
	j.Tenant = tenant
	j.Queue = q.id
	j.Body, j.BodyLen = s.ar.put(mj.Body), uint32(len(mj.Body))
	q.refs++
	hs := append(s.nodeBuf[:0], mj.Holders...) // scratch: intern copies what it keeps
	if !containsNode(hs, s.self) {
		hs = append(hs, s.self)
	}
	s.nodeBuf = hs
	j.Holders = s.sets.intern(hs)
	s.st.index(i)
	if s.cfg.Acct != nil {
		s.cfg.Acct.ChargeJob(tenant, int64(len(mj.Body)))
	}
	s.count(tenant, EvAdded, 1)
	return i, j
}

// enqueueReq: the creator (external replication) asks this node to do the
// first queueing.
func (s *Shard) enqueueReq(m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		return
	}
	j := s.st.get(i)
	if q := s.queueByID(j.Queue); q != nil && q.pause&pauseIn != 0 {
		return
	}
	_, _ = s.apply(i, j, job.Event{Kind: job.EvQueueRequest})
}

// ---- requeue de-duplication ------------------------------------------------

// willQueue: another holder announces it will requeue the job in 500 ms.
func (s *Shard) willQueue(from replicate.NodeID, m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		return
	}
	j := s.st.get(i)
	switch j.State {
	case job.Acked:
		s.send(from, &replicate.Msg{Type: replicate.MsgSetAck, ID: j.ID, Count: int64(len(s.holders(j)))})
	case job.Queued:
		s.addHolders(j, from)
		qm := idMsg(replicate.MsgQueued, j)
		s.sendHolders(j, &qm)
	case job.Active:
		s.addHolders(j, from)
	}
}

// queued: another holder queued the job. Postpone our own requeue, drop
// our queued duplicate if the sender wins the tie-break, count.
func (s *Shard) queued(from replicate.NodeID, m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		return
	}
	j := s.st.get(i)
	switch j.State {
	case job.Acked:
		s.send(from, &replicate.Msg{Type: replicate.MsgSetAck, ID: j.ID, Count: int64(len(s.holders(j)))})
		return
	case job.WaitRepl, job.Free:
		return
	}
	s.addHolders(j, from)
	if j.State == job.Queued && s.winsTieBreak(from, &j.ID) {
		_, _ = s.apply(i, j, job.Event{Kind: job.EvDequeue})
	}
	if m.Flags&replicate.MsgCountNack != 0 {
		j.Nacks++
	}
	if m.Flags&replicate.MsgCountDelivery != 0 {
		j.AddDel++
	}
	s.postpone(i, j)
}

// postpone pushes an active job's requeue time to now + RETRY + jitter.
func (s *Shard) postpone(i uint32, j *job.Job) {
	if j.State == job.Active && j.Retry > 0 {
		j.QTime = s.now + j.RetryMillis() + s.jitter()
		s.reschedule(i, j)
	}
}

// winsTieBreak reports whether node `other` wins the de-duplication
// tie-break against this node for job id: XOR each of the 40 characters of
// the node ID with character 11 + (i mod 24) of the job ID, compare; the
// larger wins (semantics.md 6.4).
func (s *Shard) winsTieBreak(other replicate.NodeID, id *job.ID) bool {
	var idt [job.IDLen]byte
	id.AppendText(idt[:0])
	var a, b [replicate.NodeIDLen]byte
	other.AppendText(a[:0])
	s.self.AppendText(b[:0])
	for k := 0; k < replicate.NodeIDLen; k++ {
		x, y := a[k]^idt[11+k%24], b[k]^idt[11+k%24]
		if x != y {
			return x > y
		}
	}
	return false
}

// workingMsg: a worker is on the job at another node.
func (s *Shard) workingMsg(from replicate.NodeID, m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		return
	}
	j := s.st.get(i)
	switch j.State {
	case job.Acked:
		s.send(from, &replicate.Msg{Type: replicate.MsgSetAck, ID: j.ID, Count: int64(len(s.holders(j)))})
	case job.Queued:
		_, _ = s.apply(i, j, job.Event{Kind: job.EvDequeue})
		s.postpone(i, j)
	case job.Active:
		s.postpone(i, j)
	}
}

// ---- acknowledgements and garbage collection -------------------------------

// gcState is an acked job whose copies are being collected.
type gcState struct {
	confirmed []replicate.NodeID
	attempt   int
	ver       uint32
}

// startGC begins collecting an acked job (ACKJOB here, or SETACK).
func (s *Shard) startGC(i uint32, j *job.Job) {
	g := s.gcs[i]
	if g == nil {
		g = &gcState{confirmed: []replicate.NodeID{s.self}}
		s.gcs[i] = g
	}
	s.gcAttempt(i, j, g)
}

// gcAttempt: delete once every holder confirmed; else ask the others with
// SETACK and retry with exponential backoff.
func (s *Shard) gcAttempt(i uint32, j *job.Job, g *gcState) {
	if j.State != job.Acked {
		delete(s.gcs, i)
		return
	}
	dummy := j.Flags&job.FlagDummy != 0
	if !dummy {
		all := true
		for _, id := range s.holders(j) {
			if !containsNode(g.confirmed, id) {
				all = false
				break
			}
		}
		if all {
			s.gcDone(i, j, false)
			return
		}
	} else if s.view == nil || s.view.Size <= 1 {
		s.gcDone(i, j, false)
		return
	}
	m := replicate.Msg{Type: replicate.MsgSetAck, ID: j.ID, Count: int64(len(s.holders(j)))}
	if dummy {
		m.Count = 0
		for _, n := range s.view.Nodes {
			if n.ID != s.self && n.Flags&replicate.NodeHandshake == 0 && !containsNode(g.confirmed, n.ID) {
				s.send(n.ID, &m)
			}
		}
	} else {
		for _, id := range s.holders(j) {
			if !containsNode(g.confirmed, id) {
				s.send(id, &m)
			}
		}
	}
	delay := job.Millis(1000) << min(g.attempt, 10)
	if delay > 180_000 {
		delay = 180_000
	}
	if g.attempt < 10 {
		g.attempt++
	}
	g.ver++
	s.addTask(task{at: s.now + delay + s.jitter(), idx: i, ver: g.ver, kind: taskGC})
}

// gcDone deletes the acked job (sending DELJOB to the holders when asked).
func (s *Shard) gcDone(i uint32, j *job.Job, tellHolders bool) {
	delete(s.gcs, i)
	if tellHolders {
		m := idMsg(replicate.MsgDelJob, j)
		s.sendHolders(j, &m)
	}
	_, _ = s.apply(i, j, job.Event{Kind: job.EvDelete})
}

// setAck: another node acked the job and knows n holders.
func (s *Shard) setAck(from replicate.NodeID, m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		s.send(from, &replicate.Msg{Type: replicate.MsgGotAck, ID: m.ID})
		return
	}
	j := s.st.get(i)
	if j.State != job.Acked {
		if _, err := s.apply(i, j, job.Event{Kind: job.EvAck}); err == nil {
			s.Stats.Acked.Add(1)
		}
		if j.State == job.Free {
			return // an external relay: nothing held here any more
		}
	}
	known := j.Flags&job.FlagDummy == 0
	if !known || int64(len(s.holders(j))) <= m.Count {
		flags := replicate.MsgFlags(0)
		if known {
			flags = replicate.MsgKnown
		}
		s.send(from, &replicate.Msg{Type: replicate.MsgGotAck, ID: j.ID, Flags: flags})
		if s.gcs[i] == nil && known {
			// The sender drives the collection; keep the ack until its
			// DELJOB or our TTL.
		}
		return
	}
	if m.Count == 0 {
		s.send(from, &replicate.Msg{Type: replicate.MsgGotAck, ID: j.ID, Flags: replicate.MsgKnown})
	}
	s.startGC(i, j) // we know more holders: we drive the collection
}

// gotAck: a node answered our SETACK.
func (s *Shard) gotAck(from replicate.NodeID, m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		return
	}
	j := s.st.get(i)
	if j.State != job.Acked {
		return
	}
	g := s.gcs[i]
	if g == nil {
		g = &gcState{confirmed: []replicate.NodeID{s.self}}
		s.gcs[i] = g
	}
	known := m.Flags&replicate.MsgKnown != 0
	dummy := j.Flags&job.FlagDummy != 0
	switch {
	case dummy && known:
		s.gcDone(i, j, false) // a real holder takes over
		return
	case known || containsNode(s.holders(j), from):
		s.addHolders(j, from)
		if !containsNode(g.confirmed, from) {
			g.confirmed = append(g.confirmed, from)
		}
	case dummy:
		if !containsNode(g.confirmed, from) {
			g.confirmed = append(g.confirmed, from)
		}
		all := true
		for _, n := range s.view.Nodes {
			if n.Flags&replicate.NodeHandshake == 0 && !containsNode(g.confirmed, n.ID) {
				all = false
				break
			}
		}
		if all {
			s.gcDone(i, j, false) // nobody has the job
		}
		return
	}
	for _, id := range s.holders(j) {
		if !containsNode(g.confirmed, id) {
			return
		}
	}
	s.gcDone(i, j, true)
}

// delJob: delete the local copy whatever its state.
func (s *Shard) delJob(m *replicate.Msg) {
	i := s.st.lookup((*job.ID)(&m.ID))
	if i == 0 {
		return
	}
	j := s.st.get(i)
	if r := s.repls[i]; r != nil {
		s.replFail(i, j, r, ErrRemoved)
		return
	}
	_, _ = s.apply(i, j, job.Event{Kind: job.EvDelete})
}

// dummyAck records an ACK for a job this node does not hold, so that the
// holders learn it (only at-least-once jobs on a multi-node cluster).
func (s *Shard) dummyAck(idText []byte, tenant uint16) {
	if s.view == nil || s.view.Size <= 1 || s.view.Leaving {
		return
	}
	f := job.TTLFieldOfText(idText)
	if f&1 == 0 {
		return
	}
	id, ok := job.ParseID(idText)
	if !ok {
		return
	}
	i, j := s.st.alloc()
	j.ID = id
	j.Tenant = tenant
	j.Expire = s.now + job.Millis(f)*60_000
	s.st.index(i)
	if _, err := s.apply(i, j, job.Event{Kind: job.EvDummyAck}); err != nil {
		return
	}
	s.startGC(i, j)
}

// ---- federation ------------------------------------------------------------

// fedState is a queue's federation bookkeeping (semantics.md 10).
type fedState struct {
	responders   map[replicate.NodeID]job.Millis
	lastBcast    job.Millis
	bcastTries   int
	lastAsk      job.Millis
	askTries     int
	importWin    job.Millis // start of the current 1 s window
	importCur    int64      // jobs imported in the current window
	importPrev   int64      // jobs imported in the previous window
	prevWinStart job.Millis
}

func (q *queue) fed() *fedState {
	if q.federation == nil {
		q.federation = &fedState{responders: make(map[replicate.NodeID]job.Millis)}
	}
	return q.federation
}

// importRate returns the queue's recent import rate in jobs/s.
func (s *Shard) importRate(q *queue) int64 {
	f := q.federation
	if f == nil || s.now-f.importWin > 5000 {
		return 0
	}
	span := s.now - f.prevWinStart
	if f.prevWinStart == 0 {
		span = s.now - f.importWin
	}
	if span < 50 {
		span = 50
	}
	n := f.importCur + f.importPrev
	return (n*1000 + int64(span) - 1) / int64(span)
}

// needJobs asks other nodes for jobs of q: "clients waiting" (drained =
// false) or "queue drained" (true). A leaving node never asks.
func (s *Shard) needJobs(q *queue, drained bool) {
	if s.cfg.Bus == nil || s.view == nil || s.view.Leaving || len(s.view.Nodes) <= 1 {
		return
	}
	f := q.fed()
	now := s.now
	for id, at := range f.responders {
		if now-at > 5000 {
			delete(f.responders, id)
		}
	}
	if drained && s.importRate(q) == 0 {
		return
	}
	ask := int64(5)
	if len(f.responders) > 0 {
		ask = s.importRate(q) / int64(len(f.responders))
	}
	ask = min(max(ask, 5), 100)
	m := replicate.Msg{Type: replicate.MsgNeedJobs, Tenant: s.tenantName(q.tenant), Queue: q.name}
	if bo := min(job.Millis(2000)<<min(f.bcastTries, 5), 30_000); now-f.lastBcast > bo {
		m.Count = 1
		s.broadcast(&m)
		f.lastBcast = now
		f.bcastTries++
	}
	if len(f.responders) > 0 {
		if bo := min(job.Millis(25)<<min(f.askTries, 7), 2000); drained || now-f.lastAsk > bo {
			m.Count = ask
			s.msgBuf = replicate.AppendMsg(s.msgBuf[:0], &m)
			for id := range f.responders {
				s.cfg.Bus.Send(id, s.msgBuf)
			}
			f.lastAsk = now
			f.askTries++
		}
	}
}

// giveJobs answers NEEDJOBS: pop jobs from the head and send them.
func (s *Shard) giveJobs(from replicate.NodeID, m *replicate.Msg) {
	tenant, ok := s.tenantIndex(m.Tenant)
	if !ok {
		return
	}
	q := s.lookupQueue(tenant, m.Queue)
	if q == nil || q.live == 0 || q.pause&pauseOut != 0 || s.importRate(q) > 0 {
		return
	}
	count := int(max(m.Count, 1))
	n := count
	if q.live < 2*count {
		n = max(q.live/2, 1)
	}
	out := replicate.Msg{Type: replicate.MsgYourJobs}
	var freeLater []uint32
	for ; n > 0; n-- {
		i := s.take(q)
		if i == 0 {
			break
		}
		j := s.st.get(i)
		var mj replicate.Job
		s.jobMsg(&mj, j)
		mj.Body = append([]byte(nil), mj.Body...)
		mj.Holders = append([]replicate.NodeID(nil), mj.Holders...)
		if !containsNode(mj.Holders, from) {
			mj.Holders = append(mj.Holders, from)
		}
		out.Jobs = append(out.Jobs, mj)
		if j.AtMostOnce() {
			freeLater = append(freeLater, i) // a single owner: the importer
		}
	}
	if len(out.Jobs) == 0 {
		return
	}
	s.send(from, &out)
	for _, i := range freeLater {
		_, _ = s.apply(i, s.st.get(i), job.Event{Kind: job.EvDelete})
	}
}

// yourJobs imports jobs another node moved here.
func (s *Shard) yourJobs(from replicate.NodeID, m *replicate.Msg) {
	for k := range m.Jobs {
		mj := &m.Jobs[k]
		if id := job.ID(mj.ID); shardOfSlot(id.Slot(), s.cfg.Shards) != s.cfg.Index {
			continue // the engine routes YOURJOBS per job; not ours
		}
		tenant, ok := s.tenantIndex(mj.Tenant)
		if !ok {
			continue
		}
		var i uint32
		var j *job.Job
		if i = s.st.lookup((*job.ID)(&mj.ID)); i != 0 {
			j = s.st.get(i)
			if j.State != job.Active {
				continue
			}
			s.addHolders(j, mj.Holders...)
		} else {
			i, j = s.newRecord(tenant, mj)
		}
		if _, err := s.apply(i, j, job.Event{Kind: job.EvImport}); err != nil {
			continue
		}
		q := s.queueByID(j.Queue)
		if q == nil {
			continue
		}
		f := q.fed()
		if _, known := f.responders[from]; !known {
			f.bcastTries = 0
		}
		f.responders[from] = s.now
		f.askTries = 0
		if s.now-f.importWin >= 1000 {
			f.prevWinStart, f.importPrev = f.importWin, f.importCur
			if s.now-f.importWin >= 2000 {
				f.prevWinStart, f.importPrev = 0, 0
			}
			f.importWin, f.importCur = s.now, 0
		}
		f.importCur++
	}
}

func shardOfSlot(slot uint16, n int) int {
	if n <= 0 {
		return 0
	}
	return Of(slot, n)
}

// pauseMsg sets a queue's pause state as another node broadcast it.
func (s *Shard) pauseMsg(m *replicate.Msg) {
	tenant, ok := s.tenantIndex(m.Tenant)
	if !ok {
		return
	}
	st := m.State & (pauseIn | pauseOut)
	q := s.lookupQueue(tenant, m.Queue)
	if q == nil && st != 0 {
		q = s.getQueue(tenant, m.Queue)
	}
	if q == nil {
		return
	}
	old := q.pause
	q.pause = st
	if old&pauseOut != 0 && st&pauseOut == 0 {
		s.serveWaiters(q)
	}
}

// clusterCron runs with the shard cron: a leaving node answers its blocked
// clients -LEAVING; otherwise queues with blocked clients ask other nodes
// for jobs.
func (s *Shard) clusterCron() {
	if s.view == nil {
		return
	}
	if s.view.Leaving {
		for _, w := range s.blocked {
			if w.claim.Take() {
				s.finishWaiter(w, func(rb *ReplyBatch) Code { return ErrLeaving })
			} else {
				s.finishWaiter(w, nil)
			}
			s.unblock(w)
		}
		for i, r := range s.repls {
			s.replFail(i, s.st.get(i), r, ErrLeaving)
		}
		return
	}
	if len(s.view.Nodes) <= 1 {
		return
	}
	var asked []*queue
	for _, w := range s.blocked {
		for _, q := range w.queues {
			if !containsQueue(asked, q) {
				asked = append(asked, q)
				s.needJobs(q, false)
			}
		}
	}
}

func containsQueue(l []*queue, q *queue) bool {
	for _, x := range l {
		if x == q {
			return true
		}
	}
	return false
}

// ---- the bus op --------------------------------------------------------------

// busOp handles one message from another node (op args: message, sender).
func (s *Shard) busOp(b *Batch, op *Op) {
	var from replicate.NodeID
	copy(from[:], b.arg(op.A+1))
	var m replicate.Msg
	m.Job.Holders = s.msgHolders[:0] // decoded into scratch: no handler keeps it
	if _, err := m.Decode(b.arg(op.A)); err != nil {
		return
	}
	if cap(m.Job.Holders) > cap(s.msgHolders) {
		s.msgHolders = m.Job.Holders[:0]
	}
	switch m.Type {
	case replicate.MsgReplJob:
		s.replJob(from, &m)
	case replicate.MsgGotJob:
		var lat replLat
		s.gotJob(from, &m.ID, &lat)
		s.observeRepl(from, &lat)
	case replicate.MsgGotJobs:
		var lat replLat
		for k := range m.IDs {
			s.gotJob(from, &m.IDs[k], &lat)
		}
		s.observeRepl(from, &lat)
	case replicate.MsgEnqueue:
		s.enqueueReq(&m)
	case replicate.MsgQueued:
		s.queued(from, &m)
	case replicate.MsgWillQueue:
		s.willQueue(from, &m)
	case replicate.MsgSetAck:
		s.setAck(from, &m)
	case replicate.MsgGotAck:
		s.gotAck(from, &m)
	case replicate.MsgDelJob:
		s.delJob(&m)
	case replicate.MsgWorking:
		s.workingMsg(from, &m)
	case replicate.MsgNeedJobs:
		s.giveJobs(from, &m)
	case replicate.MsgYourJobs:
		s.yourJobs(from, &m)
	case replicate.MsgPause:
		s.pauseMsg(&m)
	}
}
