package shard

import "testing"

// TestPurgeQueueChunks: a purge in chunks takes the oldest queued jobs
// first, leaves delivered jobs and other queues alone, and reports what
// is left.
func TestPurgeQueueChunks(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for k := 0; k < 10; k++ {
		ids = append(ids, h.addJob("q", "x"))
	}
	for k := 0; k < 3; k++ {
		h.addJob("r", "y")
	}
	delivered := fetched(t, h.getNoHang(1, "q"))[0][1] // the oldest, now active
	if delivered != ids[0] {
		t.Fatalf("GETJOB took %s; want the oldest %s", delivered, ids[0])
	}
	var got [][2]int64
	for {
		n, left := h.s.PurgeQueue(0, []byte("q"), 4)
		got = append(got, [2]int64{n, int64(left)})
		if left == 0 || n == 0 {
			break
		}
		if len(got) == 1 {
			// The 4 oldest queued went first.
			for k, id := range ids[1:] {
				if want := map[bool]string{true: "(nil)", false: "queued"}[k < 4]; h.state(id) != want {
					t.Fatalf("after the first chunk job %d is %s; want %s", k+1, h.state(id), want)
				}
			}
		}
	}
	if want := [][2]int64{{4, 5}, {4, 1}, {1, 0}}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("chunks (deleted, left) = %v; want %v", got, want)
	}
	if h.state(delivered) != "active" {
		t.Fatalf("the delivered job is %s after the purge; want active", h.state(delivered))
	}
	if h.qlen(0, "q") != 0 || h.qlen(0, "r") != 3 {
		t.Fatalf("QLEN q %d r %d after the purge; want 0 and 3", h.qlen(0, "q"), h.qlen(0, "r"))
	}
	if n, left := h.s.PurgeQueue(0, []byte("nosuch"), 4); n != 0 || left != 0 {
		t.Fatalf("purge of a missing queue = %d, %d", n, left)
	}
}

// TestFlushTenantChunks: a deleted tenant's jobs go over several calls of
// FlushTenant, each visiting at most its budget of records; the other
// tenant's jobs stay; the tenant's queues go with the last call.
func TestFlushTenantChunks(t *testing.T) {
	h := newHarness(t)
	var gone, kept []string
	for k := 0; k < 7; k++ {
		gone = append(gone, h.addJobOpts(1, "q", "a", 0, 30, 3600))
		kept = append(kept, h.addJobOpts(0, "q", "b", 0, 30, 3600))
	}
	h.do(getOp(FlagNoHang, 2, 0), "q") // two of tenant 0's jobs active: both kinds stay
	calls := 0
	for from, first := uint32(0), true; first || from != 0; first = false {
		from = h.s.FlushTenant(1, from, 3)
		calls++
		if calls > 20 {
			t.Fatal("FlushTenant does not finish")
		}
	}
	if calls != 5 { // 14 records, 3 per call
		t.Fatalf("FlushTenant took %d calls for 14 records with a budget of 3; want 5", calls)
	}
	for _, id := range gone {
		if m := h.show(1, id); m != nil {
			t.Fatalf("tenant 1's job %s survived the flush", id)
		}
	}
	for _, id := range kept {
		if st := h.state(id); st != "queued" && st != "active" {
			t.Fatalf("tenant 0's job %s is %s after tenant 1's flush", id, st)
		}
	}
	if h.s.lookupQueue(1, []byte("q")) != nil {
		t.Fatal("tenant 1's queue kept after the flush")
	}
	if h.qlen(0, "q") != 5 {
		t.Fatalf("tenant 0's QLEN %d after tenant 1's flush; want 5", h.qlen(0, "q"))
	}
}

// TestWalksInChunks: the metrics' per-queue walk and the per-tenant count
// give the same figures in chunks of one record as in one go.
func TestWalksInChunks(t *testing.T) {
	h := newHarness(t)
	for k := 0; k < 6; k++ {
		h.addJobOpts(0, "a", "x", 0, 30, 3600)
		h.addJobOpts(1, "b", "y", 0, 30, 3600)
	}
	h.getNoHang(2, "a") // two of queue a's jobs in flight
	queueFigures := func(budget int) []QueueStat {
		dst, pos := h.s.QueueStats(nil)
		calls := 0
		for from, first := uint32(0), true; first || from != 0; first = false {
			from = h.s.QueueWalk(dst, pos, from, budget)
			calls++
		}
		if budget == 1 && calls < 12 {
			t.Fatalf("QueueWalk with a budget of 1 finished in %d calls for 12 records", calls)
		}
		return dst
	}
	whole, chunked := queueFigures(1<<30), queueFigures(1)
	if len(whole) != 2 || len(chunked) != 2 {
		t.Fatalf("%d and %d queues; want 2", len(whole), len(chunked))
	}
	byName := map[string]QueueStat{}
	for _, q := range chunked {
		byName[q.Queue] = q
	}
	for _, q := range whole { // the queues come in map order
		if byName[q.Queue] != q {
			t.Fatalf("queue %s: %+v in one go, %+v in chunks", q.Queue, q, byName[q.Queue])
		}
		if q.Queue == "a" && (q.InFlight != 2 || q.Depth != 4) {
			t.Fatalf("queue a: %+v; want 2 in flight, depth 4", q)
		}
	}
	tenantFigures := func(tenant uint16, budget int) [3]int64 {
		var sum [3]int64
		for from, first := uint32(0), true; first || from != 0; first = false {
			var q, a, k int64
			q, a, k, from = h.s.TenantJobs(tenant, from, budget)
			sum[0], sum[1], sum[2] = sum[0]+q, sum[1]+a, sum[2]+k
		}
		return sum
	}
	for tn, want := range map[uint16][3]int64{0: {4, 2, 0}, 1: {6, 0, 0}} {
		if got, one := tenantFigures(tn, 1<<30), tenantFigures(tn, 1); got != want || one != want {
			t.Fatalf("tenant %d: %v in one go, %v in chunks; want %v", tn, got, one, want)
		}
	}
}
