//go:build !race

package shard

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"disq/engine/aof"
	"disq/engine/job"
)

// Allocation budgets (style.md A8). Not under -race: the race detector
// allocates. Run with: go test -count=1 -run Allocs ./shard/

func TestSlotAllocs(t *testing.T) {
	q := []byte("some-queue-name")
	if n := testing.AllocsPerRun(1000, func() { _ = Slot("tenant", q) }); n != 0 {
		t.Fatalf("Slot allocates %v times per call; want 0", n)
	}
}

// TestStepAllocs: the job path in steady state. The design budget is at most
// 1 allocation per job (64 per batch); the measured cost is 0 per batch
// (Go 1.26 keeps getJob's per-op slice on the stack, bodies go to the
// arena, records to the slab, replies to pooled batches), so the guard is
// set at 1 per batch to catch a per-op allocation creeping in. A rare
// sync.Pool refill after a GC averages out below 1.
func TestStepAllocs(t *testing.T) {
	const perBatch = 64
	c := newCycler(perBatch, []byte("01234567890123456789"))
	for k := 0; k < 300; k++ { // warm up: pools, slab page, index, arena chunk, ring
		c.step()
	}
	acked := c.acked
	n := testing.AllocsPerRun(300, c.step)
	t.Logf("steady-state Step of %d ADDJOB+GETJOB+ACKJOB cycles: %.2f allocations per batch", perBatch, n)
	if got := c.acked - acked; got != 301*perBatch {
		t.Fatalf("acked %d jobs over 301 steps; want %d (the driver is not cycling)", got, 301*perBatch)
	}
	if c.s.Stats.Jobs.Load() != perBatch {
		t.Fatalf("%d jobs held; want the %d of the last batch", c.s.Stats.Jobs.Load(), perBatch)
	}
	if n > 1 {
		t.Fatalf("Step allocates %.1f times per batch of %d jobs; guard 1 per batch (measured 0 when set; design budget <= 1 per job)", n, perBatch)
	}
}

// TestStepBlockingAllocs: a GETJOB that blocks costs its waiter (and the
// deadline-heap slot when it has a timeout); serving it costs nothing more.
func TestStepBlockingAllocs(t *testing.T) {
	h := newHarness(t)
	h.addJob("q", "warm")
	h.getNoHang(1, "q")
	sess := &token{"w"}
	rq := h.rq
	var dst []*ReplyBatch
	run := func() {
		b := GetBatch()
		a := b.NumArgs()
		b.Arg([]byte("q"))
		b.Ops = append(b.Ops, Op{Kind: OpGetJob, Seq: 1, A: a, B: b.NumArgs(), N: [6]int64{1, 1000}, Sess: sess, RQ: rq})
		a = b.NumArgs()
		b.Arg([]byte("q"))
		b.Arg([]byte("body"))
		b.Ops = append(b.Ops, Op{Kind: OpAddJob, Slot: testSlot, Seq: 2, A: a, B: b.NumArgs(), N: [6]int64{1, 0, 30, 3600}, Sess: h.me, RQ: rq})
		h.now++
		h.s.Step([]*Batch{b}, h.now)
		dst = rq.Take(dst[:0])
		for _, rb := range dst {
			rb.Release()
		}
		clear(dst)
	}
	for k := 0; k < 100; k++ {
		run()
	}
	n := testing.AllocsPerRun(200, run)
	t.Logf("block + serve one GETJOB: %.2f allocations", n)
	// The waiter struct and its queue list.
	if n > 2 {
		t.Fatalf("blocking GETJOB served by ADDJOB allocates %.1f times; guard 2 (waiter + its queue list)", n)
	}
}

func TestStoreAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var st store
	for k := 0; k < 2000; k++ { // steady population
		i, j := st.alloc()
		j.ID = makeID(rng, uint16(rng.Uint32()))
		j.State = job.Queued
		st.insert(i)
	}
	ids := make([][24]byte, 256)
	for k := range ids {
		ids[k] = makeID(rng, uint16(rng.Uint32()))
	}
	k := 0
	n := testing.AllocsPerRun(2000, func() {
		i, j := st.alloc()
		j.ID = ids[k%len(ids)]
		k++
		st.insert(i)
		if st.lookup(&j.ID) != i {
			panic("lookup")
		}
		st.remove(i)
		j.State = job.Free
		st.release(i)
	})
	if n != 0 {
		t.Fatalf("store alloc/insert/lookup/remove/release allocates %v times; want 0", n)
	}
}

func TestArenaAllocs(t *testing.T) {
	var a arena
	bodies := [][]byte{make([]byte, 20), make([]byte, 513), make([]byte, 4097), make([]byte, 65536)}
	for _, b := range bodies { // warm: one chunk per class, free lists sized
		a.release(a.put(b), uint32(len(b)))
	}
	k := 0
	n := testing.AllocsPerRun(2000, func() {
		b := bodies[k%len(bodies)]
		k++
		ref := a.put(b)
		_ = a.get(ref, uint32(len(b)))
		a.release(ref, uint32(len(b)))
	})
	if n != 0 {
		t.Fatalf("arena put/get/release allocates %v times; want 0", n)
	}
}

func TestWheelAllocs(t *testing.T) {
	var st store
	w := wheel{st: &st, now: 1 << 30}
	// The due time lives in the record (Expire), as in the shard.
	sched := func(i uint32, at int64) {
		st.get(i).Expire = job.Millis(at)
		w.schedule(i, at)
	}
	due := func(i uint32) int64 { return int64(st.get(i).Expire) }
	var recs []uint32
	for k := 0; k < 1000; k++ {
		i, _ := st.alloc()
		recs = append(recs, i)
		sched(i, w.now+1+int64(k)*997)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	n := testing.AllocsPerRun(5000, func() {
		i := recs[rng.IntN(len(recs))]
		sched(i, w.now+1+rng.Int64N(1<<30))
		w.unlink(i)
		sched(i, w.now+1+rng.Int64N(1<<20))
	})
	if n != 0 {
		t.Fatalf("wheel schedule/unlink allocates %v times; want 0", n)
	}
	// advance, cascades and firings (re-arming each fired record).
	fire := func(i uint32) { sched(i, w.now+1+rng.Int64N(1<<16)) }
	w.advance(w.now+1<<20, 1<<30, due, fire) // warm the scratch list
	n = testing.AllocsPerRun(200, func() { w.advance(w.now+500, 1<<30, due, fire) })
	if n != 0 {
		t.Fatalf("wheel advance allocates %v times; want 0", n)
	}
}

// TestStepLogAllocs: with the log on (appendfsync no), a step's hand-off to
// the writer and the writer's work cost no allocation per step in steady
// state (pooled batches, reused buffers), measured process-wide while the
// step waits for its replies to come back from the writer goroutine.
func TestStepLogAllocs(t *testing.T) {
	w, err := aof.Open(aof.Options{Path: filepath.Join(t.TempDir(), "a.aof"), Fsync: aof.FsyncNo,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Preallocate: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const perBatch = 64
	c := newCycler(perBatch, []byte("01234567890123456789"))
	var lg Log
	lg.Store(w)
	c.s.cfg.Log = &lg
	woke := make(chan struct{}, 1)
	c.rq.Wake = func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	}
	c.wait = func() { <-woke } // one reply batch per step, pushed by the writer
	for k := 0; k < 300; k++ {
		c.step()
	}
	n := testing.AllocsPerRun(300, c.step)
	t.Logf("steady-state Step of %d ADDJOB+GETJOB+ACKJOB cycles with the log on: %.2f allocations per batch", perBatch, n)
	if n > 2 {
		t.Fatalf("a logged step allocates %.1f times; guard 2 per batch (measured when set: see the log line)", n)
	}
}
