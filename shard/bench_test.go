package shard

import (
	"math/rand/v2"
	"testing"
	"time"

	"disq/engine/job"
)

// BenchmarkStepAddGetAck: one op of the benchmark is one job through
// ADDJOB, GETJOB and ACKJOB, batched 64 jobs per Step as an event loop
// would deliver them under load.
func BenchmarkStepAddGetAck(b *testing.B) {
	const perBatch = 64
	body := []byte("01234567890123456789")
	c := newCycler(perBatch, body)
	for k := 0; k < 100; k++ {
		c.step()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for done := 0; done < b.N; done += perBatch {
		c.step()
	}
}

// BenchmarkWheel: schedule a record at a random time within an hour, then
// advance by 1 ms, with 100k records pending (one op = one schedule and one
// ms of advance, re-arming every fired record).
func BenchmarkWheel(b *testing.B) {
	var st store
	w := wheel{st: &st, now: int64(testT0)}
	rng := rand.New(rand.NewPCG(3, 3))
	sched := func(i uint32, at int64) {
		st.get(i).Expire = job.Millis(at)
		w.schedule(i, at)
	}
	due := func(i uint32) int64 { return int64(st.get(i).Expire) }
	fire := func(i uint32) { sched(i, w.now+1+rng.Int64N(3_600_000)) }
	recs := make([]uint32, 100_000)
	for k := range recs {
		recs[k], _ = st.alloc()
		sched(recs[k], w.now+1+rng.Int64N(3_600_000))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		sched(recs[k%len(recs)], w.now+1+rng.Int64N(3_600_000))
		w.advance(w.now+1, 1<<30, due, fire)
	}
}

// lookupFixture is built once: the benchmark function runs several times.
var lookupFixture struct {
	st   *store
	ids  []job.ID
	perm []int
}

// BenchmarkStoreLookup: hits in an index of 1M jobs, in random order (one
// op = one lookup; mostly cache misses on the table and the records).
func BenchmarkStoreLookup(b *testing.B) {
	const n = 1 << 20
	f := &lookupFixture
	if f.st == nil {
		f.st = new(store)
		rng := rand.New(rand.NewPCG(4, 4))
		f.ids = make([]job.ID, n)
		for k := range f.ids {
			i, j := f.st.alloc()
			j.ID = makeID(rng, uint16(rng.Uint32()))
			j.State = job.Queued
			f.st.insert(i)
			f.ids[k] = j.ID
		}
		f.perm = rng.Perm(n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		if f.st.lookup(&f.ids[f.perm[k&(n-1)]]) == 0 {
			b.Fatal("miss")
		}
	}
}

// BenchmarkStoreLookupHint: the same for jobs created by this shard, found
// through the record index carried in their ID.
func BenchmarkStoreLookupHint(b *testing.B) {
	const n = 1 << 20
	var st store
	rng := rand.New(rand.NewPCG(5, 5))
	ids := make([]job.ID, n)
	for k := range ids {
		i, j := st.alloc()
		id := makeID(rng, uint16(rng.Uint32()))
		id.SetHint(i)
		j.ID = id
		j.State = job.Queued
		st.index(i)
		ids[k] = id
	}
	perm := rng.Perm(n)
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		if st.lookup(&ids[perm[k&(n-1)]]) == 0 {
			b.Fatal("miss")
		}
	}
}

// longest is the longest of the timed calls, for the backlog benchmarks
// below: each reports its worst single operation, the stall a client sees.
type longest time.Duration

func (w *longest) time(fn func()) {
	t0 := time.Now()
	fn()
	if d := longest(time.Since(t0)); d > *w {
		*w = d
	}
}

func (w longest) report(b *testing.B, unit string) {
	b.ReportMetric(float64(time.Duration(w).Microseconds())/1000, unit)
}

// BenchmarkQueueBacklog pushes 4,194,304 jobs into one queue and reports the
// longest single push (max-push-ms): a queue that grows by copying its whole
// index stalls the shard at each doubling.
func BenchmarkQueueBacklog(b *testing.B) {
	const n = 1 << 22
	for b.Loop() {
		var st store
		var q queue
		i, j := st.alloc()
		j.State = job.Queued
		var worst longest
		for k := 0; k < n; k++ {
			j.CTime++
			worst.time(func() { q.push(&st, i) })
		}
		worst.report(b, "max-push-ms")
	}
}

// BenchmarkQueueExpireBacklog queues 1,048,576 jobs in one queue, then
// takes the oldest half out in order as expiry or DEQUEUE does, and
// reports the longest single removal (max-drop-ms).
func BenchmarkQueueExpireBacklog(b *testing.B) {
	const n = 1 << 20
	for b.Loop() {
		var st store
		var q queue
		idx := fillQueue(&st, &q, n)
		dropAll(b, &st, &q, idx[:n/2+1])
	}
}

// BenchmarkQueueRandomRemoval queues 4,194,304 jobs in one queue, removes
// half of them plus some in random order (DELJOB, DEQUEUE or expiry of
// queued jobs) and reports the longest single removal (max-drop-ms): the
// compaction this triggers must not rescan the ring in one step.
func BenchmarkQueueRandomRemoval(b *testing.B) {
	randomRemoval(b, fillQueue)
}

// randomRemoval fills a queue with 4,194,304 jobs (fill) and removes 62.5%
// of them in random order, reporting the longest removal.
func randomRemoval(b *testing.B, fill func(st *store, q *queue, n int) []uint32) {
	const n = 1 << 22
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		var st store
		var q queue
		idx := fill(&st, &q, n)
		rng.Shuffle(len(idx), func(a, c int) { idx[a], idx[c] = idx[c], idx[a] })
		dropAll(b, &st, &q, idx[:n/2+n/8])
	}
}

