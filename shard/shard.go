package shard

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"disq/engine/job"
	"disq/replicate"
)

// Config configures a Shard.
type Config struct {
	Index  int    // this shard's number, 0..Shards-1
	Shards int    // shards on this node
	NodeID string // 40 lowercase hex characters
	// Clock returns the current time; nil means the wall clock. Only the
	// shard goroutine calls it, once per batch.
	Clock func() job.Millis
	// SlowMicros is the slow log threshold in microseconds (negative =
	// off), read at every op; OnSlow receives ops that took at least that
	// long, with the command name and the arguments the shard received.
	// OnSlow runs on the shard goroutine and must not block.
	SlowMicros *atomic.Int64
	OnSlow     func(name string, args [][]byte, d time.Duration)
	// Bus is the cluster bus; nil for a lone node.
	Bus Bus
	// Acct receives per-tenant usage changes; nil for none.
	Acct Accounting
	// Log holds the node's log writer (nil pointer or nil writer: the log
	// is off). The engine swaps it when the log is turned on or off.
	Log *Log
	// TenantName and TenantIndex map tenant indexes to names and back for
	// messages between nodes (nil: only the built-in tenant "default").
	TenantName  func(i uint16) string
	TenantIndex func(name []byte) (uint16, bool)
	// MemLevel is the node's memory level (0: <= 75% of maxmemory, 1: >
	// 75%, 2: > 95%, 3: > 95% with maxmemory-policy noeviction), published
	// by the engine; nil means 0.
	MemLevel *atomic.Int32
}

// Accounting receives the shard's per-tenant usage changes (tenant quotas
// and metrics). Every method is called on the shard goroutine and must not
// block. ADDJOB admission itself (jobs and bytes reserved) happens on the
// event loop; the shard releases what it refuses or frees.
type Accounting interface {
	AdmitQueue(tenant uint16) error // ADDJOB creating a queue; the error's text is the wire line
	ChargeQueue(tenant uint16)      // a queue created without admission (GETJOB, PAUSE, peers)
	ReleaseQueue(tenant uint16)
	ChargeJob(tenant uint16, bytes int64)  // a job arrived without admission (copy, import, reload)
	ReleaseJob(tenant uint16, bytes int64) // a job record freed, or an admitted ADDJOB refused
	Count(tenant uint16, event int, n uint64)
	ConsumeReturn(tenant uint16, n int64) // GETJOB consumed fewer jobs than granted
	AdmitBlocked(tenant uint16) bool      // may a client of this tenant block now?
	ReleaseBlocked(tenant uint16)
}

// Counted events (Accounting.Count), in the tenant package's order.
const (
	EvAdded = iota
	EvDelivered
	EvAcked
	EvNacked
	EvRequeued
	EvExpired
	numCountEvents
)

