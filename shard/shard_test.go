package shard

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"
	"time"

	"disq/engine/job"
	"disq/netpoll/resp"
)

// Command-level tests: ops through Step with a fake clock (see
// helpers_test.go). Expected behaviour: shared/spec/semantics.md 2-7,
// commands.md 2-3.

func TestAddJobReply(t *testing.T) {
	h := newHarness(t)
	r := h.do(Op{Kind: OpAddJob, Slot: 3210, N: [6]int64{1, 0, 30, 3600}}, "q", "hello")
	if r.Code != OK || r.R.Kind != resp.KindSimple {
		t.Fatalf("ADDJOB reply %v; want a simple string", r)
	}
	if r.Raw[0] != '+' || len(r.Raw) != 1+job.IDLen+2 {
		t.Fatalf("ADDJOB raw reply %q; want +<40-byte id>\\r\\n", r.Raw)
	}
	text := r.R.Str
	if !job.ValidID(text) {
		t.Fatalf("ID %q fails ValidID", text)
	}
	id, ok := job.ParseID(text)
	if !ok {
		t.Fatalf("ID %q does not parse", text)
	}
	if id.Slot() != 3210 {
		t.Fatalf("ID slot %d; want op.Slot 3210", id.Slot())
	}
	if string(text[2:10]) != testNodeID[:8] {
		t.Fatalf("ID node prefix %q; want %q", text[2:10], testNodeID[:8])
	}
	if got, want := id.TTLField(), job.TTLFieldOf(3600, 30); got != want {
		t.Fatalf("TTL field %04x; want %04x", got, want)
	}
	if r.Seq != h.seq || r.Sess != h.me {
		t.Fatalf("reply addressed to (%v, %d); want (%v, %d)", r.Sess, r.Seq, h.me, h.seq)
	}
	// The job: queued, fields as given.
	m := h.show(0, string(text))
	for k, want := range map[string]string{
		"id": `"` + string(text) + `"`, "queue": `"q"`, "state": `"queued"`, "repl": ":1",
		"ttl": ":3600", "delay": ":0", "retry": ":30", "nacks": ":0", "additional-deliveries": ":0",
		"nodes-delivered": `["` + testNodeID + `"]`, "nodes-confirmed": "[]", "body": `"hello"`,
		"ctime": ":" + strconv.FormatInt(int64(testT0)*1_000_000, 10),
	} {
		if got := m[k].String(); got != want {
			t.Errorf("SHOW %s = %s; want %s", k, got, want)
		}
	}
	if nr := m["next-requeue-within"].Int; nr < 30000-250 || nr > 30000+249 {
		t.Errorf("next-requeue-within = %d; want 30000 +/- 250", nr)
	}
	// The next action on a queued job is the roll-over of its requeue
	// clock (or a WILLQUEUE notice before it), never later.
	if na, nr := m["next-awake-within"].Int, m["next-requeue-within"].Int; na < 0 || na > nr {
		t.Errorf("next-awake-within = %d; want in [0, next-requeue-within %d]", na, nr)
	}
	if h.qlen(0, "q") != 1 {
		t.Fatal("QLEN after ADDJOB != 1")
	}
	if h.s.Stats.Jobs.Load() != 1 || h.s.Stats.Queues.Load() != 1 || h.s.Stats.Created.Load() != 1 {
		t.Fatalf("stats jobs %d queues %d created %d; want 1 1 1",
			h.s.Stats.Jobs.Load(), h.s.Stats.Queues.Load(), h.s.Stats.Created.Load())
	}
	// IDs are unique, ctimes strictly increase within the same ms.
	id2 := h.addJob("q", "x")
	if id2 == string(text) {
		t.Fatal("two jobs got the same ID")
	}
	c1, c2 := m["ctime"].Int, h.show(0, id2)["ctime"].Int
	if c2 != c1+1 {
		t.Fatalf("second ctime in the same ms = %d; want %d", c2, c1+1)
	}
	// An at-most-once job: even TTL field.
	id3 := h.addJobOpts(0, "q", "amo", 0, 0, 3600)
	if p, _ := job.ParseID([]byte(id3)); p.TTLField()&1 != 0 {
		t.Fatalf("at-most-once ID %s has an odd TTL field", id3)
	}
}

func TestAddJobEmptyAndLargeBody(t *testing.T) {
	h := newHarness(t)
	big := make([]byte, 200<<10)
	for k := range big {
		big[k] = byte(k * 7)
	}
	for _, body := range []string{"", "x", string(big)} {
		id := h.addJob("q", body)
		if got := h.show(0, id)["body"]; string(got.Str) != body || got.IsNull() {
			t.Fatalf("body of %d bytes: SHOW body has %d bytes (null %v)", len(body), len(got.Str), got.IsNull())
		}
		f := fetched(t, h.getNoHang(1, "q"))
		if f[0][2] != body {
			t.Fatalf("GETJOB body of %d bytes: got %d bytes", len(body), len(f[0][2]))
		}
		h.ids(IDAck, 0, id)
	}
	if h.s.ar.used != 0 {
		t.Fatalf("arena used %d after acking every job", h.s.ar.used)
	}
}

func TestQLen(t *testing.T) {
	h := newHarness(t)
	if n := h.qlen(0, "missing"); n != 0 {
		t.Fatalf("QLEN of a missing queue = %d", n)
	}
	if h.s.Stats.Queues.Load() != 0 {
		t.Fatal("QLEN created a queue")
	}
	for k := 0; k < 3; k++ {
		h.addJob("q", "b")
	}
	h.addJob("other", "b")
	if n := h.qlen(0, "q"); n != 3 {
		t.Fatalf("QLEN q = %d; want 3", n)
	}
	h.getNoHang(1, "q")
	if n := h.qlen(0, "q"); n != 2 {
		t.Fatalf("QLEN q after a fetch = %d; want 2", n)
	}
}

func TestGetJobNoHang(t *testing.T) {
	h := newHarness(t)
	r := h.getNoHang(1, "empty")
	if r.Code != OK || r.R.Kind != resp.KindArray || !r.R.IsNull() {
		t.Fatalf("GETJOB NOHANG on an empty queue = %v; want *-1", r)
	}
	if h.qstat(0, "empty") == nil {
		t.Fatal("GETJOB did not create the queue it names")
	}
	var ids []string
	for k := 0; k < 5; k++ {
		ids = append(ids, h.addJob("q", "body"+strconv.Itoa(k)))
	}
	f := fetched(t, h.getNoHang(1, "q"))
	if len(f) != 1 || f[0] != [3]string{"q", ids[0], "body0"} {
		t.Fatalf("GETJOB = %v; want the oldest job", f)
	}
	f = fetched(t, h.getNoHang(3, "q"))
	if len(f) != 3 || f[0][1] != ids[1] || f[1][1] != ids[2] || f[2][1] != ids[3] {
		t.Fatalf("GETJOB COUNT 3 = %v; want jobs 1..3 in order", f)
	}
	f = fetched(t, h.getNoHang(10, "q"))
	if len(f) != 1 || f[0][1] != ids[4] {
		t.Fatalf("GETJOB COUNT 10 with 1 job = %v", f)
	}
	for _, id := range ids {
		if st := h.state(id); st != "active" {
			t.Fatalf("fetched job %s state %s; want active", id, st)
		}
	}
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("QLEN = %d after fetching everything", n)
	}
	st := h.qstat(0, "q")
	if st[7] != "jobs-in=5" || st[8] != "jobs-out=5" {
		t.Fatalf("QSTAT %v; want jobs-in=5 jobs-out=5", st)
	}
	// The GETJOB item shape: *3 of bulk strings, job ID as a bulk.
	h.addJob("q", "z")
	r = h.getNoHang(1, "q")
	if string(r.Raw[:len("*1\r\n*3\r\n$1\r\nq\r\n$40\r\n")]) != "*1\r\n*3\r\n$1\r\nq\r\n$40\r\n" {
		t.Fatalf("GETJOB raw reply %q", r.Raw)
	}
}

func TestGetJobRoundRobin(t *testing.T) {
	h := newHarness(t)
	a1, a2, a3 := h.addJob("a", "a1"), h.addJob("a", "a2"), h.addJob("a", "a3")
	b1 := h.addJob("b", "b1")
	f := fetched(t, h.getNoHang(4, "a", "missing", "b"))
	want := []string{a1, b1, a2, a3}
	if len(f) != 4 {
		t.Fatalf("GETJOB COUNT 4 FROM a missing b = %v; want 4 jobs", f)
	}
	for k := range want {
		if f[k][1] != want[k] {
			t.Fatalf("GETJOB COUNT 4 FROM a missing b: job %d = %s; want %s (a1, b1, a2, a3)", k, f[k][2], want[k])
		}
	}
	if h.qstat(0, "missing") == nil {
		t.Fatal("GETJOB did not create the missing queue")
	}
	// Duplicates count as separate passes.
	c1, c2, _ := h.addJob("c", "c1"), h.addJob("c", "c2"), h.addJob("c", "c3")
	f = fetched(t, h.getNoHang(2, "c", "c"))
	if len(f) != 2 || f[0][1] != c1 || f[1][1] != c2 {
		t.Fatalf("GETJOB COUNT 2 FROM c c = %v", f)
	}
	// COUNT stops in the middle of a pass.
	d1 := h.addJob("d", "d1")
	h.addJob("e", "e1")
	f = fetched(t, h.getNoHang(1, "d", "e"))
	if len(f) != 1 || f[0][1] != d1 {
		t.Fatalf("GETJOB COUNT 1 FROM d e = %v", f)
	}
}