// BenchmarkQueueRequeueBacklog requeues 4,194,304 jobs into one queue in
// random CTime order, as their retry timers do after a restart (they all go
// to the heap), and reports the longest single push (max-push-ms): the heap
// must not grow by copying itself.
func BenchmarkQueueRequeueBacklog(b *testing.B) {
	const n = 1 << 22
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		var st store
		var q queue
		idx := requeueBacklog(&st, &q, n, rng)
		var worst longest
		for _, i := range idx {
			st.get(i).State = job.Queued
			worst.time(func() { q.push(&st, i) })
		}
		worst.report(b, "max-push-ms")
	}
}

// BenchmarkQueuePeekBigHeap: QPEEK 10 from the head and from the tail of
// a queue whose 1,048,576 jobs sit in the heap. An op is both reads; the
// head must not sort the heap, the tail scans it once.
func BenchmarkQueuePeekBigHeap(b *testing.B) {
	const n = 1 << 20
	var st store
	var q queue
	heapBacklog(&st, &q, n)
	var dst []uint32
	for b.Loop() {
		dst = q.ordered(&st, dst[:0], 10, false)
		dst = q.ordered(&st, dst[:0], 10, true)
	}
}

// BenchmarkQueueHeapChurn: a queue whose 1,048,576 jobs sit in the heap
// (a requeued backlog); an op pops the oldest and requeues it (NACK), two
// heap operations 20 levels deep.
func BenchmarkQueueHeapChurn(b *testing.B) {
	const n = 1 << 20
	var st store
	var q queue
	heapBacklog(&st, &q, n)
	for b.Loop() {
		i := q.pop(&st)
		q.live--
		q.push(&st, i) // still Queued: back in with its CTime
	}
}

// BenchmarkQueueHeapRandomRemoval: a queue whose 4,194,304 jobs sit in the
// heap (a requeued backlog) loses 62.5% of them in random order; reports
// the longest single removal (max-drop-ms): the heap's compaction must not
// run in one step either.
func BenchmarkQueueHeapRandomRemoval(b *testing.B) {
	randomRemoval(b, heapBacklog)
}

// heapBacklog requeues n records into q, all of them into its heap, and
// returns them.
func heapBacklog(st *store, q *queue, n int) []uint32 {
	idx := requeueBacklog(st, q, n, rand.New(rand.NewPCG(3, 4)))
	for _, i := range idx {
		st.get(i).State = job.Queued
		q.push(st, i)
	}
	return idx
}

