package shard

import (
	"bytes"

	"disq/engine/job"
)

// queue is one named queue of one tenant on this shard: the jobs queued in
// it, ordered by CTime, and the clients blocked on it.
//
// Ordering. Most jobs arrive in CTime order (new jobs), so they are appended
// to a ring. A job whose CTime is not above the last appended one (a requeue
// keeps its original CTime and goes back near the head; a copy from another
// node; every job requeued after a restart) goes to a min-heap (qheap.go)
// instead. Popping takes the smaller of the ring
// head and the heap top, comparing (CTime, ID) as Disque's skiplist does.
//
// Removal from the middle (ACKJOB, DEQUEUE, WORKING, expiry of a queued job)
// is lazy: the shard bumps the record's QVer, which makes its entry stale;
// stale entries are skipped when popping and dropped by a compaction once
// they outnumber live ones. Compactions are incremental: at most
// compactBudget ring entries (cring) and a quarter of that many heap
// entries (removed in place) per removal, and a few per push, so no single
// step rescans a long queue. live is the true length (QLEN).
type queue struct {
	id     uint32
	tenant uint16
	name   []byte
	key    string // map key: tenant (2 bytes) + name

	ring   cring  // entries in CTime order, live or stale
	tailCT uint64 // CTime of the last entry appended to the ring
	heap   qheap  // entries that could not go to the ring, by (CTime, ID)
	hscan  int    // heap compaction: 1 + the next position to check; 0 = none running
	live   int

	waiters []*waiter // FIFO; done waiters are skipped
	whead   int
	blocked int // live waiters

	pause uint8 // pauseIn | pauseOut
	refs  int   // job records naming this queue; the queue is not evicted while > 0

	federation *fedState // nil until the queue imports or exports jobs

	ctime, atime job.Millis
	jobsIn       uint64
	jobsOut      uint64
	nacks        uint64 // jobs queued by NACK (QSTAT-like counters for INFO)
}

type qentry struct{ idx, ver uint32 }

const (
	pauseIn  = 1
	pauseOut = 2
)

// pauseName returns the PAUSE reply / QSTAT name of a pause state.
func pauseName(p uint8) string {
	switch p & (pauseIn | pauseOut) {
	case pauseIn:
		return "in"
	case pauseOut:
		return "out"
	case pauseIn | pauseOut:
		return "all"
	}
	return "none"
}

func (q *queue) valid(st *store, e qentry) bool {
	j := st.get(e.idx)
	return j.State == job.Queued && j.QVer == e.ver
}

func less(st *store, a, b uint32) bool {
	ja, jb := st.get(a), st.get(b)
	if ja.CTime != jb.CTime {
		return ja.CTime < jb.CTime
	}
	return bytes.Compare(ja.ID[:], jb.ID[:]) < 0
}

// push adds record idx (already Queued) to the queue.
func (q *queue) push(st *store, idx uint32) {
	j := st.get(idx)
	j.QVer++
	e := qentry{idx, j.QVer}
	q.live++
	if q.ring.len() == 0 || j.CTime > q.tailCT {
		q.ring.pushBack(e)
		q.tailCT = j.CTime
	} else {
		q.heap.push(hentry{j.CTime, j.ID, idx, j.QVer})
	}
	if q.compacting() {
		q.compactStep(st, 2) // a compaction ends even if removals stop
	}
}

// dropped records that a queued job left the queue by other means than pop
// (the caller bumped its QVer). It resets or compacts the structures.
func (q *queue) dropped(st *store) {
	q.live--
	q.tidy(st)
}

// tidy releases the entries when the queue is empty and compacts them when
// stale ones dominate.
func (q *queue) tidy(st *store) {
	if q.live == 0 {
		q.ring.reset(1024)
		q.tailCT = 0
		q.heap.reset(1024)
		q.hscan = 0
		return
	}
	// Stale entries at the head go at once, as pop would skip them: jobs
	// mostly leave in the order they came (expiry of a backlog, DEQUEUE of
	// the oldest), and a compaction for them would copy the whole ring
	// (once in one step: 27 ms at 4 million entries; now a budget per
	// removal, still work better not done).
	q.dropStaleHead(st)
	if q.compacting() {
		q.compactStep(st, compactBudget)
		return
	}
	stale := q.ring.len() + q.heap.len() - q.live
	if stale > 64 && stale > q.live {
		q.compact(st)
	}
}

// compactBudget is the number of ring entries a removal moves on along a
// compaction in progress (about 5-10 us). A compaction starts when stale
// entries outnumber live ones, so it ends long before the next one is due.
var compactBudget = 1024

// dropStaleHead drops the stale entries at the head of the ring.
func (q *queue) dropStaleHead(st *store) {
	for q.ring.len() > 0 && !q.valid(st, q.ring.front()) {
		q.ring.popFront()
	}
}