func TestGetJobWithCounters(t *testing.T) {
	h := newHarness(t)
	id := h.addJob("q", "body")
	h.getNoHang(1, "q")
	if n := h.ids(IDNack, 0, id); n != 1 {
		t.Fatalf("NACK = %d", n)
	}
	r := h.do(getOp(FlagNoHang|FlagWithCounters, 1, 0), "q")
	want := `[["q" "` + id + `" "body" "nacks" :1 "additional-deliveries" :0]]`
	if got := r.R.String(); got != want {
		t.Fatalf("GETJOB WITHCOUNTERS = %s; want %s", got, want)
	}
	h.ids(IDEnqueue, 0, id)
	r = h.do(getOp(FlagNoHang|FlagWithCounters, 1, 0), "q")
	want = `[["q" "` + id + `" "body" "nacks" :1 "additional-deliveries" :1]]`
	if got := r.R.String(); got != want {
		t.Fatalf("GETJOB WITHCOUNTERS after ENQUEUE = %s; want %s", got, want)
	}
}

func TestBlockingGetJobFIFO(t *testing.T) {
	h := newHarness(t)
	s1, s2, s3 := &token{"s1"}, &token{"s2"}, &token{"s3"}
	for _, s := range []*token{s1, s2, s3} {
		if rs := h.step(call{Op{Kind: OpGetJob, Sess: s, N: [6]int64{5, 0}}, []string{"q"}}); len(rs) != 0 {
			t.Fatalf("blocking GETJOB replied %v", rs)
		}
	}
	if h.s.Stats.Blocked.Load() != 3 {
		t.Fatalf("Stats.Blocked = %d; want 3", h.s.Stats.Blocked.Load())
	}
	if st := h.qstat(0, "q"); st[4] != "blocked=3" {
		t.Fatalf("QSTAT blocked: %v", st)
	}
	// Two jobs in one batch: the first two waiters get one each, in order.
	rs := h.step(
		call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", "j1"}},
		call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", "j2"}},
	)
	var served []got
	for _, r := range rs {
		if r.Sess != h.me {
			served = append(served, r)
		}
	}
	if len(served) != 2 || served[0].Sess != s1 || served[1].Sess != s2 {
		t.Fatalf("served %v; want s1 then s2", served)
	}
	for k, r := range served {
		f := fetched(t, r)
		if len(f) != 1 || f[0][2] != "j"+strconv.Itoa(k+1) {
			t.Fatalf("waiter %d got %v; want exactly one job, j%d (COUNT ignored once blocked)", k, f, k+1)
		}
		if r.Seq == 0 {
			t.Fatal("waiter reply without its Seq")
		}
	}
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("QLEN = %d; jobs given to waiters must not stay queued", n)
	}
	if h.s.Stats.Blocked.Load() != 1 {
		t.Fatalf("Stats.Blocked = %d; want 1", h.s.Stats.Blocked.Load())
	}
	rs = h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", "j3"}})
	if len(rs) != 2 || rs[1].Sess != s3 || fetched(t, rs[1])[0][2] != "j3" {
		t.Fatalf("third job: replies %v; want the ADDJOB reply then s3 served", rs)
	}
	h.addJob("q", "j4")
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatalf("QLEN = %d with no waiter left; want 1", n)
	}
}

func TestBlockingGetJobSeveralQueues(t *testing.T) {
	h := newHarness(t)
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, Flags: FlagWithCounters, N: [6]int64{1, 0}}, []string{"a", "b", "a"}})
	if st := h.qstat(0, "a"); st[4] != "blocked=1" {
		t.Fatalf("duplicates not collapsed: QSTAT a %v", st)
	}
	rs := h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"b", "jb"}})
	if len(rs) != 2 || rs[1].Sess != w {
		t.Fatalf("replies %v; want the waiter served from b", rs)
	}
	if len(rs[1].R.Elems) != 1 || len(rs[1].R.Elems[0].Elems) != 7 {
		t.Fatalf("served %v; want one *7 item (WITHCOUNTERS honoured)", rs[1].R)
	}
	h.addJob("a", "ja")
	if n := h.qlen(0, "a"); n != 1 {
		t.Fatal("a served waiter was served twice")
	}
	for _, q := range []string{"a", "b"} {
		if st := h.qstat(0, q); st[4] != "blocked=0" {
			t.Fatalf("QSTAT %s %v; want blocked=0", q, st)
		}
	}
}

// TestBlockingGetJobHugeTimeout: a timeout beyond the end of time is no
// timeout (it must not overflow into the past and answer at once).
func TestBlockingGetJobHugeTimeout(t *testing.T) {
	h := newHarness(t)
	w := &token{"w"}
	for _, timeout := range []int64{math.MaxInt64, math.MaxInt64 - int64(testT0) + 5} {
		if rs := h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, timeout}}, []string{"q"}}); len(rs) != 0 {
			t.Fatalf("GETJOB TIMEOUT %d replied %v", timeout, rs)
		}
		if rs := h.advance(1000); len(rs) != 0 {
			t.Fatalf("GETJOB TIMEOUT %d answered after 1 s: %v", timeout, rs)
		}
		h.step(call{Op{Kind: OpCancel, Sess: w}, nil})
	}
}

func TestBlockingGetJobTimeout(t *testing.T) {
	h := newHarness(t)
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 500}}, []string{"q"}})
	// The deadline is rounded up by 1 ms (the shard's clock is truncated to
	// whole milliseconds): never early.
	if rs := h.advance(500); len(rs) != 0 {
		t.Fatalf("replies before the deadline: %v", rs)
	}
	rs := h.advance(1)
	if len(rs) != 1 || rs[0].Sess != w || !rs[0].R.IsNull() || rs[0].R.Kind != resp.KindArray {
		t.Fatalf("at the deadline: %v; want *-1 to the waiter", rs)
	}
	if h.s.Stats.Blocked.Load() != 0 {
		t.Fatal("timed-out waiter still counted as blocked")
	}
	h.addJob("q", "late")
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatalf("QLEN = %d; a job must not go to a timed-out waiter", n)
	}
	if rs := h.advance(10000); len(rs) != 0 {
		t.Fatalf("replies after the timeout: %v", rs)
	}
	// Several deadlines: each fires at its own time, served ones never.
	a, b, c := &token{"a"}, &token{"b"}, &token{"c"}
	h.step(
		call{Op{Kind: OpGetJob, Sess: a, N: [6]int64{1, 300}}, []string{"x"}},
		call{Op{Kind: OpGetJob, Sess: b, N: [6]int64{1, 100}}, []string{"x"}},
		call{Op{Kind: OpGetJob, Sess: c, N: [6]int64{1, 200}}, []string{"y"}},
	)
	if rs := h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"x", "for a"}}); len(rs) != 2 || rs[1].Sess != a {
		t.Fatalf("job for x: %v; want a (first blocked on x) served", rs)
	}
	rs = h.advance(101) // deadlines are rounded up by 1 ms
	if len(rs) != 1 || rs[0].Sess != b {
		t.Fatalf("at +101: %v; want b timed out", rs)
	}
	rs = h.advance(100)
	if len(rs) != 1 || rs[0].Sess != c {
		t.Fatalf("at +200: %v; want c timed out", rs)
	}
	if rs = h.advance(1000); len(rs) != 0 {
		t.Fatalf("a was served; got %v", rs)
	}
}

func TestCancelDropsWaiter(t *testing.T) {
	h := newHarness(t)
	s1, s2, s3 := &token{"s1"}, &token{"s2"}, &token{"s3"}
	h.step(
		call{Op{Kind: OpGetJob, Sess: s1, N: [6]int64{1, 1000}}, []string{"q"}},
		call{Op{Kind: OpGetJob, Sess: s2, N: [6]int64{1, 0}}, []string{"q"}},
	)
	if rs := h.step(call{Op{Kind: OpCancel, Sess: s1}, nil}); len(rs) != 0 {
		t.Fatalf("OpCancel replied %v", rs)
	}
	if h.s.Stats.Blocked.Load() != 1 {
		t.Fatalf("Blocked = %d after cancel; want 1", h.s.Stats.Blocked.Load())
	}
	rs := h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", "j"}})
	if len(rs) != 2 || rs[1].Sess != s2 {
		t.Fatalf("after cancelling s1: %v; want s2 served", rs)
	}
	// A cancelled waiter with a timeout never answers.
	if rs := h.advance(2000); len(rs) != 0 {
		t.Fatalf("cancelled waiter answered: %v", rs)
	}
	h.step(call{Op{Kind: OpGetJob, Sess: s3, N: [6]int64{1, 0}}, []string{"q"}})
	h.step(call{Op{Kind: OpCancel, Sess: s3}, nil})
	h.step(call{Op{Kind: OpCancel, Sess: s3}, nil}) // twice: no-op
	h.addJob("q", "stays")
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatalf("QLEN = %d; with every waiter cancelled the job stays queued", n)
	}
	if st := h.qstat(0, "q"); st[4] != "blocked=0" {
		t.Fatalf("QSTAT %v", st)
	}
}