// requeueBacklog makes n records older than the queue's tail (one job
// queued last, so that requeues cannot go to the ring), in random order,
// and returns them unqueued (Active).
func requeueBacklog(st *store, q *queue, n int, rng *rand.Rand) []uint32 {
	tail, j := st.alloc()
	j.CTime = uint64(n + 1)
	j.State = job.Queued
	q.push(st, tail)
	idx := make([]uint32, n)
	for k := range idx {
		i, j := st.alloc()
		j.CTime = uint64(k + 1)
		j.State = job.Active
		idx[k] = i
	}
	rng.Shuffle(len(idx), func(a, c int) { idx[a], idx[c] = idx[c], idx[a] })
	return idx
}

// fillQueue queues n new jobs in q, in CTime order, and returns their
// records.
func fillQueue(st *store, q *queue, n int) []uint32 {
	idx := make([]uint32, n)
	for k := range idx {
		i, j := st.alloc()
		j.CTime = uint64(k + 1)
		j.State = job.Queued
		q.push(st, i)
		idx[k] = i
	}
	return idx
}

// dropAll takes the queued records idx out of q one by one, as the shard
// does for a removal that is not a pop, and reports the longest
// (max-drop-ms).
func dropAll(b *testing.B, st *store, q *queue, idx []uint32) {
	var worst longest
	for _, i := range idx {
		j := st.get(i)
		j.State = job.Active
		j.QVer++
		worst.time(func() { q.dropped(st) })
	}
	worst.report(b, "max-drop-ms")
}

// BenchmarkStoreFreeBacklog allocates 4,194,304 records, releases them all
// (as acknowledging a drained backlog does) and reports the longest single
// release (max-release-ms): the free list must not grow by copying.
func BenchmarkStoreFreeBacklog(b *testing.B) {
	const n = 1 << 22
	for b.Loop() {
		var st store
		var a arena
		body := []byte("01234567890123456789")
		idx := make([]uint32, n)
		refs := make([]uint64, n)
		for k := range idx {
			idx[k], _ = st.alloc()
			refs[k] = a.put(body)
		}
		var worst longest
		for k, i := range idx {
			worst.time(func() {
				st.get(i).State = job.Free
				st.release(i)
				a.release(refs[k], uint32(len(body)))
			})
		}
		worst.report(b, "max-release-ms")
	}
}

// BenchmarkStoreIndexBacklog indexes 4,194,304 records whose IDs do not
// carry their index (copies from other nodes, as a replica holds) and
// reports the longest single insert (max-insert-ms): the index must not
// re-place all its entries at once when it grows.
func BenchmarkStoreIndexBacklog(b *testing.B) {
	const n = 1 << 22
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		var st store
		var worst longest
		for k := 0; k < n; k++ {
			i, j := st.alloc()
			for p := range j.ID {
				j.ID[p] = byte(rng.Uint32())
			}
			j.ID.SetHint(0)
			worst.time(func() { st.insert(i) })
		}
		worst.report(b, "max-insert-ms")
	}
}

// BenchmarkWheelCascadeBacklog schedules 3,145,728 jobs created over 6 s
// with the same one-day TTL, advances the wheel 1 ms at a time through
// their expiry (coarsely until the last hour), and reports the longest
// single advance (max-advance-ms): moving a high-level slot down must not
// happen all at once.
func BenchmarkWheelCascadeBacklog(b *testing.B) {
	const n = 3 << 20
	const day = 86_400_000
	for b.Loop() {
		var st store
		t0 := int64(testT0)
		w := wheel{st: &st, now: t0}
		due := func(i uint32) int64 { return int64(st.get(i).Expire) }
		fire := func(i uint32) {}
		for k := 0; k < n; k++ {
			i, _ := st.alloc()
			at := t0 + int64(k)*6000/n + day
			st.get(i).Expire = job.Millis(at)
			w.schedule(i, at)
		}
		var worst longest
		for now := t0; w.n > 0; now++ {
			if now < t0+day-3_600_000 {
				now += 999
			}
			worst.time(func() { w.advance(now, 10000, due, fire) })
		}
		worst.report(b, "max-advance-ms")
	}
}
