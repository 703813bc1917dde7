package shard

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"disq/engine/job"
)

// queueModel checks a queue against a dumb twin: the set of queued records,
// sorted by (CTime, ID) on demand.
type queueModel struct {
	t      *testing.T
	rng    *rand.Rand
	st     store
	q      queue
	lastCT uint64
	queued map[uint32]bool // model: records in the queue
	active []uint32        // records out of the queue, still alive (may be requeued)
}

func newQueueModel(t *testing.T, seed uint64) *queueModel {
	return &queueModel{
		t:      t,
		rng:    rand.New(rand.NewPCG(seed, 99)),
		queued: map[uint32]bool{},
		lastCT: uint64(testT0) * 1_000_000,
	}
}

func (m *queueModel) newRecord(ct uint64) uint32 {
	i, j := m.st.alloc()
	for k := range j.ID {
		j.ID[k] = byte(m.rng.Uint32())
	}
	j.CTime = ct
	return i
}

// push queues record i (the caller set its CTime).
func (m *queueModel) push(i uint32) {
	m.st.get(i).State = job.Queued
	m.q.push(&m.st, i)
	m.queued[i] = true
}

// leave takes a queued record out as the shard does for DEQUEUE, WORKING,
// ACK or expiry: bump QVer, tell the queue.
func (m *queueModel) leave(i uint32) {
	j := m.st.get(i)
	j.State = job.Active
	j.QVer++
	m.q.dropped(&m.st)
	delete(m.queued, i)
	m.active = append(m.active, i)
}

// want returns the model's records in delivery order.
func (m *queueModel) want() []uint32 {
	var w []uint32
	for i := range m.queued {
		w = append(w, i)
	}
	slices.SortFunc(w, func(a, b uint32) int {
		ja, jb := m.st.get(a), m.st.get(b)
		if ja.CTime != jb.CTime {
			if ja.CTime < jb.CTime {
				return -1
			}
			return 1
		}
		return bytes.Compare(ja.ID[:], jb.ID[:])
	})
	return w
}