func TestReplyQueues(t *testing.T) {
	h := newHarness(t)
	wakes := 0
	rq2 := &ReplyQueue{Wake: func() { wakes++ }}
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, RQ: rq2, N: [6]int64{1, 0}}, []string{"q"}})
	rs := h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", "j"}})
	if len(rs) != 1 || rs[0].Sess != h.me {
		t.Fatalf("own queue: %v; want only the ADDJOB reply", rs)
	}
	other := h.take(rq2)
	if len(other) != 1 || other[0].Sess != w {
		t.Fatalf("other loop's queue: %v; want the waiter's job", other)
	}
	if wakes != 1 {
		t.Fatalf("Wake called %d times; want 1", wakes)
	}
	// One Wake per idle->pending edge, however many batches are pushed.
	before := h.wakes
	h.s.Step(nil, h.now)
	b1, b2 := GetBatch(), GetBatch()
	h.add(b1, Op{Kind: OpSync})
	h.add(b2, Op{Kind: OpSync})
	h.s.Step([]*Batch{b1}, h.now)
	h.s.Step([]*Batch{b2}, h.now)
	if h.wakes != before+1 {
		t.Fatalf("Wake called %d times for two pending batches; want 1", h.wakes-before)
	}
	if rs := h.take(h.rq); len(rs) != 2 || rs[0].Code != Part || rs[1].Code != Part {
		t.Fatalf("OpSync replies %v; want two Parts", rs)
	}
}

func TestAckJob(t *testing.T) {
	h := newHarness(t)
	id := h.addJob("q", "b")
	h.getNoHang(1, "q")
	if n := h.ids(IDAck, 0, id); n != 1 {
		t.Fatalf("ACKJOB = %d; want 1", n)
	}
	r := h.do(Op{Kind: OpShow}, id)
	if r.R.Kind != resp.KindBulk || !r.R.IsNull() || string(r.Raw) != "$-1\r\n" {
		t.Fatalf("SHOW after ACKJOB on a lone node = %q; want $-1", r.Raw)
	}
	if n := h.ids(IDAck, 0, id); n != 0 {
		t.Fatalf("second ACKJOB = %d; want 0", n)
	}
	if h.s.Stats.Jobs.Load() != 0 || h.s.Stats.Acked.Load() != 1 {
		t.Fatalf("Jobs %d Acked %d; want 0 1", h.s.Stats.Jobs.Load(), h.s.Stats.Acked.Load())
	}
	// ACK of a queued job takes it out of the queue; several IDs per op,
	// unknown and malformed ones not counted.
	q1, q2 := h.addJob("q", "1"), h.addJob("q", "2")
	unknown := "D-" + testNodeID[:8] + "-AAAAAAAAAAAAAAAAAAAAAAAA-0001"
	bad := "D-zzzzzzzz-!!!!!!!!!!!!!!!!!!!!!!!!-0001"
	if n := h.ids(IDAck, 0, q1, unknown, bad, q2, q1); n != 2 {
		t.Fatalf("ACKJOB q1 unknown bad q2 q1 = %d; want 2", n)
	}
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("QLEN = %d after acking queued jobs", n)
	}
	if f := h.getNoHang(1, "q"); !f.R.IsNull() {
		t.Fatalf("GETJOB returned an acked job: %v", f)
	}
	if h.s.wh.n != 0 || h.s.st.n != 0 || h.s.ar.used != 0 {
		t.Fatalf("after acking everything: wheel %d records %d arena %d; want 0", h.s.wh.n, h.s.st.n, h.s.ar.used)
	}
	// No args: 0.
	if n := h.ids(IDAck, 0); n != 0 {
		t.Fatalf("ACKJOB with no IDs = %d", n)
	}
}

func TestFastAckDelJob(t *testing.T) {
	h := newHarness(t)
	for _, sub := range []uint8{IDFastAck, IDDel} {
		queued := h.addJob("q", "a")
		active := h.addJob("q", "b")
		h.do(getOp(FlagNoHang, 1, 0), "q")              // takes "a"
		h.ids(IDNack, 0, queued)                        // "a" back in the queue
		h.getNoHang(1, "q")                             // "a" again
		h.ids(IDEnqueue, 0, queued)                     // queued again
		if n := h.ids(sub, 0, queued, active); n != 2 { // any state
			t.Fatalf("sub %d = %d; want 2", sub, n)
		}
		if h.show(0, queued) != nil || h.show(0, active) != nil {
			t.Fatalf("sub %d: jobs still exist", sub)
		}
		if n := h.qlen(0, "q"); n != 0 {
			t.Fatalf("sub %d: QLEN = %d", sub, n)
		}
	}
}

func TestNackEnqueueDequeue(t *testing.T) {
	h := newHarness(t)
	id := h.addJob("q", "b")
	counters := func() (int64, int64) {
		m := h.show(0, id)
		return m["nacks"].Int, m["additional-deliveries"].Int
	}
	f := func(sub uint8, want int64, wantState string, wantN, wantAD int64) {
		t.Helper()
		if n := h.ids(sub, 0, id); n != want {
			t.Fatalf("sub %d = %d; want %d", sub, n, want)
		}
		if st := h.state(id); st != wantState {
			t.Fatalf("sub %d: state %s; want %s", sub, st, wantState)
		}
		if n, ad := counters(); n != wantN || ad != wantAD {
			t.Fatalf("sub %d: nacks %d additional-deliveries %d; want %d %d", sub, n, ad, wantN, wantAD)
		}
	}
	f(IDNack, 0, "queued", 0, 0) // only active jobs
	f(IDEnqueue, 0, "queued", 0, 0)
	f(IDDequeue, 1, "active", 0, 0)
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("QLEN after DEQUEUE = %d", n)
	}
	f(IDDequeue, 0, "active", 0, 0)
	f(IDNack, 1, "queued", 1, 0) // a NACK never counts a delivery
	h.getNoHang(1, "q")
	f(IDEnqueue, 1, "queued", 1, 1) // queued before: counts
	h.getNoHang(1, "q")
	f(IDNack, 1, "queued", 2, 1)
	st := h.qstat(0, "q")
	if st[7] != "jobs-in=4" || st[8] != "jobs-out=2" {
		t.Fatalf("QSTAT %v; want jobs-in=4 (add, nack, enqueue, nack) jobs-out=2 (DEQUEUE does not count)", st)
	}
	// ENQUEUE of a job dequeued before its first delivery: it was queued
	// once (at creation), so it counts.
	id2 := h.addJob("q2", "c")
	h.ids(IDDequeue, 0, id2)
	h.ids(IDEnqueue, 0, id2)
	if ad := h.show(0, id2)["additional-deliveries"].Int; ad != 1 {
		t.Fatalf("ENQUEUE after DEQUEUE: additional-deliveries %d; want 1", ad)
	}
	// At-most-once: queued once, never again.
	amo := h.addJobOpts(0, "q3", "amo", 0, 0, 3600)
	h.getNoHang(1, "q3")
	for _, sub := range []uint8{IDNack, IDEnqueue} {
		if n := h.ids(sub, 0, amo); n != 0 {
			t.Fatalf("sub %d on a delivered at-most-once job = %d; want 0", sub, n)
		}
	}
	if st := h.state(amo); st != "active" {
		t.Fatalf("at-most-once job state %s", st)
	}
}

func TestNackGoesBackNearHead(t *testing.T) {
	h := newHarness(t)
	j1 := h.addJob("q", "1")
	h.now += 5
	j2 := h.addJob("q", "2")
	h.now += 5
	j3 := h.addJob("q", "3")
	h.getNoHang(1, "q") // j1
	h.now += 5
	h.addJob("q", "4")
	h.ids(IDNack, 0, j1)
	r := h.do(Op{Kind: OpQPeek, N: [6]int64{3}}, "q")
	got := []string{string(r.R.Elems[0].Elems[1].Str), string(r.R.Elems[1].Elems[1].Str), string(r.R.Elems[2].Elems[1].Str)}
	if !equalStrings(got, []string{j1, j2, j3}) {
		t.Fatalf("QPEEK after NACK = %v; want j1 (original ctime) first", got)
	}
	if f := fetched(t, h.getNoHang(1, "q")); f[0][1] != j1 {
		t.Fatalf("GETJOB after NACK = %v; want j1", f)
	}
}

func TestWorking(t *testing.T) {
	h := newHarness(t)
	id := h.addJobOpts(0, "q", "b", 0, 30, 100)
	r := h.do(Op{Kind: OpWorking}, id)
	if r.Code != OK || r.R.String() != ":30" {
		t.Fatalf("WORKING = %v; want :30", r)
	}
	if st := h.state(id); st != "active" {
		t.Fatalf("WORKING on a queued job: state %s; want active (removed from the queue)", st)
	}
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("QLEN = %d after WORKING", n)
	}
	unknown := "D-" + testNodeID[:8] + "-AAAAAAAAAAAAAAAAAAAAAAAA-0001"
	if r := h.do(Op{Kind: OpWorking}, unknown); r.Code != ErrNoJob {
		t.Fatalf("WORKING unknown = %v; want code ErrNoJob", r)
	}
	// Lifetime 100 s: allowed while elapsed <= 50 s.
	h.now = testT0 + 50_000
	if r := h.do(Op{Kind: OpWorking}, id); r.R.String() != ":30" {
		t.Fatalf("WORKING at exactly half the TTL = %v; want :30", r)
	}
	h.now++
	if r := h.do(Op{Kind: OpWorking}, id); r.Code != ErrTooLate {
		t.Fatalf("WORKING after half the TTL = %v; want code ErrTooLate", r)
	}
	// At-most-once: :0, and a queued one leaves the queue for good.
	amo := h.addJobOpts(0, "q2", "amo", 0, 0, 3600)
	if r := h.do(Op{Kind: OpWorking}, amo); r.R.String() != ":0" {
		t.Fatalf("WORKING at-most-once = %v; want :0", r)
	}
	if n := h.qlen(0, "q2"); n != 0 {
		t.Fatalf("QLEN = %d", n)
	}
	h.advance(3_000_000)
	if st := h.state(amo); st != "active" {
		t.Fatalf("at-most-once job after WORKING: %s; want never queued again", st)
	}
}