// compact starts compacting the ring and the heap; the first step runs
// here, the rest in later removals and pushes (tidy, push).
func (q *queue) compact(st *store) {
	q.ring.startCompact()
	q.hscan = q.heap.len()
	q.compactStep(st, compactBudget)
}

// compacting reports whether a compaction is under way.
func (q *queue) compacting() bool { return q.ring.compacting() || q.hscan > 0 }

// compactStep moves up to budget entries of the ring's unscanned part to
// its compacted part, dropping the stale ones, and checks up to budget/4
// heap entries (at least one), from its last position down, removing the
// stale ones in place: the heap stays a heap, so pops and reads need not
// know. Entries a pop or push moves across the cursor meanwhile may escape
// this round; a later one, or a pop, drops them.
func (q *queue) compactStep(st *store, budget int) {
	r := &q.ring
	for k := budget; k > 0 && r.rest.n > 0; k-- {
		e := r.rest.front()
		r.rest.popFront()
		if q.valid(st, e) {
			if r.done.spare == nil {
				// Reuse the segment rest has just passed.
				r.done.spare, r.rest.spare = r.rest.spare, nil
			}
			r.done.pushBack(e)
		}
	}
	r.endIfDone()
	for k := max(1, budget/4); k > 0 && q.hscan > 0; k-- {
		p := min(q.hscan, q.heap.len()) - 1
		if p < 0 {
			q.hscan = 0
			break
		}
		if e := q.heap.at(p); q.valid(st, qentry{e.idx, e.ver}) {
			q.hscan = p // checked; on to the one below
		} else {
			q.heap.removeAt(p)
			q.hscan = p + 1 // check what took its place
		}
	}
}

// pop removes and returns the oldest queued record, or 0. The record is
// still Queued; the caller applies EvDeliver (whose EffDequeue accounts for
// the length).
func (q *queue) pop(st *store) uint32 {
	for {
		q.dropStaleHead(st)
		for q.heap.len() > 0 && !q.valid(st, qentry{q.heap.top().idx, q.heap.top().ver}) {
			q.heap.pop()
		}
		switch {
		case q.ring.len() == 0 && q.heap.len() == 0:
			return 0
		case q.heap.len() == 0 || (q.ring.len() > 0 && less(st, q.ring.front().idx, q.heap.top().idx)):
			e := q.ring.front()
			q.ring.popFront()
			return e.idx
		default:
			return q.heap.pop().idx
		}
	}
}

// ordered appends to dst the live record indexes in delivery order (head
// first) or, with fromTail, newest first, stopping after max entries.
func (q *queue) ordered(st *store, dst []uint32, max int, fromTail bool) []uint32 {
	if max <= 0 {
		return dst
	}
	// The heap's first max live entries in the requested order, found
	// without sorting the whole heap (it holds a whole backlog after a
	// restart), then merged with the ring.
	keep := func(e *hentry) bool { return q.valid(st, qentry{e.idx, e.ver}) }
	var hs []uint32
	ri, step := 0, 1
	if fromTail {
		hs = q.heap.largest(nil, max, keep)
		ri, step = q.ring.len()-1, -1
	} else {
		hs = q.heap.smallest(nil, max, keep)
	}
	hi := 0
	for len(dst) < max {
		for ri >= 0 && ri < q.ring.len() && !q.valid(st, q.ring.at(ri)) {
			ri += step
		}
		rok := ri >= 0 && ri < q.ring.len()
		hok := hi < len(hs)
		if !rok && !hok {
			break
		}
		takeRing := rok && (!hok || less(st, q.ring.at(ri).idx, hs[hi]) != fromTail)
		if takeRing {
			dst = append(dst, q.ring.at(ri).idx)
			ri += step
		} else {
			dst = append(dst, hs[hi])
			hi++
		}
	}
	return dst
}

// nextWaiter returns the oldest live waiter without removing it, or nil.
func (q *queue) nextWaiter() *waiter {
	for q.whead < len(q.waiters) {
		w := q.waiters[q.whead]
		if !w.done {
			return w
		}
		q.waiters[q.whead] = nil
		q.whead++
	}
	q.waiters, q.whead = q.waiters[:0], 0
	return nil
}

func (q *queue) addWaiter(w *waiter) {
	if q.whead > 0 && q.whead == len(q.waiters) {
		q.waiters, q.whead = q.waiters[:0], 0
	}
	q.waiters = append(q.waiters, w)
	q.blocked++
}

// evictable reports whether the queue object may be destroyed.
func (q *queue) evictable() bool {
	return q.live == 0 && q.blocked == 0 && q.pause == 0 && q.refs == 0
}