func (m *queueModel) check() {
	if m.q.live != len(m.queued) {
		m.t.Fatalf("live = %d; model %d", m.q.live, len(m.queued))
	}
	want := m.want()
	got := m.q.ordered(&m.st, nil, len(want)+5, false)
	if !slices.Equal(got, want) {
		m.t.Fatalf("ordered forward = %v; want %v", got, want)
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if got := m.q.ordered(&m.st, nil, len(want)+5, true); !slices.Equal(got, rev) {
		m.t.Fatalf("ordered from tail = %v; want %v", got, rev)
	}
	if len(want) > 0 {
		k := 1 + m.rng.IntN(len(want))
		if got := m.q.ordered(&m.st, nil, k, false); !slices.Equal(got, want[:k]) {
			m.t.Fatalf("ordered forward max %d = %v; want %v", k, got, want[:k])
		}
		if got := m.q.ordered(&m.st, nil, k, true); !slices.Equal(got, rev[:k]) {
			m.t.Fatalf("ordered from tail max %d = %v; want %v", k, got, rev[:k])
		}
	}
	if got := m.q.ordered(&m.st, nil, 0, false); len(got) != 0 {
		m.t.Fatalf("ordered max 0 = %v", got)
	}
	// Ring invariant: valid ring entries are in strictly increasing CTime.
	var prev uint64
	for k := 0; k < m.q.ring.len(); k++ {
		e := m.q.ring.at(k)
		if !m.q.valid(&m.st, e) {
			continue
		}
		ct := m.st.get(e.idx).CTime
		if ct <= prev {
			m.t.Fatalf("ring not sorted: CTime %d after %d", ct, prev)
		}
		prev = ct
	}
	// Stale entries are bounded by tidy: at most max(64, live) of them
	// once no compaction is under way.
	if stale := m.q.ring.len() + m.q.heap.len() - m.q.live; !m.q.compacting() && stale > 64 && stale > m.q.live {
		m.t.Fatalf("%d stale entries for %d live ones: tidy did not compact", stale, m.q.live)
	}
	if r := &m.q.ring; !r.compacting() && (r.rest.segs != nil || r.rest.small != nil) {
		m.t.Fatal("a finished compaction kept its scanned ring")
	}
	if m.q.live == 0 && (m.q.ring.len() != 0 || m.q.heap.len() != 0 || m.q.ring.done.head != 0 || m.q.compacting()) {
		m.t.Fatalf("empty queue not reset: size %d heap %d head %d", m.q.ring.len(), m.q.heap.len(), m.q.ring.done.head)
	}
}

func (m *queueModel) step() {
	r := m.rng
	p := r.IntN(100)
	if len(m.queued) > 120 && p < 55 {
		p += 20 // keep the queue around a hundred jobs: pop or remove instead
	}
	switch {
	case p < 30: // a new job: ring append
		m.lastCT += 1 + uint64(r.IntN(3))*1_000_000
		m.push(m.newRecord(m.lastCT))
	case p < 38: // a copy from another node, older than the tail: heap
		ct := m.lastCT - uint64(r.IntN(1000))*1000
		if w := m.want(); r.IntN(4) == 0 && len(w) > 0 {
			// Same CTime as a queued job: the ID breaks the tie.
			ct = m.st.get(w[r.IntN(len(w))]).CTime
		}
		m.push(m.newRecord(ct))
	case p < 55: // requeue (NACK, timer): keeps its CTime, goes near the head
		if len(m.active) > 0 {
			k := r.IntN(len(m.active))
			i := m.active[k]
			m.active[k] = m.active[len(m.active)-1]
			m.active = m.active[:len(m.active)-1]
			m.push(i)
		}
	case p < 75: // pop (GETJOB)
		want := m.want()
		i := m.q.pop(&m.st)
		if len(want) == 0 {
			if i != 0 {
				m.t.Fatalf("pop of an empty queue = %d", i)
			}
			return
		}
		if i != want[0] {
			m.t.Fatalf("pop = %d (ctime %d); want %d (ctime %d)", i, m.st.get(i).CTime, want[0], m.st.get(want[0]).CTime)
		}
		if m.st.get(i).State != job.Queued {
			m.t.Fatal("pop returned a record that is not queued")
		}
		m.leave(i) // EvDeliver's EffDequeue
	case p < 88: // lazy removal from the middle
		if len(m.queued) > 0 {
			w := m.want()
			i := w[r.IntN(len(w))]
			m.leave(i)
			if r.IntN(2) == 0 {
				// ACK: the record is freed at once, and reused by the next
				// job (the free list is LIFO) while its entry is still in
				// the ring or heap.
				m.active = m.active[:len(m.active)-1]
				m.st.get(i).State = job.Free
				m.st.release(i)
			}
		}
	case p < 96: // free an active record; its index is reused later
		if len(m.active) > 0 {
			k := r.IntN(len(m.active))
			i := m.active[k]
			m.active[k] = m.active[len(m.active)-1]
			m.active = m.active[:len(m.active)-1]
			m.st.get(i).State = job.Free
			m.st.release(i)
		}
	case p < 98:
		m.q.compact(&m.st)
	default: // mass removal (DEQUEUE of many jobs): tidy must compact
		for _, i := range m.want() {
			if r.IntN(10) != 0 {
				m.leave(i)
			}
		}
		m.check()
	}
}

// setCompactBudget sets compactBudget for the test.
func setCompactBudget(t *testing.T, n int) {
	old := compactBudget
	compactBudget = n
	t.Cleanup(func() { compactBudget = old })
}

// finishCompact runs a compaction in progress to its end.
func finishCompact(q *queue, st *store) {
	for q.compacting() {
		q.compactStep(st, 1<<30)
	}
}

// TestQueueDifferential runs the model with the default compaction budget
// and with budgets of 1-3 entries, so that pops, pushes, removals and
// ordered reads meet compactions in progress.
func TestQueueDifferential(t *testing.T) {
	seeds := 40
	if v := os.Getenv("QSEEDS"); v != "" { // QSEEDS=1000 for a longer run
		seeds, _ = strconv.Atoi(v)
	}
	for _, budget := range []int{compactBudget, 1, 2, 3} {
		t.Run("budget"+strconv.Itoa(budget), func(t *testing.T) {
			setCompactBudget(t, budget)
			queueDifferential(t, seeds)
		})
	}
}

func queueDifferential(t *testing.T, seeds int) {
	for seed := 0; seed < seeds; seed++ {
		t.Run("seed"+strconv.Itoa(seed), func(t *testing.T) {
			m := newQueueModel(t, uint64(seed))
			for k := 0; k < 1500; k++ {
				m.step()
				if k%4 == 0 {
					m.check()
				}
			}
			// Drain by popping.
			for _, want := range m.want() {
				if i := m.q.pop(&m.st); i != want {
					t.Fatalf("drain pop = %d; want %d", i, want)
				}
				m.leave(want)
			}
			if i := m.q.pop(&m.st); i != 0 {
				t.Fatalf("pop of a drained queue = %d", i)
			}
			m.check()
		})
	}
}

// TestQueueRequeueNearHead: a requeued job keeps its CTime, so it is
// delivered before younger jobs (spec 4.2).
func TestQueueRequeueNearHead(t *testing.T) {
	m := newQueueModel(t, 1)
	var recs []uint32
	for k := 0; k < 5; k++ {
		m.lastCT++
		i := m.newRecord(m.lastCT)
		m.push(i)
		recs = append(recs, i)
	}
	first := m.q.pop(&m.st)
	if first != recs[0] {
		t.Fatalf("pop = %d; want %d", first, recs[0])
	}
	m.leave(first)
	m.lastCT++
	young := m.newRecord(m.lastCT)
	m.push(young)
	m.active = m.active[:0]
	m.push(first) // requeue: goes to the heap
	if m.q.heap.len() != 1 {
		t.Fatalf("requeued job not in the heap (heap %d entries)", m.q.heap.len())
	}
	want := append([]uint32{first}, recs[1:]...)
	want = append(want, young)
	if got := m.q.ordered(&m.st, nil, 10, false); !slices.Equal(got, want) {
		t.Fatalf("order after requeue = %v; want %v", got, want)
	}
	for _, w := range want {
		if i := m.q.pop(&m.st); i != w {
			t.Fatalf("pop = %d; want %d", i, w)
		}
		m.leave(w)
	}
}

// TestQueueLazyRemovalCompact: stale entries are skipped, compacted once
// they dominate, and everything is released when the queue empties.
func TestQueueLazyRemovalCompact(t *testing.T) {
	m := newQueueModel(t, 2)
	var recs []uint32
	for k := 0; k < 3*fifoSeg; k++ { // past the small ring: segments
		m.lastCT++
		i := m.newRecord(m.lastCT)
		m.push(i)
		recs = append(recs, i)
	}
	if m.q.ring.capacity() < 3*fifoSeg {
		t.Fatalf("ring capacity %d for %d entries", m.q.ring.capacity(), 3*fifoSeg)
	}
	// Remove all but every 10th: compaction must keep stale <= live.
	for k, i := range recs {
		if k%10 != 0 {
			m.leave(i)
		}
	}
	m.check()
	if m.q.ring.len() > 2*m.q.live {
		t.Fatalf("ring holds %d entries for %d live jobs after removals", m.q.ring.len(), m.q.live)
	}
	// A stale entry whose record was freed and reused by a new job stays
	// stale: the new life has a higher QVer.
	victim := recs[1]
	m.active = nil
	m.st.get(victim).State = job.Free
	m.st.release(victim)
	m.lastCT++
	reused := m.newRecord(m.lastCT)
	if reused != victim {
		t.Fatalf("record not reused (%d != %d)", reused, victim)
	}
	m.st.get(reused).State = job.Queued // queued elsewhere, never pushed here
	m.q.compact(&m.st)
	finishCompact(&m.q, &m.st)
	for k := 0; k < m.q.ring.len(); k++ {
		if e := m.q.ring.at(k); e.idx == reused {
			t.Fatalf("stale entry of a reused record survived compaction (ver %d, record QVer %d)", e.ver, m.st.get(reused).QVer)
		}
	}
	m.st.get(reused).State = job.Free
	// Empty the queue: tidy resets it and drops the big ring.
	for _, i := range m.want() {
		m.leave(i)
	}
	m.check()
	if c := m.q.ring.capacity(); c != 0 {
		t.Fatalf("ring of %d entries kept after the queue emptied; want released", c)
	}
	m.lastCT++
	m.push(m.newRecord(m.lastCT))
	m.check()
}

// TestQueueCompactionIncremental: removals from the middle of a long queue
// compact its ring a budget at a time, never in one step; pushes alone also
// finish a compaction; the order holds throughout.
func TestQueueCompactionIncremental(t *testing.T) {
	const budget, n = 100, 5 * fifoSeg
	setCompactBudget(t, budget)
	m := newQueueModel(t, 4)
	var recs []uint32
	for k := 0; k < n; k++ {
		m.lastCT++
		i := m.newRecord(m.lastCT)
		m.push(i)
		recs = append(recs, i)
	}
	// Random removals, never of the first jobs: the head stays live, so
	// every entry leaving the ring's unscanned part is a compaction move.
	mid := slices.Clone(recs[10:])
	m.rng.Shuffle(len(mid), func(a, b int) { mid[a], mid[b] = mid[b], mid[a] })
	steps, compactions := 0, 0
	for k, i := range mid[:len(mid)*3/4] {
		before, was := m.q.ring.rest.len(), m.q.ring.compacting()
		m.leave(i)
		if r := &m.q.ring; r.compacting() {
			steps++
			if !was {
				compactions++
				before = r.len()
			}
			if moved := before - r.rest.len(); moved > budget {
				t.Fatalf("removal %d moved %d entries in one step; budget %d", k, moved, budget)
			}
		}
		if k%4096 == 0 {
			m.check()
		}
	}
	m.check()
	if compactions == 0 || steps < compactions*(n/2/budget)/2 {
		t.Fatalf("%d compactions over %d removals: not spread out", compactions, steps)
	}
	// Start one more and finish it with pushes only.
	m.q.compact(&m.st)
	pushes := 0
	for m.q.ring.compacting() {
		m.lastCT++
		m.push(m.newRecord(m.lastCT))
		if pushes++; pushes > n {
			t.Fatalf("compaction still running after %d pushes", pushes)
		}
	}
	m.check()
	if stale := m.q.ring.len() - m.q.live; stale != 0 {
		t.Fatalf("%d stale entries after a finished compaction", stale)
	}
}

// TestQueueBigHeap: a backlog requeued in random order (as after a restart)
// sits in the heap, across several of its segments; ordered reads from
// both ends, removals from the middle and pops keep the model's order.
func TestQueueBigHeap(t *testing.T) {
	m := newQueueModel(t, 5)
	m.lastCT += 10_000_000
	m.push(m.newRecord(m.lastCT)) // the ring's tail: everything older goes to the heap
	cts := m.rng.Perm(3*qhSeg + 100)
	var recs []uint32
	for _, ct := range cts {
		i := m.newRecord(m.lastCT - 1 - uint64(ct))
		m.push(i)
		recs = append(recs, i)
	}
	if m.q.heap.len() != len(recs) {
		t.Fatalf("heap holds %d of %d requeued jobs", m.q.heap.len(), len(recs))
	}
	m.check()
	for k, i := range recs {
		if k%3 == 0 {
			m.leave(i)
		}
	}
	m.check()
	for k := 0; k < 2*qhSeg; k++ {
		want := m.want()[0]
		if i := m.q.pop(&m.st); i != want {
			t.Fatalf("pop %d = %d; want %d", k, i, want)
		}
		m.leave(want)
	}
	m.check()
}

// TestQueueHeapCompactionIncremental: a requeued backlog in the heap,
// removed from in random order, is compacted a budget at a time: no step
// drops more than budget/4 heap entries, the compaction spans many
// removals, and when it ends the heap holds no stale entry it had when it
// started.
func TestQueueHeapCompactionIncremental(t *testing.T) {
	const budget, n = 100, 5 * qhSeg
	setCompactBudget(t, budget)
	m := newQueueModel(t, 6)
	m.lastCT += 10_000_000
	m.push(m.newRecord(m.lastCT)) // the ring's tail: the rest goes to the heap
	var recs []uint32
	for _, ct := range m.rng.Perm(n) {
		i := m.newRecord(m.lastCT - 1 - uint64(ct))
		m.push(i)
		recs = append(recs, i)
	}
	m.rng.Shuffle(len(recs), func(a, b int) { recs[a], recs[b] = recs[b], recs[a] })
	steps := 0
	for k, i := range recs[:n*3/4] {
		before := m.q.heap.len()
		m.leave(i)
		if m.q.hscan > 0 {
			steps++
		}
		if dropped := before - m.q.heap.len(); dropped > budget/4 {
			t.Fatalf("removal %d dropped %d heap entries in one step; budget %d", k, dropped, budget/4)
		}
		if k%2048 == 0 {
			m.check()
		}
	}
	if steps < n/2/(budget/4)/2 {
		t.Fatalf("heap compaction ran for %d removals only: not spread out", steps)
	}
	m.check()
	m.q.compact(&m.st)
	finishCompact(&m.q, &m.st)
	for p := 0; p < m.q.heap.len(); p++ {
		if e := m.q.heap.at(p); !m.q.valid(&m.st, qentry{e.idx, e.ver}) {
			t.Fatalf("stale heap entry at %d after a finished compaction", p)
		}
	}
	m.check()
}

// TestQueueDropsStaleHead: jobs leaving from the head (a backlog expiring
// in order) leave no stale entries behind, so no compaction has to rescan
// the ring for them.
func TestQueueDropsStaleHead(t *testing.T) {
	m := newQueueModel(t, 3)
	var recs []uint32
	for k := 0; k < 3*fifoSeg; k++ {
		m.lastCT++
		i := m.newRecord(m.lastCT)
		m.push(i)
		recs = append(recs, i)
	}
	for k := 0; k < fifoSeg+100; k++ {
		m.leave(recs[k])
		if m.q.ring.len() != m.q.live {
			t.Fatalf("after %d removals from the head: %d ring entries for %d live jobs", k+1, m.q.ring.len(), m.q.live)
		}
	}
	// A removal from the middle stays lazy.
	m.leave(recs[2*fifoSeg])
	if m.q.ring.len() != m.q.live+1 {
		t.Fatalf("middle removal: %d ring entries for %d live jobs; want one stale", m.q.ring.len(), m.q.live)
	}
	m.check()
}

// TestQueueWaiters: FIFO, done waiters skipped and dropped, list reset when
// drained.
func TestQueueWaiters(t *testing.T) {
	var q queue
	if q.nextWaiter() != nil {
		t.Fatal("waiter in an empty list")
	}
	ws := make([]*waiter, 5)
	for k := range ws {
		ws[k] = &waiter{seq: uint32(k)}
		q.addWaiter(ws[k])
	}
	if q.blocked != 5 {
		t.Fatalf("blocked = %d; want 5", q.blocked)
	}
	if w := q.nextWaiter(); w != ws[0] {
		t.Fatalf("first waiter = %v; want seq 0", w)
	}
	if w := q.nextWaiter(); w != ws[0] {
		t.Fatal("nextWaiter removed a live waiter")
	}
	ws[0].done, ws[1].done, ws[3].done = true, true, true
	if w := q.nextWaiter(); w != ws[2] {
		t.Fatalf("after skipping done waiters got %v; want seq 2", w)
	}
	if q.waiters[0] != nil || q.waiters[1] != nil {
		t.Fatal("skipped waiters not released")
	}
	ws[2].done = true
	if w := q.nextWaiter(); w != ws[4] {
		t.Fatalf("got %v; want seq 4", w)
	}
	ws[4].done = true
	if w := q.nextWaiter(); w != nil {
		t.Fatalf("all done, got %v", w)
	}
	if len(q.waiters) != 0 || q.whead != 0 {
		t.Fatalf("drained list not reset: len %d head %d", len(q.waiters), q.whead)
	}
	// Reset on add when every listed waiter was consumed.
	a, b := &waiter{seq: 10}, &waiter{seq: 11}
	q.addWaiter(a)
	a.done = true
	q.nextWaiter()
	q.addWaiter(b)
	if w := q.nextWaiter(); w != b {
		t.Fatalf("got %v; want seq 11", w)
	}
}

func TestPauseName(t *testing.T) {
	for st, want := range map[uint8]string{0: "none", pauseIn: "in", pauseOut: "out", pauseIn | pauseOut: "all"} {
		if got := pauseName(st); got != want {
			t.Fatalf("pauseName(%d) = %q; want %q", st, got, want)
		}
	}
}

func TestQueueEvictable(t *testing.T) {
	f := func(q queue, want bool) {
		t.Helper()
		if got := q.evictable(); got != want {
			t.Fatalf("evictable(%+v) = %v; want %v", q, got, want)
		}
	}
	f(queue{}, true)
	f(queue{live: 1}, false)
	f(queue{blocked: 1}, false)
	f(queue{pause: pauseIn}, false)
	f(queue{refs: 1}, false)
}

// TestQueueHeapStaleReusedRecord: a requeued job (heap entry) leaves the
// queue lazily (ACK/DEQUEUE/WORKING/expiry), its record is freed and reused
// by a new job with a newer CTime. The stale heap entry must not change the
// order of the live ones (spec 4.2: GETJOB takes the lowest ctime).
func TestQueueHeapStaleReusedRecord(t *testing.T) {
	m := newQueueModel(t, 3)
	base := m.lastCT
	rec := map[uint64]uint32{} // ctime rank -> record
	pushCT := func(rank uint64) {
		i := m.newRecord(base + rank)
		rec[rank] = i
		m.push(i)
	}
	pushCT(5000) // ring (the queue was empty): tail ctime 5000
	// Heap insertions in this order build the array [10 20 30 25 26 35 36]:
	// 25 and 26 are children of 20.
	for _, r := range []uint64{10, 20, 30, 25, 26, 35, 36} {
		pushCT(r)
	}
	if m.q.heap.len() != 7 {
		t.Fatalf("heap has %d entries; want 7", m.q.heap.len())
	}
	// Job 20 leaves the queue lazily; its record is freed and reused.
	m.leave(rec[20])
	m.active = nil
	m.st.get(rec[20]).State = job.Free
	m.st.release(rec[20])
	reused := m.newRecord(base + 9999) // a new job, elsewhere
	if reused != rec[20] {
		t.Fatalf("record %d not reused (got %d)", rec[20], reused)
	}
	m.st.get(reused).State = job.Active
	var got []uint64
	for i := m.q.pop(&m.st); i != 0; i = m.q.pop(&m.st) {
		got = append(got, m.st.get(i).CTime-base)
		m.leave(i)
	}
	want := []uint64{10, 25, 26, 30, 35, 36, 5000}
	if !slices.Equal(got, want) {
		t.Fatalf("pop order %v; want %v (a stale heap entry whose record was reused reorders the heap)", got, want)
	}
}