func TestWorkingPostponesRequeue(t *testing.T) {
	h := newHarness(t)
	id := h.addJobOpts(0, "q", "b", 0, 10, 3600)
	h.getNoHang(1, "q")
	h.advance(8000)
	if r := h.do(Op{Kind: OpWorking}, id); r.R.String() != ":10" {
		t.Fatalf("WORKING = %v", r)
	}
	// Without WORKING it would be requeued by 10.25 s; now at 18 s +/- 250.
	h.advance(17_749 - 8000)
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("requeued at +17.749 s despite WORKING at +8 s")
	}
	h.advance(18_250 - 17_749)
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatalf("not requeued by +18.25 s (WORKING at +8 s, RETRY 10)")
	}
}

func TestRequeueAfterRetry(t *testing.T) {
	h := newHarness(t)
	id := h.addJobOpts(0, "q", "b", 0, 2, 3600)
	h.advance(100)
	h.getNoHang(1, "q")
	// Queued at t0 with RETRY 2: requeue time t0+2000 +/- 250, not reset by
	// the delivery.
	h.now = testT0 + 1749
	h.step()
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("requeued before t0+1750")
	}
	h.now = testT0 + 2250
	h.step()
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatalf("not requeued by t0+2250 (RETRY 2)")
	}
	if h.s.Stats.Requeued.Load() != 1 {
		t.Fatalf("Stats.Requeued = %d; want 1", h.s.Stats.Requeued.Load())
	}
	r := h.do(getOp(FlagNoHang|FlagWithCounters, 1, 0), "q")
	if got := r.R.Elems[0].Elems[6].Int; got != 1 {
		t.Fatalf("additional-deliveries after a timer requeue = %d; want 1", got)
	}
	// A blocked client is served by the next requeue.
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 0}}, []string{"q"}})
	var served []got
	for k := 0; k < 60 && len(served) == 0; k++ {
		served = h.advance(100)
	}
	if len(served) != 1 || served[0].Sess != w || fetched(t, served[0])[0][1] != id {
		t.Fatalf("blocked client after the next RETRY: %v", served)
	}
	if ad := h.show(0, id)["additional-deliveries"].Int; ad != 2 {
		t.Fatalf("additional-deliveries = %d after two requeues", ad)
	}
	// Left alone, a delivered job keeps coming back every RETRY.
	h.advance(2300)
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatal("not requeued a third time")
	}
}

func TestQueuedJobRollsOver(t *testing.T) {
	h := newHarness(t)
	id := h.addJobOpts(0, "q", "b", 0, 2, 3600)
	// Stays queued for 7 s: nothing happens, the requeue time rolls over.
	h.advance(7000)
	if n := h.qlen(0, "q"); n != 1 {
		t.Fatalf("QLEN = %d", n)
	}
	m := h.show(0, id)
	if nr := m["next-requeue-within"].Int; nr < 0 || nr > 2000 {
		t.Fatalf("next-requeue-within of a job queued for 7 s = %d; want in (0, 2000]", nr)
	}
	if ad := m["additional-deliveries"].Int; ad != 0 {
		t.Fatalf("additional-deliveries = %d for a job that never left the queue", ad)
	}
}

func TestTTLExpiry(t *testing.T) {
	h := newHarness(t)
	queued := h.addJobOpts(0, "q", "a", 0, 100, 5)
	active := h.addJobOpts(0, "q", "b", 0, 1, 5) // requeued every second until it expires
	h.do(Op{Kind: OpIDs, Sub: IDDequeue}, active)
	delayed := h.addJobOpts(0, "q", "c", 4, 1, 5)
	if h.s.Stats.Jobs.Load() != 3 {
		t.Fatal("3 jobs expected")
	}
	h.now = testT0 + 4999
	h.step()
	if h.s.Stats.Jobs.Load() != 3 || h.s.Stats.Expired.Load() != 0 {
		t.Fatalf("at t0+4999: jobs %d expired %d; want 3 0", h.s.Stats.Jobs.Load(), h.s.Stats.Expired.Load())
	}
	if h.qlen(0, "q") == 0 {
		t.Fatal("QLEN 0 before the TTL")
	}
	h.now = testT0 + 5001 // 1 ms cascade tolerance (wheel_test.go)
	h.step()
	if n := h.qlen(0, "q"); n != 0 {
		t.Fatalf("QLEN = %d after the TTL", n)
	}
	for _, id := range []string{queued, active, delayed} {
		if h.show(0, id) != nil {
			t.Fatalf("job %s still exists after its TTL", id)
		}
	}
	if h.s.Stats.Jobs.Load() != 0 || h.s.Stats.Expired.Load() != 3 {
		t.Fatalf("jobs %d expired %d; want 0 3", h.s.Stats.Jobs.Load(), h.s.Stats.Expired.Load())
	}
	if h.s.wh.n != 0 || h.s.ar.used != 0 {
		t.Fatalf("wheel %d arena %d after expiry", h.s.wh.n, h.s.ar.used)
	}
	if h.qlen(0, "q") != 0 || h.getNoHang(1, "q").R.IsNull() == false {
		t.Fatal("expired jobs still deliverable")
	}
}

func TestTTLExpiryAfterLongSleep(t *testing.T) {
	// One Step far in the future: every timer fires in order, a job whose
	// requeue and expiry both passed is expired, not queued.
	h := newHarness(t)
	for k := 0; k < 50; k++ {
		h.addJobOpts(0, "q", "x", 0, 1, int64(2+k%5))
	}
	h.getNoHang(25, "q")
	h.advance(3_600_000)
	if h.s.Stats.Jobs.Load() != 0 || h.s.Stats.Expired.Load() != 50 || h.qlen(0, "q") != 0 {
		t.Fatalf("after an hour: jobs %d expired %d qlen %d", h.s.Stats.Jobs.Load(), h.s.Stats.Expired.Load(), h.qlen(0, "q"))
	}
}

func TestDelay(t *testing.T) {
	h := newHarness(t)
	id := h.addJobOpts(0, "q", "b", 3, 10, 100)
	m := h.show(0, id)
	if st := string(m["state"].Str); st != "active" {
		t.Fatalf("delayed job state %s; want active", st)
	}
	if nr := m["next-requeue-within"].Int; nr != 3000 {
		t.Fatalf("next-requeue-within = %d; want 3000", nr)
	}
	if m["delay"].Int != 3 {
		t.Fatalf("SHOW delay %v", m["delay"])
	}
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, Flags: FlagWithCounters, N: [6]int64{1, 0}}, []string{"q"}})
	h.now = testT0 + 2999
	if rs := h.step(); len(rs) != 0 || h.state(id) != "active" {
		t.Fatalf("delayed job served before its delay: %v", rs)
	}
	h.now = testT0 + 3001
	rs := h.step()
	if len(rs) != 1 || rs[0].Sess != w {
		t.Fatalf("at the end of the delay: %v; want the waiter served", rs)
	}
	if ad := rs[0].R.Elems[0].Elems[6].Int; ad != 0 {
		t.Fatalf("first queueing after DELAY counted additional-deliveries %d; want 0", ad)
	}
	// Without a waiter it is queued.
	id2 := h.addJobOpts(0, "q2", "b", 1, 10, 100)
	if h.qlen(0, "q2") != 0 {
		t.Fatal("delayed job queued at once")
	}
	h.advance(1001)
	if h.qlen(0, "q2") != 1 || h.state(id2) != "queued" {
		t.Fatal("delayed job not queued after its delay")
	}
}

func TestPauseIn(t *testing.T) {
	h := newHarness(t)
	if got := h.pause("q", true, pauseIn); got != "in" {
		t.Fatalf("PAUSE q in = %s", got)
	}
	r := h.do(Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, "q", "b")
	if r.Code != ErrPaused {
		t.Fatalf("ADDJOB on a queue paused in = %v; want code ErrPaused", r)
	}
	if h.s.Stats.Jobs.Load() != 0 {
		t.Fatal("a refused ADDJOB created a job")
	}
	if st := h.qstat(0, "q"); st[9] != "pause=in" {
		t.Fatalf("QSTAT %v", st)
	}
	if got := h.pause("q", true, 0); got != "none" {
		t.Fatalf("PAUSE q none = %s", got)
	}
	id := h.addJobOpts(0, "q", "b", 0, 1, 3600)
	h.getNoHang(1, "q")
	// Paused in: the timer requeue is postponed, not done.
	h.pause("q", true, pauseIn)
	h.advance(1300)
	if h.qlen(0, "q") != 0 || h.state(id) != "active" {
		t.Fatal("timer requeued a job into a queue paused in input")
	}
	if ad := h.show(0, id)["additional-deliveries"].Int; ad != 0 {
		t.Fatalf("a postponed requeue counted a delivery (%d)", ad)
	}
	// NACK is not blocked by the input pause.
	if n := h.ids(IDNack, 0, id); n != 1 {
		t.Fatalf("NACK on a queue paused in = %d; want 1", n)
	}
	h.getNoHang(1, "q")
	h.pause("q", true, 0)
	h.advance(1300)
	if h.qlen(0, "q") != 1 {
		t.Fatal("not requeued after the pause was cleared")
	}
	// A delayed at-most-once job is queued at the end of its delay anyway.
	amo := h.addJobOpts(0, "amo", "x", 1, 0, 3600)
	h.pause("amo", true, pauseIn)
	h.advance(1001)
	if h.state(amo) != "queued" {
		t.Fatalf("delayed at-most-once job on a queue paused in: %s; want queued", h.state(amo))
	}
}