// Shard owns a slice of the node's queues and jobs: every queue whose slot
// maps to it, and every job in those queues. One goroutine (Run) owns all of
// its state; other goroutines only Push batches and read Stats.
type Shard struct {
	cfg     Config
	nodeID  [40]byte
	prefix  [4]byte
	clock   func() job.Millis
	rng     *rand.Rand
	inbox   inbox
	st      store
	ar      arena
	mem     hugeMem
	wh      wheel
	queues  map[string]*queue
	qbyID   []*queue // queue index -> queue (nil = free)
	qfree   []uint32
	lastCT  uint64
	waits   waitHeap
	blocked map[any]*waiter

	// Cluster state (cluster.go).
	view       *replicate.View
	self       replicate.NodeID
	selfSet    [1]replicate.NodeID
	sets       nodeSets
	repls      map[uint32]*replState
	gcs        map[uint32]*gcState
	tasks      taskHeap
	msgBuf     []byte
	msgBuf2    []byte             // a second encoding (sendCopies)
	pickBuf    []replicate.NodeID // pickReachable's scratch
	nodeBuf    []replicate.NodeID // newRecord's scratch
	msgHolders []replicate.NodeID // busOp decodes REPLJOB holders into it
	replFree   []*replState       // freeRepl's list
	replVer    uint32             // versions of replication tasks

	evCounts [][numCountEvents]uint64 // per tenant, flushed to Acct after each step
	resumed  []*waiter                // answered waiters with deferred ops
	logBuf   []byte                   // log records of the current step
	logN     int                      // records in logBuf
	holdBuf  []byte                   // scratch for holder IDs
	heldBus  []heldMsg                // copy confirmations waiting for the log
	gotPend  []gotPend                // the step's copy confirmations (flushConfirms)
	loading  bool                     // replaying the log: log nothing
	snap     *snapshot                // a rewrite's snapshot in progress (persist.go)

	out  []outbox // pending reply batches, per destination loop
	key  []byte   // scratch
	idxs []uint32 // scratch
	now  job.Millis
	// opAt is when the running op started (since monoBase): the clock
	// reading the per-op timing takes anyway, reused for replication
	// latency (replState.sent, confirmations).
	opAt time.Duration

	nextCron job.Millis
	timer    *time.Timer
	timerAt  job.Millis

	// owner is 1 while a goroutine runs a step: the shard's own, or an
	// event loop that found the shard idle (TryRun). Steps never overlap.
	owner   atomic.Int32
	inlineB []*Batch
	onLoop  bool // the running step is TryRun's, on an event loop

	stopping atomic.Bool
	done     chan struct{}

	// Stats are published after every batch for INFO and metrics.
	Stats Stats
}

// Stats are a shard's counters, published for readers on other goroutines.
type Stats struct {
	Jobs        atomic.Int64 // job records held (any state, dummy ACKs included)
	Queues      atomic.Int64 // queue objects
	Blocked     atomic.Int64 // clients blocked in GETJOB on this shard
	Memory      atomic.Int64 // bytes of records, index and bodies in use
	Held        atomic.Int64 // bytes the shard holds for them (in use or on free lists)
	Mapped      atomic.Int64 // bytes mapped outside the Go heap for records and bodies
	OffHeap     atomic.Int64 // bytes of those in use by jobs
	Created     atomic.Int64 // jobs created by ADDJOB
	Acked       atomic.Int64 // jobs acknowledged
	Expired     atomic.Int64 // jobs removed by TTL
	Requeued    atomic.Int64 // timer requeues
	Evicted     atomic.Int64 // jobs evicted above 95% of maxmemory
	ReplResends atomic.Int64 // REPLJOB rounds resent after 50 ms without every confirmation
	_           [64]byte
}

type outbox struct {
	rq *ReplyQueue
	b  *ReplyBatch
}

type inbox struct {
	mu  sync.Mutex
	q   []*Batch
	sig chan struct{}
}

// New creates a shard; call Run on its own goroutine.
func New(cfg Config) *Shard {
	s := &Shard{
		cfg:     cfg,
		clock:   cfg.Clock,
		queues:  make(map[string]*queue),
		qbyID:   []*queue{nil}, // queue index 0 means "none"
		blocked: make(map[any]*waiter),
		repls:   make(map[uint32]*replState),
		gcs:     make(map[uint32]*gcState),
		done:    make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = func() job.Millis { return job.Millis(time.Now().UnixMilli()) }
	}
	s.setSelf(cfg.NodeID)
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	s.rng = rand.New(rand.NewChaCha8(seed))
	s.inbox.sig = make(chan struct{}, 1)
	s.wh.st = &s.st
	s.st.mem, s.ar.mem = &s.mem, &s.mem
	s.now = s.clock()
	s.wh.now = int64(s.now)
	return s
}

// setSelf sets this node's identity (job ID prefix, SHOW's node lists).
func (s *Shard) setSelf(id string) {
	copy(s.nodeID[:], id)
	_, _ = hex.Decode(s.prefix[:], []byte(id[:8]))
	s.self, _ = replicate.ParseNodeID(id)
	s.selfSet[0] = s.self
}

