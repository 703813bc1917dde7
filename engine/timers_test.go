package engine_test

import (
	"testing"
	"time"

	"disq/internal/testclient"
)

// TestTimers covers the requeue timer, TTL expiry and DELAY (semantics.md
// 6.2, 6.3, 6.6, 7). The subtests run in parallel on one server, each on
// its own queue, so the whole test takes about as long as the slowest one.
func TestTimers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	t.Run("RequeueAfterRetry", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-requeue"
		id := c.AddJob(q, "x", "RETRY", "1", "TTL", "60")
		in := qstatInt(t, c, q, "jobs-in")
		start := time.Now()
		if js := c.GetJobs("FROM", q); len(js) != 1 || js[0].ID != id {
			t.Fatalf("GETJOB: got %s", jobsString(js))
		}
		c.Expect(":0", "QLEN", q)
		testclient.Eventually(t, 3*time.Second, "the unacked RETRY 1 job to be queued again", func() bool {
			return qlen(c, q) == 1
		})
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("requeued %v after queueing; want about RETRY (1 s +/- 250 ms)", d)
		}
		if got := qstatInt(t, c, q, "jobs-in"); got != in+1 {
			t.Errorf("QSTAT jobs-in after the requeue: got %d; want %d", got, in+1)
		}
		js := c.GetJobs("WITHCOUNTERS", "FROM", q)
		if len(js) != 1 || js[0].ID != id || js[0].AddDel < 1 || js[0].Nacks != 0 {
			t.Fatalf("GETJOB WITHCOUNTERS after the requeue: got %+v; want the job with additional-deliveries >= 1, nacks 0", js)
		}
		// A blocked consumer is woken by the requeue timer too.
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "TIMEOUT", "5000", "WITHCOUNTERS", "FROM", q)
		js = testclient.Jobs(t, b.Read())
		if len(js) != 1 || js[0].ID != id || js[0].AddDel < 2 {
			t.Fatalf("blocked GETJOB woken by the requeue timer: got %+v; want the job with additional-deliveries >= 2", js)
		}
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("DeliveryKeepsClock", func(t *testing.T) {
		t.Parallel()
		// The requeue clock starts when the job is queued; a delivery does
		// not restart it (semantics.md 6.2).
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-clock"
		added := time.Now()
		id := c.AddJob(q, "x", "RETRY", "3", "TTL", "60")
		time.Sleep(2 * time.Second)
		if js := c.GetJobs("NOHANG", "FROM", q); len(js) != 1 || js[0].ID != id {
			t.Fatalf("GETJOB: got %s", jobsString(js))
		}
		// qtime = added + 3 s +/- 250 ms, i.e. about 1 s from now.
		if nr := showInt(t, c, id, "next-requeue-within"); nr > 1600 {
			t.Errorf("after a delivery 2 s into RETRY 3: next-requeue-within got %d ms; want <= ~1250 (clock not restarted)", nr)
		}
		testclient.Eventually(t, 2*time.Second, "the job to be requeued at added+RETRY, not fetched+RETRY", func() bool {
			return qlen(c, q) == 1
		})
		if d := time.Since(added); d < 2500*time.Millisecond {
			t.Errorf("requeued %v after ADDJOB; want about 3 s", d)
		}
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("QueuedNotDuplicated", func(t *testing.T) {
		t.Parallel()
		// A job that stays queued past its requeue time is not queued twice
		// and its counters do not move.
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-stay"
		id := c.AddJob(q, "x", "RETRY", "1", "TTL", "60")
		time.Sleep(2500 * time.Millisecond)
		c.Expect(":1", "QLEN", q)
		js := c.GetJobs("WITHCOUNTERS", "NOHANG", "FROM", q)
		if len(js) != 1 || js[0].ID != id || js[0].AddDel != 0 || js[0].Nacks != 0 {
			t.Fatalf("GETJOB WITHCOUNTERS: got %+v; want the job with both counters 0", js)
		}
		c.Expect(":0", "QLEN", q)
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("RetryZeroNeverRequeued", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-once"
		id := c.AddJob(q, "x", "RETRY", "0", "TTL", "60")
		if nr := show(t, c, id); testclient.Field(nr, "next-requeue-within").String() != "(nil)" {
			t.Errorf("queued RETRY 0 job: next-requeue-within got %s; want (nil)", testclient.Field(nr, "next-requeue-within"))
		}
		if js := c.GetJobs("FROM", q); len(js) != 1 || js[0].ID != id {
			t.Fatalf("GETJOB: got %s", jobsString(js))
		}
		time.Sleep(2 * time.Second)
		c.Expect(":0", "QLEN", q)
		r := show(t, c, id)
		if st := testclient.Field(r, "state").String(); st != `"active"` {
			t.Errorf("delivered RETRY 0 job after 2 s: state got %s; want \"active\"", st)
		}
		if nr := testclient.Field(r, "next-requeue-within").String(); nr != "(nil)" {
			t.Errorf("delivered RETRY 0 job: next-requeue-within got %s; want (nil)", nr)
		}
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("DequeueKeepsTimer", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-dequeue"
		id := c.AddJob(q, "x", "RETRY", "1", "TTL", "60")
		c.Expect(":1", "DEQUEUE", id)
		c.Expect(":0", "QLEN", q)
		testclient.Eventually(t, 3*time.Second, "the dequeued job to be requeued by its timer", func() bool {
			return qlen(c, q) == 1
		})
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("WorkingPostpones", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-working"
		id := c.AddJob(q, "x", "RETRY", "1", "TTL", "60")
		c.GetJobs("FROM", q)
		for i := 0; i < 7; i++ {
			c.Expect(":1", "WORKING", id)
			time.Sleep(300 * time.Millisecond)
			if n := qlen(c, q); n != 0 {
				t.Fatalf("job requeued although WORKING was called every 300 ms (RETRY 1)")
			}
		}
		testclient.Eventually(t, 3*time.Second, "the job to be requeued once WORKING stops", func() bool {
			return qlen(c, q) == 1
		})
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("PausedInPostponesRequeue", func(t *testing.T) {
		t.Parallel()
		// A requeue that falls while the queue is paused in is postponed by
		// RETRY steps (semantics.md 4.5).
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-pausein"
		id := c.AddJob(q, "x", "RETRY", "1", "TTL", "60")
		c.GetJobs("FROM", q)
		c.Expect("+in", "PAUSE", q, "in")
		time.Sleep(1800 * time.Millisecond)
		c.Expect(":0", "QLEN", q)
		if st := state(t, c, id); st != "active" {
			t.Errorf("job due while its queue is paused in: state got %q; want active", st)
		}
		c.Expect("+none", "PAUSE", q, "none")
		testclient.Eventually(t, 3*time.Second, "the job to be requeued once the input pause is cleared", func() bool {
			return qlen(c, q) == 1
		})
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("PausedInDelay", func(t *testing.T) {
		t.Parallel()
		// At the end of DELAY on an input-paused queue an at-least-once job
		// waits; an at-most-once job is queued anyway.
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-pausein-delay"
		c.Expect("+in", "PAUSE", q, "in")
		least := c.Do("ADDJOB", q, "least", "0", "DELAY", "1", "RETRY", "1", "TTL", "60")
		most := c.Do("ADDJOB", q, "most", "0", "DELAY", "1", "RETRY", "0", "TTL", "60")
		if least.String() != errPaused || most.String() != errPaused {
			t.Fatalf("ADDJOB on a paused-in queue: got %s and %s; want %s", least, most, errPaused)
		}
		// Jobs added before the pause.
		c.Expect("+none", "PAUSE", q, "none")
		l := c.AddJob(q, "least", "DELAY", "1", "RETRY", "1", "TTL", "60")
		m := c.AddJob(q, "most", "DELAY", "1", "RETRY", "0", "TTL", "60")
		c.Expect("+in", "PAUSE", q, "in")
		time.Sleep(1600 * time.Millisecond)
		if js := testclient.Jobs(t, c.Do("QPEEK", q, "10")); len(js) != 1 || js[0].ID != m {
			t.Errorf("after DELAY 1 on a paused-in queue: queued %s; want only the RETRY 0 job", jobsString(js))
		}
		if st := state(t, c, l); st != "active" {
			t.Errorf("RETRY 1 job at the end of its DELAY on a paused-in queue: state got %q; want active", st)
		}
		c.Expect("+none", "PAUSE", q, "none")
		testclient.Eventually(t, 3*time.Second, "the delayed RETRY 1 job to be queued once the pause is cleared", func() bool {
			return qlen(c, q) == 2
		})
	})

	t.Run("TTLExpiry", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-ttl"
		added := time.Now()
		queued := c.AddJob(q, "queued", "TTL", "2", "RETRY", "10")
		active := c.AddJob(q, "active", "TTL", "2", "RETRY", "10")
		short := c.AddJob("tm-ttl1", "x", "TTL", "1")
		if js := c.GetJobs("COUNT", "1", "FROM", q); len(js) != 1 || js[0].ID != queued {
			t.Fatalf("GETJOB: got %s", jobsString(js))
		}
		// Now "queued" is active and "active" is queued; both expire.
		queued, active = active, queued
		out := qstatInt(t, c, q, "jobs-out")
		if ttl := showInt(t, c, queued, "ttl"); ttl < 1 || ttl > 2 {
			t.Errorf("SHOW ttl of a TTL 2 job: got %d; want 1..2", ttl)
		}
		time.Sleep(time.Until(added.Add(1500 * time.Millisecond)))
		c.Expect(":1", "QLEN", q)
		if state(t, c, queued) == "" || state(t, c, active) == "" {
			t.Fatalf("TTL 2 jobs gone after 1.5 s")
		}
		testclient.Eventually(t, 3*time.Second, "the TTL 2 jobs to expire", func() bool {
			return qlen(c, q) == 0 && state(t, c, queued) == "" && state(t, c, active) == ""
		})
		if d := time.Since(added); d < 1900*time.Millisecond || d > 3500*time.Millisecond {
			t.Errorf("TTL 2 jobs expired %v after ADDJOB; want within ~1 s after the TTL", d)
		}
		if got := qstatInt(t, c, q, "jobs-out"); got != out {
			t.Errorf("QSTAT jobs-out after a queued job expired: got %d; want %d (expiry is not a fetch)", got, out)
		}
		c.Expect("(nil)", "SHOW", short)
		c.Expect(":0", "QLEN", "tm-ttl1")
		c.Expect(":0", "ACKJOB", queued, active, short)
	})

	t.Run("Delay", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "tm-delay"
		added := time.Now()
		id := c.AddJob(q, "x", "DELAY", "1", "TTL", "10")
		c.Expect(":0", "QLEN", q)
		r := show(t, c, id)
		if st := testclient.Field(r, "state").String(); st != `"active"` {
			t.Errorf("DELAY 1 job: state got %s; want \"active\"", st)
		}
		if nr := testclient.Field(r, "next-requeue-within"); nr.Int <= 0 || nr.Int > 1000 {
			t.Errorf("DELAY 1 job: next-requeue-within got %s; want 0 < ms <= 1000", nr)
		}
		testclient.Eventually(t, 3*time.Second, "the DELAY 1 job to be queued", func() bool {
			return qlen(c, q) == 1
		})
		if d := time.Since(added); d < 800*time.Millisecond {
			t.Errorf("DELAY 1 job queued after %v; want about 1 s", d)
		}
		js := c.GetJobs("WITHCOUNTERS", "NOHANG", "FROM", q)
		if len(js) != 1 || js[0].ID != id || js[0].AddDel != 0 || js[0].Nacks != 0 {
			t.Fatalf("GETJOB WITHCOUNTERS: got %+v; want the delayed job with both counters 0", js)
		}
		c.Expect(":1", "ACKJOB", id)
	})

	t.Run("DelayWakesBlocked", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		b := testclient.Dial(t, srv.Addr)
		const q = "tm-delay-wake"
		b.Send("GETJOB", "TIMEOUT", "5000", "FROM", q)
		waitBlocked(t, c, q, 1)
		start := time.Now()
		id := c.AddJob(q, "x", "DELAY", "1", "RETRY", "0", "TTL", "10")
		b.ExpectSilent(500*time.Millisecond, "GETJOB while the only job is delayed")
		js := testclient.Jobs(t, b.Read())
		if len(js) != 1 || js[0].ID != id {
			t.Fatalf("blocked GETJOB: got %s; want the delayed job", jobsString(js))
		}
		if d := time.Since(start); d < 800*time.Millisecond || d > 3*time.Second {
			t.Errorf("delayed job served after %v; want about 1 s", d)
		}
	})
}