func TestPauseOut(t *testing.T) {
	h := newHarness(t)
	h.addJob("q", "b")
	if got := h.pause("q", true, pauseOut); got != "out" {
		t.Fatalf("PAUSE q out = %s", got)
	}
	if r := h.getNoHang(1, "q"); !r.R.IsNull() {
		t.Fatalf("GETJOB NOHANG on a queue paused out = %v; want *-1", r)
	}
	if h.qlen(0, "q") != 1 {
		t.Fatal("QLEN must report the real length of a paused queue")
	}
	if r := h.do(Op{Kind: OpQPeek, N: [6]int64{1}}, "q"); len(r.R.Elems) != 1 {
		t.Fatal("QPEEK must work on a paused queue")
	}
	w := &token{"w"}
	if rs := h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 0}}, []string{"q"}}); len(rs) != 0 {
		t.Fatalf("GETJOB on a queue paused out did not block: %v", rs)
	}
	h.addJob("q", "c")
	if h.qlen(0, "q") != 2 {
		t.Fatal("a new job was given to a client blocked on a queue paused out")
	}
	// PAUSE q in: the state is replaced (built from scratch by the engine),
	// so the output pause is cleared and the waiter served.
	rs := h.step(call{Op{Kind: OpPause, Flags: FlagSetPause, N: [6]int64{pauseIn}}, []string{"q"}})
	if len(rs) != 2 {
		t.Fatalf("clearing the output pause: %v; want +in and the waiter served", rs)
	}
	if rs[0].Sess == w { // the order across sessions is free
		rs[0], rs[1] = rs[1], rs[0]
	}
	if rs[0].R.String() != "+in" || rs[1].Sess != w {
		t.Fatalf("clearing the output pause: %v; want +in and the waiter served", rs)
	}
	if f := fetched(t, rs[1]); f[0][2] != "b" {
		t.Fatalf("waiter got %v; want the oldest job", f)
	}
}

func TestPauseStates(t *testing.T) {
	h := newHarness(t)
	if got := h.pause("nope", true, 0); got != "none" {
		t.Fatalf("PAUSE nope none = %s", got)
	}
	if h.qstat(0, "nope") != nil || h.s.Stats.Queues.Load() != 0 {
		t.Fatal("PAUSE none created a queue")
	}
	if got := h.pause("nope", false, 0); got != "none" {
		t.Fatalf("PAUSE nope state = %s", got)
	}
	if got := h.pause("q", true, pauseIn|pauseOut); got != "all" {
		t.Fatalf("PAUSE q all = %s", got)
	}
	if h.qstat(0, "q") == nil {
		t.Fatal("PAUSE all did not create the queue")
	}
	if got := h.pause("q", false, 0); got != "all" {
		t.Fatalf("PAUSE q state (no change) = %s", got)
	}
	if got := h.pause("q", true, pauseOut); got != "out" {
		t.Fatalf("PAUSE q out = %s", got)
	}
	// A paused queue is never evicted; an unpaused idle empty one is.
	h.getNoHang(1, "idle")
	h.advance(300_000)
	h.advance(200)
	if h.qstat(0, "idle") != nil {
		t.Fatal("empty idle queue not evicted after 300 s")
	}
	if h.qstat(0, "q") == nil {
		t.Fatal("paused queue evicted")
	}
}

func TestQueueEviction(t *testing.T) {
	h := newHarness(t)
	h.getNoHang(1, "empty")
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 0}}, []string{"blocked"}})
	id := h.addJob("withjob", "b")
	h.addJob("delivered", "b")
	h.getNoHang(1, "delivered") // refs > 0
	h.advance(299_000)
	if h.qstat(0, "empty") == nil {
		t.Fatal("queue evicted before 300 s of idleness")
	}
	h.advance(1_200)
	if h.qstat(0, "empty") != nil {
		t.Fatal("empty idle queue not evicted")
	}
	for _, q := range []string{"blocked", "withjob", "delivered"} {
		if h.qstat(0, q) == nil {
			t.Fatalf("queue %s evicted", q)
		}
	}
	if h.state(id) != "queued" {
		t.Fatal("job lost")
	}
	// The evicted queue's slot is reused by the next new queue.
	nq := len(h.s.qbyID)
	h.addJob("fresh", "b")
	if len(h.s.qbyID) != nq {
		t.Fatalf("queue table grew from %d to %d; want the evicted slot reused", nq, len(h.s.qbyID))
	}
	if h.qlen(0, "fresh") != 1 || h.qstat(0, "empty") != nil {
		t.Fatal("reused queue slot mixes queues")
	}
	qs := scanPart(t, h.do(Op{Kind: OpQScan, Flags: FlagBusyLoop, N: [6]int64{0, 100, 0, -1}}))
	var names []string
	for _, q := range qs {
		names = append(names, string(q.Str))
	}
	if want := []string{"blocked", "delivered", "fresh", "withjob"}; !equalStrings(sorted(names), want) {
		t.Fatalf("QSCAN after eviction and reuse = %v; want %v", sorted(names), want)
	}
}

func TestQPeek(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for k := 0; k < 5; k++ {
		ids = append(ids, h.addJob("q", "b"+strconv.Itoa(k)))
		h.now++
	}
	peek := func(n int64) []string {
		t.Helper()
		r := h.do(Op{Kind: OpQPeek, N: [6]int64{n}}, "q")
		var out []string
		for _, e := range r.R.Elems {
			if len(e.Elems) != 3 || string(e.Elems[0].Str) != "q" {
				t.Fatalf("QPEEK item %v; want *3 [q id body]", e)
			}
			out = append(out, string(e.Elems[1].Str))
		}
		return out
	}
	f := func(n int64, want ...string) {
		t.Helper()
		if got := peek(n); !equalStrings(got, want) {
			t.Fatalf("QPEEK q %d = %v; want %v", n, got, want)
		}
	}
	f(2, ids[0], ids[1])
	f(-2, ids[4], ids[3])
	f(10, ids...)
	f(-10, ids[4], ids[3], ids[2], ids[1], ids[0])
	f(0)
	f(math.MinInt64, ids[4], ids[3], ids[2], ids[1], ids[0])
	f(math.MaxInt64, ids...)
	if r := h.do(Op{Kind: OpQPeek, N: [6]int64{3}}, "missing"); string(r.Raw) != "*0\r\n" {
		t.Fatalf("QPEEK of a missing queue = %q; want *0", r.Raw)
	}
	if r := h.do(Op{Kind: OpQPeek, N: [6]int64{0}}, "q"); string(r.Raw) != "*0\r\n" {
		t.Fatalf("QPEEK count 0 = %q; want *0", r.Raw)
	}
	for _, id := range ids {
		if h.state(id) != "queued" {
			t.Fatal("QPEEK changed a job's state")
		}
	}
	// Middle removals and a requeue.
	h.ids(IDDequeue, 0, ids[2])
	h.getNoHang(1, "q") // ids[0]
	h.ids(IDNack, 0, ids[0])
	f(10, ids[0], ids[1], ids[3], ids[4])
	f(-3, ids[4], ids[3], ids[1])
	h.ids(IDEnqueue, 0, ids[2])
	f(-10, ids[4], ids[3], ids[2], ids[1], ids[0])
}

func TestQStat(t *testing.T) {
	h := newHarness(t)
	if st := h.qstat(0, "q"); st != nil {
		t.Fatalf("QSTAT of a missing queue = %v; want *-1", st)
	}
	r := h.do(Op{Kind: OpQStat}, "missing")
	if string(r.Raw) != "*-1\r\n" {
		t.Fatalf("QSTAT missing raw %q; want *-1", r.Raw)
	}
	h.addJob("q", "a")
	h.addJob("q", "b")
	h.advance(3000)
	h.getNoHang(2, "q") // last activity at +3 s
	h.advance(2500)
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 0}}, []string{"q", "other"}})
	h.advance(1000)
	want := []string{"name=q", "len=0", "age=6", "idle=3", "blocked=1", "import-from=[]", "import-rate=0", "jobs-in=2", "jobs-out=2", "pause=none"}
	if got := h.qstat(0, "q"); !equalStrings(got, want) {
		t.Fatalf("QSTAT = %v; want %v", got, want)
	}
}