// InboxLen returns the number of batches waiting (metrics).
func (s *Shard) InboxLen() int {
	s.inbox.mu.Lock()
	defer s.inbox.mu.Unlock()
	return len(s.inbox.q)
}

// Push hands a batch to the shard. It never blocks. Safe for concurrent use.
func (s *Shard) Push(b *Batch) {
	in := &s.inbox
	in.mu.Lock()
	in.q = append(in.q, b)
	first := len(in.q) == 1
	in.mu.Unlock()
	if first {
		select {
		case in.sig <- struct{}{}:
		default:
		}
	}
}

func (in *inbox) take(dst []*Batch) []*Batch {
	in.mu.Lock()
	dst = append(dst, in.q...)
	clear(in.q)
	in.q = in.q[:0]
	in.mu.Unlock()
	return dst
}

// Stop ends Run and waits for it.
func (s *Shard) Stop() {
	if s.stopping.CompareAndSwap(false, true) {
		select {
		case s.inbox.sig <- struct{}{}:
		default:
		}
	}
	<-s.done
}

const cronPeriod = 100 // ms

// Run is the shard goroutine: wait for batches or the next due time, then
// process everything with one clock reading. It takes the shard (owner)
// before it takes the inbox, so batches of one loop run in their order even
// when the loop runs some of them itself (TryRun).
func (s *Shard) Run() {
	defer close(s.done)
	s.timer = time.NewTimer(time.Hour)
	var batches []*Batch
	for !s.stopping.Load() {
		s.acquire()
		batches = s.inbox.take(batches[:0])
		now := s.clock()
		if len(batches) == 0 {
			if due := s.nextDue(); due > now {
				s.owner.Store(0)
				s.sleep(due, due-now) // s.now is not ours once released
				continue
			}
		}
		s.Step(batches, now)
		clear(batches)
		s.owner.Store(0)
	}
}

func (s *Shard) acquire() {
	for !s.owner.CompareAndSwap(0, 1) {
		runtime.Gosched() // a loop is running a step; it is short
	}
}

// TryRun runs b on the calling goroutine (an event loop) when the shard is
// idle, after anything already waiting in its inbox, and reports whether it
// did; otherwise the caller pushes b. The loop thus skips two goroutine
// hand-offs when the shard has nothing else to do (low pipelining), while a
// busy shard keeps batching. Safe for concurrent use.
func (s *Shard) TryRun(b *Batch) bool {
	if !s.owner.CompareAndSwap(0, 1) {
		return false
	}
	s.inlineB = s.inbox.take(s.inlineB[:0])
	s.inlineB = append(s.inlineB, b)
	s.onLoop = true
	s.Step(s.inlineB, s.clock())
	s.onLoop = false
	clear(s.inlineB)
	s.owner.Store(0)
	// A batch pushed meanwhile signalled the shard goroutine already.
	return true
}

// sleep waits for a batch or d milliseconds (until at).
func (s *Shard) sleep(at, d job.Millis) {
	if s.timerAt != at {
		s.timer.Reset(time.Duration(d) * time.Millisecond)
		s.timerAt = at
	}
	select {
	case <-s.inbox.sig:
	case <-s.timer.C:
		s.timerAt = 0
	}
}

// nextDue returns when the shard next has timed work.
func (s *Shard) nextDue() job.Millis {
	if s.snap != nil {
		return 0 // a snapshot chunk is due at every step
	}
	due := s.nextCron
	if t := s.wh.next(); t < int64(due) {
		due = job.Millis(t)
	}
	if w := s.waits.peek(); w != nil && w.deadline < due {
		due = w.deadline
	}
	if t := s.nextTask(); t < due {
		due = t
	}
	return due
}

