package engine_test

import (
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// badIDs returns malformed variants of a valid ID: every check of the
// spec's validation (length 40, 'D' at 0, '-' at 1, 10 and 35) fails once.
func badIDs(valid string) []string {
	mut := func(i int, c byte) string {
		b := []byte(valid)
		b[i] = c
		return string(b)
	}
	return []string{
		"", "D", "foo", valid[:39], valid + "0", "x" + valid,
		mut(0, 'd'), mut(0, 'E'), mut(1, '+'), mut(10, 'x'), mut(35, 'x'),
		strings.ToLower(valid),
	}
}

// TestJobCommands covers SHOW, ACKJOB, FASTACK, DELJOB, NACK, ENQUEUE,
// DEQUEUE and WORKING (commands.md 2.3-2.10) on a lone node.
func TestJobCommands(t *testing.T) {
	t.Parallel()
	const shards = 2
	srv := startServer(t, shards)

	t.Run("ShowShape", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		node := nodeID(t, c)
		id := c.AddJob("jc-show", "hello", "RETRY", "30", "TTL", "100")
		r := show(t, c, id)
		kinds := []resp.Kind{resp.KindBulk, resp.KindBulk, resp.KindBulk, resp.KindInt, resp.KindInt,
			resp.KindInt, resp.KindInt, resp.KindInt, resp.KindInt, resp.KindInt, resp.KindArray,
			resp.KindArray, resp.KindInt, resp.KindInt, resp.KindBulk}
		for i, k := range kinds {
			if got := r.Elems[2*i+1]; got.Kind != k || got.IsNull() {
				t.Errorf("SHOW %s: value of %q got %s; want a %s", id, showKeys[i], got, k)
			}
		}
		want := map[string]string{
			"id": `"` + id + `"`, "queue": `"jc-show"`, "state": `"queued"`, "repl": ":1",
			"delay": ":0", "retry": ":30", "nacks": ":0", "additional-deliveries": ":0",
			"nodes-confirmed": "[]", "body": `"hello"`,
		}
		for k, v := range want {
			if got := testclient.Field(r, k).String(); got != v {
				t.Errorf("SHOW %s: %s got %s; want %s", id, k, got, v)
			}
		}
		if ttl := testclient.Field(r, "ttl").Int; ttl < 98 || ttl > 100 {
			t.Errorf("SHOW ttl: got %d; want 98..100", ttl)
		}
		for _, n := range testclient.Field(r, "nodes-delivered").Elems {
			if n.Kind != resp.KindBulk || string(n.Str) != node {
				t.Errorf("SHOW nodes-delivered: got %s; want only this node's ID %s", testclient.Field(r, "nodes-delivered"), node)
			}
		}
		if nr := testclient.Field(r, "next-requeue-within").Int; nr <= 0 || nr > 30250 {
			t.Errorf("SHOW next-requeue-within: got %d; want 0 < ms <= 30250 (RETRY 30)", nr)
		}
		// The next scheduled action is at the latest the requeue (the
		// spec's example shows it 500 ms before: the WILLQUEUE advance).
		if na, nr := testclient.Field(r, "next-awake-within").Int, testclient.Field(r, "next-requeue-within").Int; na < 0 || na > nr {
			t.Errorf("SHOW next-awake-within: got %d; want 0 <= ms <= next-requeue-within (%d)", na, nr)
		}
		// Unknown IDs: nil bulk, not a null array.
		c.Expect("(nil)", "SHOW", unknownID)
		c.Expect("(nil)", "SHOW", garbageID)
		for _, bad := range badIDs(id) {
			c.Expect(errBadID, "SHOW", bad)
		}
		c.Expect(errArity("show"), "SHOW")
		c.Expect(errArity("show"), "SHOW", id, id)
	})

	t.Run("StateTransitions", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "jc-states"
		id := c.AddJob(q, "b")
		if st := state(t, c, id); st != "queued" {
			t.Fatalf("after ADDJOB: state got %q; want queued", st)
		}
		c.Expect(`[["`+q+`" "`+id+`" "b"]]`, "GETJOB", "NOHANG", "FROM", q)
		if st := state(t, c, id); st != "active" {
			t.Fatalf("after GETJOB: state got %q; want active", st)
		}
		// On a lone node ACKJOB deletes at once: acked does not persist.
		c.Expect(":1", "ACKJOB", id)
		c.Expect("(nil)", "SHOW", id)
		c.Expect(":0", "ACKJOB", id)
	})

	t.Run("AckJob", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "jc-ack"
		c.Expect(":0", "ACKJOB")
		a, b, d := c.AddJob(q, "a"), c.AddJob(q, "b"), c.AddJob(q, "d")
		// Any malformed ID: nothing done at all.
		for _, bad := range badIDs(a) {
			c.Expect(errBadID, "ACKJOB", a, b, bad)
			c.Expect(errBadID, "ACKJOB", bad, a)
		}
		c.Expect(":3", "QLEN", q)
		// A queued job acked leaves its queue.
		c.Expect(":1", "ACKJOB", a)
		c.Expect(":2", "QLEN", q)
		c.Expect("(nil)", "SHOW", a)
		// Unknown (and already deleted) IDs are not counted; duplicates count once.
		c.Expect(":1", "ACKJOB", a, b, b, unknownID, garbageID)
		c.Expect(":1", "QLEN", q)
		// An active (delivered) job.
		c.Expect(`[["`+q+`" "`+d+`" "d"]]`, "GETJOB", "NOHANG", "FROM", q)
		c.Expect(":1", "ACKJOB", d)
		c.Expect(":0", "QLEN", q)
		c.Expect(":0", "ACKJOB", unknownID)
	})

	t.Run("FastAckDelJob", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for _, cmd := range []string{"FASTACK", "DELJOB"} {
			q := "jc-" + strings.ToLower(cmd)
			c.Expect(":0", cmd)
			a, b := c.AddJob(q, "a"), c.AddJob(q, "b")
			for _, bad := range badIDs(a) {
				c.Expect(errBadID, cmd, a, bad)
			}
			c.Expect(":2", "QLEN", q)
			c.Expect(`[["`+q+`" "`+a+`" "a"]]`, "GETJOB", "NOHANG", "FROM", q) // a: active, b: queued
			c.Expect(":2", cmd, a, b, a, unknownID, garbageID)
			c.Expect(":0", "QLEN", q)
			c.Expect("(nil)", "SHOW", a)
			c.Expect("(nil)", "SHOW", b)
			c.Expect(":0", cmd, a)
			// A delayed (active, never queued) job too.
			d := c.AddJob(q, "d", "DELAY", "100")
			c.Expect(":1", cmd, d)
			c.Expect("(nil)", "SHOW", d)
		}
	})

	t.Run("Nack", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "jc-nack"
		c.Expect(":0", "NACK")
		j1, j2, j3 := c.AddJob(q, "1"), c.AddJob(q, "2"), c.AddJob(q, "3")
		c.Expect(":0", "NACK", j1) // queued: ignored
		if js := c.GetJobs("COUNT", "2", "FROM", q); len(js) != 2 || js[0].ID != j1 || js[1].ID != j2 {
			t.Fatalf("GETJOB COUNT 2: got %s; want jobs 1 and 2", jobsString(js))
		}
		for _, bad := range badIDs(j1) {
			c.Expect(errBadID, "NACK", j1, j2, bad)
		}
		if st := state(t, c, j1); st != "active" {
			t.Fatalf("NACK with a bad ID changed the state to %s", st)
		}
		jobsIn := qstatInt(t, c, q, "jobs-in")
		// NACK requeues at the head (ctime order), counts nacks only.
		c.Expect(":1", "NACK", j2, j3, unknownID)
		c.Expect(":1", "NACK", j1)
		c.Expect(`[["`+q+`" "`+j1+`" "1"] ["`+q+`" "`+j2+`" "2"] ["`+q+`" "`+j3+`" "3"]]`, "QPEEK", q, "10")
		if got := qstatInt(t, c, q, "jobs-in"); got != jobsIn+2 {
			t.Errorf("QSTAT jobs-in after 2 NACKs: got %d; want %d", got, jobsIn+2)
		}
		if st := state(t, c, j1); st != "queued" {
			t.Errorf("after NACK: state got %q; want queued", st)
		}
		if n := showInt(t, c, j1, "nacks"); n != 1 {
			t.Errorf("after NACK: nacks got %d; want 1", n)
		}
		js := c.GetJobs("WITHCOUNTERS", "FROM", q)
		if len(js) != 1 || js[0].ID != j1 || js[0].Nacks != 1 || js[0].AddDel != 0 {
			t.Fatalf("GETJOB WITHCOUNTERS after NACK: got %+v; want job 1 with nacks 1, additional-deliveries 0", js)
		}
		c.Expect(":1", "NACK", j1)
		js = c.GetJobs("WITHCOUNTERS", "FROM", q)
		if len(js) != 1 || js[0].ID != j1 || js[0].Nacks != 2 || js[0].AddDel != 0 {
			t.Fatalf("GETJOB WITHCOUNTERS after a second NACK: got %+v; want nacks 2", js)
		}
		// At-most-once: once queued, never again.
		once := c.AddJob("jc-nack-once", "x", "RETRY", "0")
		c.GetJobs("FROM", "jc-nack-once")
		c.Expect(":0", "NACK", once)
		c.Expect(":0", "ENQUEUE", once)
		if st := state(t, c, once); st != "active" {
			t.Errorf("RETRY 0 job after NACK: state got %q; want active", st)
		}
	})

	t.Run("Enqueue", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "jc-enqueue"
		c.Expect(":0", "ENQUEUE")
		id := c.AddJob(q, "x")
		c.Expect(":0", "ENQUEUE", id) // already queued
		c.GetJobs("FROM", q)
		for _, bad := range badIDs(id) {
			c.Expect(errBadID, "ENQUEUE", id, bad)
		}
		c.Expect(":0", "QLEN", q)
		c.Expect(":1", "ENQUEUE", id, unknownID)
		c.Expect(":1", "QLEN", q)
		// A re-queue: additional-deliveries, never nacks.
		js := c.GetJobs("WITHCOUNTERS", "FROM", q)
		if len(js) != 1 || js[0].ID != id || js[0].Nacks != 0 || js[0].AddDel != 1 {
			t.Fatalf("GETJOB WITHCOUNTERS after ENQUEUE: got %+v; want nacks 0, additional-deliveries 1", js)
		}
		// The first queueing of a delayed job on its creator is not an
		// additional delivery.
		d := c.AddJob(q, "delayed", "DELAY", "100")
		if st := state(t, c, d); st != "active" {
			t.Fatalf("DELAY job: state got %q; want active", st)
		}
		c.Expect(":1", "ENQUEUE", d)
		if st := state(t, c, d); st != "queued" {
			t.Fatalf("DELAY job after ENQUEUE: state got %q; want queued", st)
		}
		if n := showInt(t, c, d, "additional-deliveries"); n != 0 {
			t.Errorf("DELAY job after its first queueing by ENQUEUE: additional-deliveries got %d; want 0", n)
		}
	})

	t.Run("Dequeue", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "jc-dequeue"
		c.Expect(":0", "DEQUEUE")
		a, b := c.AddJob(q, "a", "RETRY", "60"), c.AddJob(q, "b")
		for _, bad := range badIDs(a) {
			c.Expect(errBadID, "DEQUEUE", a, bad)
		}
		c.Expect(":2", "QLEN", q)
		out := qstatInt(t, c, q, "jobs-out")
		c.Expect(":1", "DEQUEUE", a, unknownID)
		c.Expect(":1", "QLEN", q)
		c.Expect(":0", "DEQUEUE", a) // active: ignored
		r := show(t, c, a)
		if st := testclient.Field(r, "state").String(); st != `"active"` {
			t.Errorf("after DEQUEUE: state got %s; want \"active\"", st)
		}
		// The requeue timer keeps running.
		if nr := testclient.Field(r, "next-requeue-within"); nr.Kind != resp.KindInt || nr.Int <= 0 || nr.Int > 60250 {
			t.Errorf("after DEQUEUE: next-requeue-within got %s; want 0 < ms <= 60250", nr)
		}
		if got := qstatInt(t, c, q, "jobs-out"); got != out {
			t.Errorf("QSTAT jobs-out after DEQUEUE: got %d; want %d (DEQUEUE is not a fetch)", got, out)
		}
		c.Expect(`[["`+q+`" "`+b+`" "b"]]`, "GETJOB", "NOHANG", "FROM", q)
		c.Expect(":1", "ENQUEUE", a)
		c.Expect(":1", "QLEN", q)
	})

	t.Run("Working", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "jc-working"
		c.Expect(errArity("working"), "WORKING")
		c.Expect(errArity("working"), "WORKING", unknownID, unknownID)
		c.Expect(errNoJob, "WORKING", unknownID)
		c.Expect(errNoJob, "WORKING", garbageID)
		id := c.AddJob(q, "x", "RETRY", "7")
		for _, bad := range badIDs(id) {
			c.Expect(errBadID, "WORKING", bad)
		}
		out := qstatInt(t, c, q, "jobs-out")
		// A queued job: removed from the queue, requeue postponed by RETRY.
		c.Expect(":7", "WORKING", id)
		c.Expect(":0", "QLEN", q)
		if st := state(t, c, id); st != "active" {
			t.Errorf("after WORKING: state got %q; want active", st)
		}
		if nr := showInt(t, c, id, "next-requeue-within"); nr < 6500 || nr > 7250 {
			t.Errorf("after WORKING: next-requeue-within got %d; want ~7000 ms", nr)
		}
		if got := qstatInt(t, c, q, "jobs-out"); got != out {
			t.Errorf("QSTAT jobs-out after WORKING: got %d; want %d", got, out)
		}
		// An active job.
		c.Expect(":7", "WORKING", id)
		// Default RETRY.
		d := c.AddJob(q, "d")
		c.Expect(":300", "WORKING", d)
		// RETRY 0: reply 0, out of the queue for good.
		once := c.AddJob(q, "once", "RETRY", "0")
		c.Expect(":0", "WORKING", once)
		c.Expect(":0", "QLEN", q)
		r := show(t, c, once)
		if st := testclient.Field(r, "state").String(); st != `"active"` {
			t.Errorf("RETRY 0 job after WORKING: state got %s; want \"active\"", st)
		}
		if nr := testclient.Field(r, "next-requeue-within"); nr.String() != "(nil)" {
			t.Errorf("RETRY 0 job after WORKING: next-requeue-within got %s; want (nil)", nr)
		}
		c.Expect(":0", "ENQUEUE", once)
		// Acked on a lone node = gone.
		c.Expect(":1", "ACKJOB", id)
		c.Expect(errNoJob, "WORKING", id)
	})

	t.Run("WorkingTooLate", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		id := c.AddJob("jc-toolate", "x", "TTL", "2", "RETRY", "1")
		c.Expect(":1", "WORKING", id)
		time.Sleep(1100 * time.Millisecond)
		c.Expect(errTooLate, "WORKING", id)
	})

	t.Run("MultiShardIDs", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		queues := diffShards("jc-multi", shards, shards)
		queues = append(queues, sameShard("jc-multi-b", 6, shards)...)
		seen := map[int]bool{}
		for _, q := range queues {
			seen[shardOf(q, shards)] = true
		}
		if len(seen) != shards {
			t.Fatalf("queues %v cover %d shards; want %d", queues, len(seen), shards)
		}
		add := func(tag string) []string {
			var ids []string
			for _, q := range queues {
				for k := 0; k < 2; k++ {
					ids = append(ids, c.AddJob(q, tag))
				}
			}
			return ids
		}
		total := func() int64 {
			var n int64
			for _, q := range queues {
				n += qlen(c, q)
			}
			return n
		}
		for _, cmd := range []string{"ACKJOB", "FASTACK", "DELJOB", "DEQUEUE"} {
			ids := add(cmd)
			n := int64(len(ids))
			args := append([]string{cmd}, ids...)
			args = append(args, unknownID, garbageID)
			// One bad ID, last: nothing is done on any shard.
			c.Expect(errBadID, append(append([]string{}, args...), "bad")...)
			if got := total(); got != n {
				t.Fatalf("%s with a bad ID: queues hold %d jobs; want %d", cmd, got, n)
			}
			c.Expect(":"+itoa(n), args...)
			if got := total(); got != 0 {
				t.Fatalf("%s of %d IDs: queues still hold %d jobs", cmd, n, got)
			}
			if cmd == "DEQUEUE" {
				c.Expect(":"+itoa(n), append([]string{"ENQUEUE"}, ids...)...)
				c.Expect(":"+itoa(n), append([]string{"DEQUEUE"}, ids...)...)
				c.Expect(":"+itoa(n), append([]string{"NACK"}, ids...)...)
				c.Expect(":"+itoa(n), append([]string{"ACKJOB"}, ids...)...)
			}
		}
	})
}