func TestOpFlushEmptiesEverything(t *testing.T) {
	h := newHarness(t)
	for k := 0; k < 20; k++ {
		h.addJobOpts(uint16(k%2), "q"+strconv.Itoa(k%3), "body", int64(k%2), 5, 60)
	}
	h.getNoHang(3, "q0")
	h.pause("paused", true, pauseIn)
	rs := h.step(call{Op{Kind: OpFlush, Tag: 7}, nil})
	if len(rs) != 1 || rs[0].Code != Part || rs[0].Tag != 7 {
		t.Fatalf("OpFlush reply %v; want one Part with the op's Tag", rs)
	}
	if h.s.Stats.Jobs.Load() != 0 || h.s.Stats.Queues.Load() != 0 || h.s.Stats.Blocked.Load() != 0 {
		t.Fatalf("after flush: jobs %d queues %d blocked %d", h.s.Stats.Jobs.Load(), h.s.Stats.Queues.Load(), h.s.Stats.Blocked.Load())
	}
	if h.s.wh.n != 0 || h.s.ar.used != 0 || h.s.st.n != 0 || len(h.s.queues) != 0 {
		t.Fatalf("after flush: wheel %d arena %d store %d queues %d", h.s.wh.n, h.s.ar.used, h.s.st.n, len(h.s.queues))
	}
	if h.qlen(0, "q0") != 0 || h.qstat(0, "paused") != nil {
		t.Fatal("queues survived the flush")
	}
	if rs := h.advance(120_000); len(rs) != 0 {
		t.Fatalf("timers fired after the flush: %v", rs)
	}
	// The shard works normally afterwards.
	id := h.addJob("q0", "again")
	if f := fetched(t, h.getNoHang(1, "q0")); f[0][1] != id {
		t.Fatal("shard unusable after flush")
	}
}

// TestOpFlushAnswersBlockedClients: commands.md 2.2, "DEBUG FLUSHALL ->
// blocked clients get *nil".
func TestOpFlushAnswersBlockedClients(t *testing.T) {
	h := newHarness(t)
	a, b := &token{"a"}, &token{"b"}
	h.step(
		call{Op{Kind: OpGetJob, Sess: a, N: [6]int64{1, 0}}, []string{"q"}},
		call{Op{Kind: OpGetJob, Sess: b, N: [6]int64{1, 5000}}, []string{"q", "r"}},
	)
	rs := h.step(call{Op{Kind: OpFlush}, nil})
	answered := map[any]bool{}
	for _, r := range rs {
		if r.Sess == a || r.Sess == b {
			if r.Code != OK || r.R.Kind != resp.KindArray || !r.R.IsNull() {
				t.Errorf("blocked client %v got %v; want *-1", r.Sess, r)
			}
			answered[r.Sess] = true
		}
	}
	if !answered[a] || !answered[b] {
		t.Errorf("OpFlush with two blocked clients: replies %v; want *-1 to both (a answered %v, b answered %v)", rs, answered[a], answered[b])
	}
	if h.s.Stats.Blocked.Load() != 0 {
		t.Fatal("clients still counted as blocked after the flush")
	}
	if rs := h.advance(6000); len(rs) != 0 {
		t.Fatalf("the timeout of a flushed waiter fired: %v", rs)
	}
}

func TestTenantIsolation(t *testing.T) {
	h := newHarness(t)
	id := h.addJobOpts(1, "q", "secret", 0, 30, 3600)
	own := h.addJobOpts(0, "mine", "b", 0, 30, 3600)
	if h.show(0, id) != nil {
		t.Fatal("tenant 0 sees tenant 1's job in SHOW")
	}
	if h.show(1, id) == nil {
		t.Fatal("tenant 1 does not see its own job")
	}
	for _, sub := range []uint8{IDAck, IDFastAck, IDNack, IDEnqueue, IDDequeue, IDDel} {
		if n := h.ids(sub, 0, id); n != 0 {
			t.Fatalf("tenant 0 sub %d on tenant 1's job = %d; want 0", sub, n)
		}
	}
	if r := h.do(Op{Kind: OpWorking, Tenant: 0}, id); r.Code != ErrNoJob {
		t.Fatalf("WORKING across tenants = %v; want ErrNoJob", r)
	}
	if h.qlen(0, "q") != 0 || h.qlen(1, "q") != 1 {
		t.Fatal("QLEN not per tenant")
	}
	if r := h.getNoHang(1, "q"); !r.R.IsNull() {
		t.Fatalf("tenant 0 GETJOB got tenant 1's job: %v", r)
	}
	if r := h.do(Op{Kind: OpQPeek, N: [6]int64{5}}, "q"); string(r.Raw) != "*0\r\n" {
		t.Fatalf("tenant 0 QPEEK = %q", r.Raw)
	}
	// A tenant-0 client blocked on "q" is not served by tenant 1's jobs.
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 0}}, []string{"q"}})
	if rs := h.step(call{Op{Kind: OpAddJob, Tenant: 1, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", "t1"}}); len(rs) != 1 {
		t.Fatalf("tenant 1 ADDJOB served a tenant 0 client: %v", rs)
	}
	// Scans only return the caller's objects.
	js := scanPart(t, h.do(Op{Kind: OpJScan, Tenant: 0, Flags: FlagBusyLoop, N: [6]int64{0, 100}}))
	if len(js) != 1 || string(js[0].Str) != own {
		t.Fatalf("tenant 0 JSCAN = %v; want only its own job", js)
	}
	qs := scanPart(t, h.do(Op{Kind: OpQScan, Tenant: 1, Flags: FlagBusyLoop, N: [6]int64{0, 100, 0, -1}}))
	if len(qs) != 1 || string(qs[0].Str) != "q" {
		t.Fatalf("tenant 1 QSCAN = %v; want [q]", qs)
	}
	if n := h.ids(IDAck, 1, id); n != 1 {
		t.Fatal("tenant 1 cannot ack its own job")
	}
}

func TestMaxLen(t *testing.T) {
	h := newHarness(t)
	add := func(maxlen int64) got {
		return h.do(Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600, maxlen}}, "q", "b")
	}
	if r := add(1); r.Code != OK {
		t.Fatalf("MAXLEN 1 on a missing queue = %v", r)
	}
	if r := add(1); r.Code != ErrMaxLen {
		t.Fatalf("MAXLEN 1 with 1 queued = %v; want ErrMaxLen", r)
	}
	if r := add(2); r.Code != OK {
		t.Fatalf("MAXLEN 2 with 1 queued = %v", r)
	}
	h.getNoHang(2, "q") // active jobs do not count
	if r := add(1); r.Code != OK {
		t.Fatalf("MAXLEN 1 with only active jobs = %v", r)
	}
	// MAXLEN is checked before PAUSED.
	h.pause("q", true, pauseIn)
	if r := add(1); r.Code != ErrMaxLen {
		t.Fatalf("MAXLEN and PAUSED: %v; want ErrMaxLen first", r)
	}
	if r := add(5); r.Code != ErrPaused {
		t.Fatalf("paused queue below MAXLEN: %v; want ErrPaused", r)
	}
}

func TestCountsPopN(t *testing.T) {
	h := newHarness(t)
	a1, a2 := h.addJob("a", "a1"), h.addJob("a", "a2")
	h.addJob("b", "b1")
	h.addJob("p", "p1")
	h.pause("p", true, pauseOut)
	r := h.do(Op{Kind: OpCounts, Tag: 4}, "a", "b", "c", "p")
	if r.Code != Part || r.Tag != 4 || len(r.Raw) != 16 {
		t.Fatalf("OpCounts = %v raw %q; want a Part of 4 uint32 with Tag 4", r, r.Raw)
	}
	var counts []uint32
	for k := 0; k < 4; k++ {
		counts = append(counts, binary.LittleEndian.Uint32(r.Raw[4*k:]))
	}
	if counts[0] != 2 || counts[1] != 1 || counts[2] != 0 || counts[3] != 0 {
		t.Fatalf("counts = %v; want [2 1 0 0] (paused out counts 0)", counts)
	}
	if h.qstat(0, "c") == nil {
		t.Fatal("OpCounts did not create the missing queue")
	}
	r = h.do(Op{Kind: OpPopN, Tag: 9, Flags: FlagWithCounters, N: [6]int64{5, 0, 1}}, "a", "b", "p")
	if r.Code != Part || r.Tag != 9 {
		t.Fatalf("OpPopN = %v", r)
	}
	type item struct {
		pos int
		r   resp.Reply
	}
	var items []item
	data := r.Raw
	for len(data) > 0 {
		if len(data) < 8 {
			t.Fatalf("OpPopN trailing bytes %q", data)
		}
		pos := int(binary.LittleEndian.Uint32(data))
		l := int(binary.LittleEndian.Uint32(data[4:]))
		rr, n, err := resp.ReadReply(data[8 : 8+l])
		if err != nil || n != l {
			t.Fatalf("OpPopN item of %d bytes: parsed %d, %v", l, n, err)
		}
		items = append(items, item{pos, rr})
		data = data[8+l:]
	}
	if len(items) != 2 || items[0].pos != 0 || items[1].pos != 0 {
		t.Fatalf("OpPopN items %v; want two from position 0 (b asked 0, p paused)", items)
	}
	if string(items[0].r.Elems[1].Str) != a1 || string(items[1].r.Elems[1].Str) != a2 || len(items[0].r.Elems) != 7 {
		t.Fatalf("OpPopN items %v; want a1, a2 with counters", items)
	}
	if h.qlen(0, "a") != 0 || h.state(a1) != "active" {
		t.Fatal("popped jobs not delivered")
	}
	if st := h.qstat(0, "a"); st[8] != "jobs-out=2" {
		t.Fatalf("QSTAT %v", st)
	}
}