// Step processes batches at time now: every op in order, then due timers,
// then hands replies to their loops. Run calls it; tests call it directly
// with a fake clock.
func (s *Shard) Step(batches []*Batch, now job.Millis) {
	if now < s.now {
		now = s.now // the clock never goes back for the shard
	}
	s.now = now
	if s.cfg.Bus != nil {
		if v := s.cfg.Bus.View(); v != s.view {
			s.view = v
			if v.Self != s.self {
				s.setSelf(v.Self.String()) // CLUSTER RESET HARD
			}
		}
	}
	// One clock reading per op: each op's time is the gap since the
	// previous op ended. time.Since on a monotonic base reads only the
	// monotonic clock (about half the cost of time.Now here).
	t0 := time.Since(monoBase)
	for _, b := range batches {
		for i := range b.Ops {
			op := &b.Ops[i]
			s.opAt = t0
			s.exec(b, op)
			t1 := time.Since(monoBase)
			s.timed(b, op, t1-t0)
			t0 = t1
		}
		putBatch(b)
	}
	s.runTimers(now)
	s.runResumed()
	if now >= s.nextCron {
		s.cron(now)
		s.nextCron = now + cronPeriod
	}
	s.publish() // before the replies leave: INFO after a reply sees the change
	s.flushConfirms()
	s.flushLog()
	if s.snap != nil && !s.onLoop {
		s.snapshotChunk()
	}
	s.flush()
	s.flushCounts()
}

// monoBase is the origin of the shards' per-op timing.
var monoBase = time.Now()

// runResumed runs the ops deferred behind waiters answered in this step.
func (s *Shard) runResumed() {
	for len(s.resumed) > 0 {
		w := s.resumed[0]
		s.resumed = s.resumed[1:]
		if s.blocked[w.sess] == w {
			delete(s.blocked, w.sess)
		}
		s.runDeferred(w)
	}
	s.resumed = s.resumed[:0]
}

// count records n events of a tenant (flushed once per step).
func (s *Shard) count(tenant uint16, ev int, n uint64) {
	if s.cfg.Acct == nil {
		return
	}
	for int(tenant) >= len(s.evCounts) {
		s.evCounts = append(s.evCounts, [numCountEvents]uint64{})
	}
	s.evCounts[tenant][ev] += n
}

func (s *Shard) flushCounts() {
	for t := range s.evCounts {
		for ev, n := range s.evCounts[t] {
			if n != 0 {
				s.cfg.Acct.Count(uint16(t), ev, n)
				s.evCounts[t][ev] = 0
			}
		}
	}
}

// timed records how long op took: in its reply (INFO commandstats) and,
// past the threshold, in the slow log.
func (s *Shard) timed(b *Batch, op *Op, d time.Duration) {
	us := d.Microseconds()
	if op.RQ != nil {
		for k := range s.out {
			if s.out[k].rq == op.RQ && s.out[k].b != nil {
				items := s.out[k].b.Items
				if n := len(items); n > 0 && items[n-1].Seq == op.Seq && items[n-1].Sess == op.Sess {
					items[n-1].Usec = uint32(min(us, 1<<32-1))
				}
				break
			}
		}
	}
	if s.cfg.OnSlow != nil && s.cfg.SlowMicros != nil {
		if t := s.cfg.SlowMicros.Load(); t >= 0 && us >= t {
			args := make([][]byte, 0, op.B-op.A)
			for a := op.A; a < op.B; a++ {
				args = append(args, b.arg(a))
			}
			s.cfg.OnSlow(op.Name(), args, d)
		}
	}
}

func (s *Shard) publish() {
	s.Stats.Jobs.Store(int64(s.st.n))
	s.Stats.Queues.Store(int64(len(s.queues)))
	s.Stats.Blocked.Store(int64(len(s.blocked)))
	used, held := s.st.usage()
	s.Stats.Memory.Store(used + s.ar.used)
	s.Stats.Held.Store(held + s.ar.held)
	s.Stats.Mapped.Store(s.mem.mapped)
	// Outside the Go heap: the records and bodies in use (the index and
	// free lists are heap objects, counted there).
	const rec = int64(unsafe.Sizeof(job.Job{}))
	s.Stats.OffHeap.Store(int64(s.st.n)*rec + s.ar.used)
}