func TestArmedGetJob(t *testing.T) {
	h := newHarness(t)
	armed := func(sess *token, c *Claim, flags uint16, timeout int64, queues ...string) []got {
		return h.step(call{Op{Kind: OpGetJob, Sess: sess, Claim: c, Flags: FlagArm | flags, N: [6]int64{1, timeout}}, queues})
	}
	// Jobs available, claim open: served, claim taken.
	id := h.addJob("b", "b1")
	c := new(Claim)
	rs := armed(h.me, c, 0, 0, "a", "b")
	if len(rs) != 1 || fetched(t, rs[0])[0][1] != id || c.Open() {
		t.Fatalf("armed GETJOB with a job: %v (claim open %v)", rs, c.Open())
	}
	// Claim already taken elsewhere: nothing, the job stays.
	h.addJob("b", "b2")
	c = new(Claim)
	c.Take()
	if rs := armed(h.me, c, 0, 0, "b"); len(rs) != 0 {
		t.Fatalf("armed GETJOB with a taken claim replied %v", rs)
	}
	if h.qlen(0, "b") != 1 {
		t.Fatal("armed GETJOB with a taken claim consumed a job")
	}
	h.getNoHang(1, "b")
	// NOHANG and nothing here: a Part.
	c = new(Claim)
	if rs := armed(h.me, c, FlagNoHang, 0, "empty"); len(rs) != 1 || rs[0].Code != Part {
		t.Fatalf("armed NOHANG on empty queues = %v; want a Part", rs)
	}
	// Blocked with a shared claim that another shard takes: the waiter is
	// dropped without a reply and the job stays queued.
	w := &token{"w"}
	c = new(Claim)
	if rs := armed(w, c, 0, 0, "x"); len(rs) != 0 {
		t.Fatalf("armed GETJOB on empty queues replied %v", rs)
	}
	if h.s.Stats.Blocked.Load() != 1 {
		t.Fatal("armed waiter not blocked")
	}
	if !c.Take() {
		t.Fatal("claim taken by the shard without a job")
	}
	rs = h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"x", "x1"}})
	if len(rs) != 1 || rs[0].Sess != h.me {
		t.Fatalf("job for a waiter whose claim was taken: %v; want only the ADDJOB reply", rs)
	}
	if h.qlen(0, "x") != 1 || h.s.Stats.Blocked.Load() != 0 {
		t.Fatalf("QLEN %d blocked %d; want 1 0", h.qlen(0, "x"), h.s.Stats.Blocked.Load())
	}
	h.getNoHang(1, "x")
	// Blocked with an open claim: served by a later job, claim taken.
	c = new(Claim)
	armed(w, c, 0, 0, "y")
	rs = h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"y", "y1"}})
	if len(rs) != 2 || rs[1].Sess != w || c.Open() {
		t.Fatalf("armed waiter with an open claim: %v", rs)
	}
	// Timeout: *-1 if the claim is open, nothing if it was taken.
	c1, c2 := new(Claim), new(Claim)
	w1, w2 := &token{"w1"}, &token{"w2"}
	armed(w1, c1, 0, 100, "z")
	armed(w2, c2, 0, 100, "z")
	c2.Take()
	rs = h.advance(101) // the deadline is rounded up by 1 ms
	if len(rs) != 1 || rs[0].Sess != w1 || !rs[0].R.IsNull() {
		t.Fatalf("armed timeouts: %v; want *-1 to w1 only", rs)
	}
	if c1.Open() {
		t.Fatal("timeout answered without taking the claim")
	}
	// Leaving: ErrLeaving instead of blocking (if the claim is open).
	c = new(Claim)
	rs = armed(w, c, FlagLeaving, 0, "z")
	if len(rs) != 1 || rs[0].Code != ErrLeaving {
		t.Fatalf("GETJOB while leaving = %v; want ErrLeaving", rs)
	}
	if h.s.Stats.Blocked.Load() != 0 {
		t.Fatal("a leaving node blocked a client")
	}
}

// TestCancelledClaim: the engine cancels the claim of a client that went
// away; the shard must neither hand it jobs nor keep it blocked.
func TestCancelledClaim(t *testing.T) {
	h := newHarness(t)
	h.addJob("q", "b")
	c := new(Claim)
	if !c.Cancel() {
		t.Fatal("Cancel of a fresh claim failed")
	}
	if rs := h.step(call{Op{Kind: OpGetJob, Claim: c, N: [6]int64{1, 0}}, []string{"q"}}); len(rs) != 0 {
		t.Fatalf("GETJOB with a cancelled claim replied %v", rs)
	}
	if h.qlen(0, "q") != 1 {
		t.Fatal("a cancelled client was handed a job")
	}
	// Blocked, then cancelled: dropped when a job arrives, job stays.
	w := &token{"w"}
	c = new(Claim)
	h.step(call{Op{Kind: OpGetJob, Sess: w, Claim: c, N: [6]int64{1, 0}}, []string{"empty"}})
	c.Cancel()
	if rs := h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"empty", "x"}}); len(rs) != 1 {
		t.Fatalf("job for a cancelled waiter: %v; want only the ADDJOB reply", rs)
	}
	if h.qlen(0, "empty") != 1 || h.s.Stats.Blocked.Load() != 0 {
		t.Fatal("cancelled waiter consumed a job or stayed blocked")
	}
	if c.Take() {
		t.Fatal("a cancelled claim could be taken")
	}
}

func TestQScan(t *testing.T) {
	h := newHarness(t)
	want := map[string]int{}
	for k := 0; k < 23; k++ {
		name := "q" + strconv.Itoa(k)
		for n := 0; n < k%5; n++ {
			h.addJob(name, "b")
		}
		if k%5 == 0 {
			h.getNoHang(1, name) // an empty queue
		}
		want[name] = k % 5
	}
	h.addJobOpts(3, "other-tenant", "b", 0, 30, 3600)
	scan := func(count, minlen, maxlen, rate int64, flags uint16) []string {
		t.Helper()
		var names []string
		pos := int64(0)
		for calls := 0; ; calls++ {
			r := h.do(Op{Kind: OpQScan, Flags: flags, N: [6]int64{pos, count, minlen, maxlen, rate}})
			items := scanPart(t, r)
			if flags&FlagBusyLoop == 0 && int64(len(items)) > count {
				t.Fatalf("QSCAN COUNT %d returned %d items", count, len(items))
			}
			for _, it := range items {
				names = append(names, string(it.Str))
			}
			if r.N == 0 {
				break
			}
			if r.N <= pos {
				t.Fatalf("QSCAN cursor went from %d to %d", pos, r.N)
			}
			pos = r.N
			if calls > 100 {
				t.Fatal("QSCAN never finished")
			}
		}
		return sorted(names)
	}
	filter := func(f func(n int) bool) []string {
		var out []string
		for name, n := range want {
			if f(n) {
				out = append(out, name)
			}
		}
		return sorted(out)
	}
	all := filter(func(int) bool { return true })
	if got := scan(3, 0, -1, 0, 0); !equalStrings(got, all) {
		t.Fatalf("QSCAN COUNT 3 = %v; want %v", got, all)
	}
	if got := scan(100, 0, -1, 0, FlagBusyLoop); !equalStrings(got, all) {
		t.Fatalf("QSCAN BUSYLOOP = %v", got)
	}
	if r := h.do(Op{Kind: OpQScan, Flags: FlagBusyLoop, N: [6]int64{0, 1, 0, -1}}); r.N != 0 {
		t.Fatalf("BUSYLOOP returned cursor %d; want 0", r.N)
	}
	if got, w := scan(2, 2, 3, 0, 0), filter(func(n int) bool { return n >= 2 && n <= 3 }); !equalStrings(got, w) {
		t.Fatalf("QSCAN MINLEN 2 MAXLEN 3 = %v; want %v", got, w)
	}
	if got, w := scan(4, 1, -1, 0, 0), filter(func(n int) bool { return n >= 1 }); !equalStrings(got, w) {
		t.Fatalf("QSCAN MINLEN 1 = %v; want %v", got, w)
	}
	if got, w := scan(4, 0, 0, 0, 0), filter(func(n int) bool { return n == 0 }); !equalStrings(got, w) {
		t.Fatalf("QSCAN MAXLEN 0 = %v; want %v", got, w)
	}
	if got := scan(5, 0, -1, 1, 0); len(got) != 0 {
		t.Fatalf("QSCAN IMPORTRATE 1 = %v; want none on a lone node", got)
	}
}