// ---- replies -------------------------------------------------------------

// reply returns the batch collecting replies for rq, and appends a Reply
// whose bytes the caller writes at the end of the returned batch's Data.
func (s *Shard) batchFor(rq *ReplyQueue) *ReplyBatch {
	for i := range s.out {
		if s.out[i].rq == rq {
			if s.out[i].b == nil {
				s.out[i].b = replyPool.Get().(*ReplyBatch)
			}
			return s.out[i].b
		}
	}
	b := replyPool.Get().(*ReplyBatch)
	s.out = append(s.out, outbox{rq, b})
	return b
}

// begin starts a reply to (sess, seq) on rq; the caller appends the bytes to
// the returned batch's Data and calls end.
func (s *Shard) begin(rq *ReplyQueue) *ReplyBatch { return s.batchFor(rq) }

func end(b *ReplyBatch, sess any, seq uint32, start int, code Code, n int64) {
	b.Items = append(b.Items, Reply{Sess: sess, Seq: seq, Code: code, Start: uint32(start), End: uint32(len(b.Data)), N: n})
}

func endTag(b *ReplyBatch, op *Op, start int, code Code, n int64) {
	b.Items = append(b.Items, Reply{Sess: op.Sess, Seq: op.Seq, Tag: op.Tag, Code: code, Start: uint32(start), End: uint32(len(b.Data)), N: n})
}

// replyCode sends a bare outcome code.
func (s *Shard) replyCode(op *Op, c Code) {
	if op.RQ == nil {
		return
	}
	b := s.batchFor(op.RQ)
	endTag(b, op, len(b.Data), c, 0)
}

func (s *Shard) flush() {
	for i := range s.out {
		if b := s.out[i].b; b != nil {
			s.out[i].b = nil
			s.out[i].rq.Push(b)
		}
	}
}

// ---- jobs ----------------------------------------------------------------

func (s *Shard) jitter() job.Millis { return job.Millis(s.rng.IntN(500)) - 250 }

func (s *Shard) queueByID(id uint32) *queue { return s.qbyID[id] }

// queueKey builds the map key of (tenant, name) in a scratch buffer.
func (s *Shard) queueKey(tenant uint16, name []byte) []byte {
	s.key = append(s.key[:0], byte(tenant>>8), byte(tenant))
	return append(s.key, name...)
}

// lookupQueue returns the queue or nil; it does not allocate.
func (s *Shard) lookupQueue(tenant uint16, name []byte) *queue {
	return s.queues[string(s.queueKey(tenant, name))]
}

// getQueue returns the queue, creating it (and charging the tenant).
func (s *Shard) getQueue(tenant uint16, name []byte) *queue {
	k := s.queueKey(tenant, name)
	if q := s.queues[string(k)]; q != nil {
		return q
	}
	if s.cfg.Acct != nil {
		s.cfg.Acct.ChargeQueue(tenant)
	}
	return s.newQueue(tenant, name)
}

// newQueue creates a queue whose accounting the caller did.
func (s *Shard) newQueue(tenant uint16, name []byte) *queue {
	k := s.queueKey(tenant, name)
	q := &queue{tenant: tenant, name: append([]byte(nil), name...), key: string(k), ctime: s.now, atime: s.now}
	if n := len(s.qfree); n > 0 {
		q.id = s.qfree[n-1]
		s.qfree = s.qfree[:n-1]
		s.qbyID[q.id] = q
	} else {
		q.id = uint32(len(s.qbyID))
		s.qbyID = append(s.qbyID, q)
	}
	s.queues[q.key] = q
	return q
}

func (s *Shard) dropQueue(q *queue) {
	if s.cfg.Acct != nil {
		s.cfg.Acct.ReleaseQueue(q.tenant)
	}
	delete(s.queues, q.key)
	s.qbyID[q.id] = nil
	s.qfree = append(s.qfree, q.id)
}

// find returns the record holding the job with text ID b, or 0.
func (s *Shard) find(b []byte, tenant uint16) (uint32, *job.Job) {
	id, ok := job.ParseID(b)
	if !ok {
		return 0, nil
	}
	i := s.st.lookup(&id)
	if i == 0 {
		return 0, nil
	}
	j := s.st.get(i)
	if j.Tenant != tenant {
		return 0, nil // another tenant's job does not exist for this client
	}
	return i, j
}

// apply runs the state machine and carries out its effects.
func (s *Shard) apply(i uint32, j *job.Job, e job.Event) (job.Effect, error) {
	if e.Jitter == 0 {
		e.Jitter = s.jitter()
	}
	eff, err := j.Apply(e, s.now)
	if err != nil {
		return eff, err
	}
	s.effects(i, j, eff)
	return eff, nil
}

func (s *Shard) effects(i uint32, j *job.Job, eff job.Effect) {
	q := s.queueByID(j.Queue)
	if eff&job.EffDequeue != 0 && q != nil {
		j.QVer++ // its entry, if still there, is stale now
		q.dropped(&s.st)
	}
	if eff&job.EffReplyAdd != 0 {
		s.replyAdd(i, j, eff&job.EffFree != 0)
	}
	if eff&(job.EffLogAdd|job.EffLogDel) != 0 && s.logWriter() != nil {
		if eff&job.EffLogDel != 0 {
			s.logDel(j)
		} else {
			s.logAdd(j)
		}
	}
	if eff&(job.EffCountNack|job.EffCountDelivery) != 0 && s.hasOthers(j) {
		m := idMsg(replicate.MsgQueued, j)
		if eff&job.EffCountNack != 0 {
			m.Flags = replicate.MsgCountNack
		} else {
			m.Flags = replicate.MsgCountDelivery
		}
		s.sendHolders(j, &m)
	}
	if eff&job.EffWorking != 0 && s.hasOthers(j) {
		m := idMsg(replicate.MsgWorking, j)
		s.sendHolders(j, &m)
	}
	if eff&job.EffFree != 0 {
		s.wh.unlink(i)
		s.st.remove(i)
		s.ar.release(j.Body, j.BodyLen)
		if s.cfg.Acct != nil && j.Flags&job.FlagDummy == 0 {
			s.cfg.Acct.ReleaseJob(j.Tenant, int64(j.BodyLen))
		}
		if eff&job.EffExpired != 0 {
			s.Stats.Expired.Add(1)
			s.count(j.Tenant, EvExpired, 1)
		}
		if q != nil {
			q.refs--
		}
		if r := s.repls[i]; r != nil {
			delete(s.repls, i)
			s.freeRepl(r)
		}
		delete(s.gcs, i)
		j.Holders = 0
		j.Flags = 0
		s.st.release(i)
		return
	}
	if eff&job.EffSchedule != 0 {
		s.reschedule(i, j)
	}
	if eff&job.EffEnqueue != 0 && q != nil {
		q.push(&s.st, i)
		q.jobsIn++
		q.atime = s.now
		s.serveWaiters(q)
	}
}

// runTimers fires every job due by now (at most maxDue per step) and every
// GETJOB timeout.
func (s *Shard) runTimers(now job.Millis) {
	const maxDue = 10000
	s.wh.advance(int64(now), maxDue, s.dueOf, s.fire)
	s.expireWaiters(now)
	s.runTasks(now)
}

func (s *Shard) dueOf(i uint32) int64 { return int64(s.awakeOf(s.st.get(i))) }