func TestJScan(t *testing.T) {
	h := newHarness(t)
	states := map[string]string{}
	queueOf := map[string]string{}
	for k := 0; k < 30; k++ {
		q := "q" + strconv.Itoa(k%3)
		id := h.addJob(q, "b")
		queueOf[id] = q
		states[id] = "queued"
	}
	for _, r := range []string{"q0", "q1"} {
		for _, f := range fetched(t, h.getNoHang(4, r)) {
			states[f[1]] = "active"
		}
	}
	// Free some records in the middle: the scan skips holes.
	n := 0
	for id, st := range states {
		if st == "queued" && n < 5 {
			h.ids(IDDel, 0, id)
			delete(states, id)
			n++
		}
	}
	scan := func(count int64, mask int64, flags uint16, queue string) []resp.Reply {
		t.Helper()
		var items []resp.Reply
		pos := int64(0)
		for calls := 0; ; calls++ {
			o := Op{Kind: OpJScan, Flags: flags, N: [6]int64{pos, count, mask}}
			var r got
			if queue != "" {
				o.Flags |= FlagQueueFilter
				r = h.do(o, queue)
			} else {
				r = h.do(o)
			}
			items = append(items, scanPart(t, r)...)
			if r.N == 0 {
				break
			}
			if r.N <= pos {
				t.Fatalf("JSCAN cursor went from %d to %d", pos, r.N)
			}
			pos = r.N
			if calls > 200 {
				t.Fatal("JSCAN never finished")
			}
		}
		return items
	}
	ids := func(items []resp.Reply) []string {
		var out []string
		for _, it := range items {
			if it.Kind != resp.KindSimple {
				t.Fatalf("JSCAN REPLY id item %v; want a simple string", it)
			}
			out = append(out, string(it.Str))
		}
		return sorted(out)
	}
	filter := func(f func(id string) bool) []string {
		var out []string
		for id := range states {
			if f(id) {
				out = append(out, id)
			}
		}
		return sorted(out)
	}
	all := filter(func(string) bool { return true })
	if got := ids(scan(4, 0, 0, "")); !equalStrings(got, all) {
		t.Fatalf("JSCAN COUNT 4 = %d ids; want %d", len(got), len(all))
	}
	queuedMask := int64(1) << job.Queued
	activeMask := int64(1) << job.Active
	if got, w := ids(scan(3, queuedMask, 0, "")), filter(func(id string) bool { return states[id] == "queued" }); !equalStrings(got, w) {
		t.Fatalf("JSCAN STATE queued = %v; want %v", got, w)
	}
	if got, w := ids(scan(3, activeMask, 0, "")), filter(func(id string) bool { return states[id] == "active" }); !equalStrings(got, w) {
		t.Fatalf("JSCAN STATE active = %v; want %v", got, w)
	}
	if got := ids(scan(3, queuedMask|activeMask, 0, "")); !equalStrings(got, all) {
		t.Fatalf("JSCAN STATE queued STATE active = %d ids; want all %d", len(got), len(all))
	}
	if got := ids(scan(5, int64(1)<<job.Acked, 0, "")); len(got) != 0 {
		t.Fatalf("JSCAN STATE acked = %v", got)
	}
	if got, w := ids(scan(2, 0, 0, "q1")), filter(func(id string) bool { return queueOf[id] == "q1" }); !equalStrings(got, w) {
		t.Fatalf("JSCAN QUEUE q1 = %v; want %v", got, w)
	}
	if got, w := ids(scan(2, activeMask, 0, "q2")), filter(func(id string) bool { return queueOf[id] == "q2" && states[id] == "active" }); !equalStrings(got, w) || len(w) != 0 {
		t.Fatalf("JSCAN QUEUE q2 STATE active = %v; want %v", got, w)
	}
	if got := scan(10, 0, 0, "nosuchqueue"); len(got) != 0 {
		t.Fatalf("JSCAN QUEUE of a missing queue = %v", got)
	}
	// REPLY all: SHOW arrays.
	items := scan(7, 0, FlagReplyAll, "q0")
	var got []string
	for _, it := range items {
		m := showMap(t, it)
		id := string(m["id"].Str)
		if string(m["state"].Str) != states[id] || string(m["queue"].Str) != "q0" {
			t.Fatalf("JSCAN REPLY all item for %s: state %s queue %s", id, m["state"].Str, m["queue"].Str)
		}
		got = append(got, id)
	}
	if w := filter(func(id string) bool { return queueOf[id] == "q0" }); !equalStrings(sorted(got), w) {
		t.Fatalf("JSCAN REPLY all QUEUE q0 = %v; want %v", got, w)
	}
	// BUSYLOOP: everything in one call.
	r := h.do(Op{Kind: OpJScan, Flags: FlagBusyLoop, N: [6]int64{0, 1}})
	if r.N != 0 || len(scanPart(t, r)) != len(all) {
		t.Fatalf("JSCAN BUSYLOOP: cursor %d, %d items; want 0, %d", r.N, len(scanPart(t, r)), len(all))
	}
}

// TestScanCountZero: commands.md 2.11, "A COUNT <= 0 makes a single step":
// every call must advance the cursor, or a client following the cursors
// loops forever. The engine passes COUNT through unchanged.
func TestScanCountZero(t *testing.T) {
	h := newHarness(t)
	for k := 0; k < 4; k++ {
		h.addJob("q"+strconv.Itoa(k), "b")
	}
	for _, kind := range []Kind{OpQScan, OpJScan} {
		for _, count := range []int64{0, -3} {
			pos, seen := int64(0), 0
			for calls := 0; ; calls++ {
				r := h.do(Op{Kind: kind, N: [6]int64{pos, count, 0, -1}})
				seen += len(scanPart(t, r))
				if r.N == 0 {
					break
				}
				if r.N <= pos || calls > 20 {
					t.Fatalf("kind %d COUNT %d: cursor %d -> %d after %d calls; want a step per call (upstream: do-while)", kind, count, pos, r.N, calls+1)
				}
				pos = r.N
			}
			if seen != 4 {
				t.Fatalf("kind %d COUNT %d: %d items over the iteration; want 4", kind, count, seen)
			}
		}
	}
}

func TestStatsPublished(t *testing.T) {
	h := newHarness(t)
	st := &h.s.Stats
	check := func(jobs, queues, blocked int64) {
		t.Helper()
		if st.Jobs.Load() != jobs || st.Queues.Load() != queues || st.Blocked.Load() != blocked {
			t.Fatalf("Stats jobs %d queues %d blocked %d; want %d %d %d",
				st.Jobs.Load(), st.Queues.Load(), st.Blocked.Load(), jobs, queues, blocked)
		}
	}
	check(0, 0, 0)
	mem0 := st.Memory.Load()
	id := h.addJob("a", "0123456789")
	h.addJob("b", "x")
	check(2, 2, 0)
	if st.Memory.Load() <= mem0 {
		t.Fatalf("Memory %d did not grow from %d", st.Memory.Load(), mem0)
	}
	w := &token{"w"}
	h.step(call{Op{Kind: OpGetJob, Sess: w, N: [6]int64{1, 0}}, []string{"c", "d"}})
	check(2, 4, 1)
	h.ids(IDAck, 0, id)
	check(1, 4, 1)
	h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"c", "y"}}) // serves w
	check(2, 4, 0)
	if st.Created.Load() != 3 || st.Acked.Load() != 1 {
		t.Fatalf("Created %d Acked %d", st.Created.Load(), st.Acked.Load())
	}
}

// TestRunPush runs the shard goroutine for real: Push from another
// goroutine, replies through Wake, timers driven by the wall clock.
func TestRunPush(t *testing.T) {
	s := New(Config{Index: 0, Shards: 1, NodeID: testNodeID})
	woken := make(chan struct{}, 16)
	rq := &ReplyQueue{Wake: func() { woken <- struct{}{} }}
	go s.Run()
	defer s.Stop()
	wait := func() []Reply {
		t.Helper()
		var items []Reply
		select {
		case <-woken:
		case <-time.After(5 * time.Second):
			t.Fatal("no reply within 5 s")
		}
		for _, b := range rq.Take(nil) {
			items = append(items, b.Items...)
		}
		return items
	}
	me := &token{"me"}
	b := GetBatch()
	o := Op{Kind: OpGetJob, Sess: me, RQ: rq, Seq: 1, N: [6]int64{1, 30}}
	o.A = b.NumArgs()
	b.Arg([]byte("q"))
	o.B = b.NumArgs()
	b.Ops = append(b.Ops, o)
	s.Push(b)
	items := wait() // the 30 ms timeout, fired by Run's timer
	if len(items) != 1 || items[0].Seq != 1 {
		t.Fatalf("timeout reply %v", items)
	}
	b = GetBatch()
	b.Ops = append(b.Ops, Op{Kind: OpSync, Sess: me, RQ: rq, Seq: 2})
	s.Push(b)
	if items := wait(); len(items) != 1 || items[0].Seq != 2 || items[0].Code != Part {
		t.Fatalf("OpSync reply %v", items)
	}
}

// TestGetJobOrderAfterAckOfRequeuedJob: the command-level form of
// TestQueueHeapStaleReusedRecord. NACKed jobs go back near the head (a heap
// inside the queue); ACKing one of them while queued and adding a new job
// (which reuses the freed record) must not change the delivery order.
func TestGetJobOrderAfterAckOfRequeuedJob(t *testing.T) {
	h := newHarness(t)
	ids := map[int]string{}
	for _, r := range []int{10, 20, 25, 26, 30, 35, 36, 5000} { // ctime order
		ids[r] = h.addJob("q", strconv.Itoa(r))
		h.now++
	}
	h.getNoHang(8, "q")
	// NACK the newest first (it goes to the ring), then the others in an
	// order that leaves 25 and 26 below 20 in the heap.
	for _, r := range []int{5000, 10, 20, 30, 25, 26, 35, 36} {
		if n := h.ids(IDNack, 0, ids[r]); n != 1 {
			t.Fatalf("NACK %d = %d", r, n)
		}
	}
	if n := h.ids(IDAck, 0, ids[20]); n != 1 { // queued: lazy removal, record freed
		t.Fatal("ACK failed")
	}
	h.addJob("other", "new") // reuses the freed record, newest ctime
	var got []string
	for k := 0; k < 7; k++ {
		got = append(got, fetched(t, h.getNoHang(1, "q"))[0][2])
	}
	want := []string{"10", "25", "26", "30", "35", "36", "5000"}
	if !equalStrings(got, want) {
		t.Fatalf("GETJOB order %v; want %v (lowest ctime first, spec 4.2)", got, want)
	}
}