// awakeOf is the job's next timed action: its Awake, or 500 ms before a
// requeue when other holders must be told first (WILLQUEUE).
func (s *Shard) awakeOf(j *job.Job) job.Millis {
	a := j.Awake()
	if j.Flags&job.FlagWillQueue != 0 && j.State == job.Active && a == j.QTime && j.QTime != 0 {
		a -= 500
	}
	return a
}

// reschedule re-arms j's timer after its times changed outside Apply.
func (s *Shard) reschedule(i uint32, j *job.Job) {
	if s.hasOthers(j) && j.State == job.Active && j.QTime != 0 {
		j.Flags |= job.FlagWillQueue
	}
	s.wh.schedule(i, int64(s.awakeOf(j)))
}

func (s *Shard) fire(i uint32) {
	j := s.st.get(i)
	if j.State == job.Free {
		return
	}
	if j.Flags&job.FlagWillQueue != 0 && j.State == job.Active && j.QTime != 0 && s.now < j.QTime && s.now < j.Expire {
		// 500 ms before a requeue: tell the other holders.
		j.Flags &^= job.FlagWillQueue
		m := idMsg(replicate.MsgWillQueue, j)
		s.sendHolders(j, &m)
		s.wh.schedule(i, int64(s.awakeOf(j)))
		return
	}
	e := job.Event{Kind: job.EvDue}
	if q := s.queueByID(j.Queue); q != nil && q.pause&pauseIn != 0 {
		e.PausedIn = true
	}
	// A requeue is a timer queueing of a job queued here before (the end
	// of a DELAY is a first queueing).
	requeue := j.State == job.Active && j.Flags&job.FlagQueuedOnce != 0
	eff, err := s.apply(i, j, e)
	if err == nil && requeue && eff&job.EffEnqueue != 0 {
		s.Stats.Requeued.Add(1)
		s.count(j.Tenant, EvRequeued, 1)
	}
}

// cron runs every 100 ms: eviction of idle empty queues (300 s idle; 10 s
// above 75% of maxmemory, 2 s above 95%) and, above 95%, of jobs nobody can
// need any more (semantics.md 12).
func (s *Shard) cron(now job.Millis) {
	level := int32(0)
	if s.cfg.MemLevel != nil {
		level = s.cfg.MemLevel.Load()
	}
	s.clusterCron()
	idle := job.Millis(300_000)
	switch level {
	case 1:
		idle = 10_000
	case 2:
		idle = 2_000
		s.evictJobs()
	case 3:
		idle = 2_000
	}
	// Sample queues (map iteration order is random) and stop a round when
	// fewer than 10% of the samples were evictable.
	for round := 0; round < 16; round++ {
		n, evicted := 0, 0
		for _, q := range s.queues {
			if n >= 20 {
				break
			}
			n++
			if q.evictable() && now-q.atime >= idle {
				s.dropQueue(q)
				evicted++
			}
		}
		if n == 0 || evicted*10 < n {
			break
		}
	}
}

// evictJobs deletes, at random, jobs that are acknowledged or are
// at-most-once jobs already delivered: nothing else is ever evicted. It
// stops after 10 consecutive picks that are not evictable, or 1 ms.
func (s *Shard) evictJobs() {
	if s.st.n == 0 {
		return
	}
	start := time.Now()
	misses := 0
	for misses < 10 && time.Since(start) < time.Millisecond {
		i := uint32(1 + s.rng.IntN(int(s.st.next-1)))
		j := s.st.get(i)
		evictable := j.State == job.Acked ||
			(j.State == job.Active && j.AtMostOnce() && j.Flags&job.FlagDelivered != 0)
		if !evictable {
			misses++
			continue
		}
		misses = 0
		_, _ = s.apply(i, j, job.Event{Kind: job.EvDelete})
		s.Stats.Evicted.Add(1)
	}
}

func maxInt64() job.Millis { return job.Millis(math.MaxInt64) }

// random fills b from the shard's generator.
func (s *Shard) random(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, s.rng.Uint64())
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], s.rng.Uint64())
		copy(b, t[:])
	}
}
