package cluster_test

import (
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// Requeue de-duplication (semantics.md 6.2, 6.4): a REPLICATE 3 RETRY 1
// job is queued on exactly one node while nobody fetches it; fetched and not
// acknowledged, it is queued again after RETRY on one node; when that node
// dies, another holder queues it.
func TestRequeueOnceAndNodeDeath(t *testing.T) {
	c := startCluster(t, 3)
	id := c.addJob(0, "dq", "job", "REPLICATE", "3", "RETRY", "1")

	// Over 3 s (3 RETRY periods, the replicas' timers fire and are
	// answered by QUEUED), exactly one node has it queued. The mechanism is
	// best effort (6.4: "normally exactly one"), so a second queued copy
	// is tolerated for one sample (a late QUEUED under load), never longer,
	// and there is always at least one.
	samples, transient, prev := 0, 0, 1
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		st := c.states(id)
		samples++
		q := count(st, "queued")
		if copies(st) != 3 || q == 0 || (q > 1 && prev > 1) {
			t.Fatalf("sample %d: states %q; want 3 copies, exactly one queued", samples, st)
		}
		if q > 1 {
			transient++
			t.Logf("sample %d: states %q (transient)", samples, st)
		}
		prev = q
	}
	t.Logf("%d samples over 3 s with exactly one queued copy, %d with a transient second one", samples-transient, transient)
	queuedOn := func() []int {
		var out []int
		for i, s := range c.states(id) {
			if s == "queued" {
				out = append(out, i)
			}
		}
		return out
	}
	q := queuedOn()[0]

	// Fetch without ack: after ~RETRY one node queues it again (usually
	// exactly one; the de-duplication drops the extra ones).
	jobs := c.cli(q).GetJobs("NOHANG", "FROM", "dq")
	if len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("GETJOB on node %d: %+v", q, jobs)
	}
	fetched := time.Now()
	testclient.Eventually(t, 5*time.Second, "requeue after RETRY", func() bool { return len(queuedOn()) > 0 })
	t.Logf("requeued %v after the fetch, on nodes %v", time.Since(fetched).Round(time.Millisecond), queuedOn())
	// Let the de-duplication settle, then exactly one must be left.
	time.Sleep(700 * time.Millisecond)
	if on := queuedOn(); len(on) != 1 {
		t.Fatalf("after the requeue the job is queued on nodes %v; want exactly one", on)
	}
	q = queuedOn()[0]
	jobs = c.cli(q).GetJobs("NOHANG", "WITHCOUNTERS", "FROM", "dq")
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].AddDel < 1 {
		t.Fatalf("GETJOB WITHCOUNTERS after a requeue on node %d: %+v; want additional-deliveries > 0", q, jobs)
	}

	// Wait for the next requeue, then kill the node that queued it: another
	// holder requeues it after RETRY.
	testclient.Eventually(t, 5*time.Second, "second requeue", func() bool { return len(queuedOn()) == 1 })
	time.Sleep(700 * time.Millisecond)
	on := queuedOn()
	if len(on) != 1 {
		t.Fatalf("queued on %v; want one node", on)
	}
	dead := on[0]
	c.kill(dead)
	killed := time.Now()
	testclient.Eventually(t, 8*time.Second, "a surviving holder requeues the job", func() bool { return len(queuedOn()) > 0 })
	t.Logf("queued again on %v %v after node %d was killed", queuedOn(), time.Since(killed).Round(time.Millisecond), dead)
	time.Sleep(700 * time.Millisecond)
	if on := queuedOn(); len(on) != 1 {
		t.Fatalf("after the kill the job is queued on nodes %v; want exactly one", on)
	}
	survivor := queuedOn()[0]
	jobs = c.cli(survivor).GetJobs("NOHANG", "FROM", "dq")
	if len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("GETJOB on node %d: %+v", survivor, jobs)
	}
	c.cli(survivor).Expect(":1", "ACKJOB", id)
	// A listed holder is down: the ACK stays on the survivors (8.1) until
	// it returns (without a copy: no AOF), then every copy goes.
	testclient.Eventually(t, 5*time.Second, "both survivors hold the job acked", func() bool {
		return count(c.states(id), "acked") == 2
	})
	time.Sleep(1500 * time.Millisecond)
	if st := c.states(id); count(st, "acked") != 2 {
		t.Fatalf("ACK with a holder down: states %q; want the acked copies kept on both survivors", st)
	}
	c.restart(dead)
	restarted := time.Now()
	c.waitGone(20*time.Second, "acked job after the dead holder came back", id)
	t.Logf("acked copies collected %v after the dead holder restarted", time.Since(restarted).Round(time.Millisecond))
}

// WORKING (6.7): called every second on a RETRY 2 job it keeps the job out
// of every queue, on every holder, and replies RETRY.
func TestWorkingPreventsRequeue(t *testing.T) {
	c := startCluster(t, 3)
	id := c.addJob(1, "wq", "job", "REPLICATE", "3", "RETRY", "2")
	jobs := c.cli(1).GetJobs("NOHANG", "FROM", "wq")
	if len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("GETJOB: %+v", jobs)
	}
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); {
		// WORKING may go to any holder.
		for i := range 3 {
			c.cli(i).Expect(":2", "WORKING", id)
			st := c.states(id)
			if count(st, "queued") != 0 || copies(st) != 3 {
				t.Fatalf("job requeued despite WORKING every second: states %q", st)
			}
			time.Sleep(time.Second)
			if time.Now().After(end) {
				break
			}
		}
	}
	// Without WORKING it comes back.
	testclient.Eventually(t, 5*time.Second, "requeue once WORKING stops", func() bool { return count(c.states(id), "queued") == 1 })
	// WORKING on a queued job takes it out of the queue everywhere.
	for i, s := range c.states(id) {
		if s == "queued" {
			c.cli(i).Expect(":2", "WORKING", id)
		}
	}
	if st := c.states(id); count(st, "queued") != 0 {
		t.Fatalf("WORKING on a queued job: states %q; want no queued copy", st)
	}
	c.cli(0).Expect("-NOJOB Job not known in the context of this node.", "WORKING", "D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1")
}

// NACK counts on the node executing it and, through QUEUED, on the other
// holders; a timer requeue counts an additional delivery (6.5).
func TestNackAndRequeueCounters(t *testing.T) {
	c := startCluster(t, 3)
	id := c.addJob(0, "nq", "job", "REPLICATE", "3", "RETRY", "60")
	if jobs := c.cli(0).GetJobs("NOHANG", "FROM", "nq"); len(jobs) != 1 {
		t.Fatalf("GETJOB: %+v", jobs)
	}
	c.cli(0).Expect(":1", "NACK", id)
	jobs := c.cli(0).GetJobs("NOHANG", "WITHCOUNTERS", "FROM", "nq")
	if len(jobs) != 1 || jobs[0].Nacks != 1 || jobs[0].AddDel != 0 {
		t.Fatalf("GETJOB WITHCOUNTERS after NACK: %+v; want nacks 1, additional-deliveries 0", jobs)
	}
	testclient.Eventually(t, 5*time.Second, "other holders count the nack", func() bool {
		for i := 1; i < 3; i++ {
			if testclient.Field(c.show(i, id), "nacks").Int != 1 {
				return false
			}
		}
		return true
	})
	// NACK on another holder (the job is active there): it queues it there
	// and node 0, which has it active, counts too.
	c.cli(2).Expect(":1", "NACK", id)
	if s := c.state(2, id); s != "queued" {
		t.Fatalf("NACK on replica node 2: state %q", s)
	}
	testclient.Eventually(t, 5*time.Second, "node 0 counts the second nack", func() bool {
		return testclient.Field(c.show(0, id), "nacks").Int == 2
	})
	jobs = c.cli(2).GetJobs("NOHANG", "WITHCOUNTERS", "FROM", "nq")
	if len(jobs) != 1 || jobs[0].Nacks != 2 {
		t.Fatalf("GETJOB WITHCOUNTERS on node 2 after 2 NACKs: %+v", jobs)
	}
	c.cli(2).Expect(":1", "ACKJOB", id)
	c.waitGone(5*time.Second, "acked job", id)

	// Timer requeue: additional-deliveries.
	id = c.addJob(0, "nq", "job2", "REPLICATE", "3", "RETRY", "1")
	if jobs := c.cli(0).GetJobs("NOHANG", "FROM", "nq"); len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("GETJOB: %+v", jobs)
	}
	var got []testclient.Job
	testclient.Eventually(t, 6*time.Second, "requeued job fetched with counters", func() bool {
		for i := range 3 {
			got = c.cli(i).GetJobs("NOHANG", "WITHCOUNTERS", "FROM", "nq")
			if len(got) > 0 {
				return true
			}
		}
		return false
	})
	if got[0].ID != id || got[0].AddDel < 1 || got[0].Nacks != 0 {
		t.Fatalf("requeued job: %+v; want additional-deliveries > 0, nacks 0", got)
	}
}

// At-most-once (7): RETRY 0 needs REPLICATE 1 on a cluster and is never
// requeued.
func TestAtMostOnceNeverRequeued(t *testing.T) {
	c := startCluster(t, 3)
	c.cli(0).Expect("-ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)",
		"ADDJOB", "aq", "x", "0", "RETRY", "0")
	id := c.addJob(0, "aq", "once", "RETRY", "0", "REPLICATE", "1")
	if st := c.states(id); copies(st) != 1 || st[0] != "queued" {
		t.Fatalf("at-most-once job states %q", st)
	}
	if r := testclient.Field(c.show(0, id), "next-requeue-within"); !(r.Kind == resp.KindBulk && r.IsNull()) {
		t.Fatalf("queued at-most-once job: next-requeue-within %s; want (nil)", r)
	}
	if jobs := c.cli(0).GetJobs("NOHANG", "FROM", "aq"); len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("GETJOB: %+v", jobs)
	}
	for k := 0; k < 15; k++ {
		time.Sleep(200 * time.Millisecond)
		for i := range 3 {
			if n := c.cli(i).Int("QLEN", "aq"); n != 0 {
				t.Fatalf("at-most-once job requeued: QLEN %d on node %d after %d ms", n, i, (k+1)*200)
			}
		}
	}
	c.cli(0).Expect(":0", "NACK", id)
	if s := c.state(0, id); s != "active" {
		t.Fatalf("NACK of a delivered at-most-once job: state %q; want active", s)
	}
	c.cli(0).Expect(":1", "ACKJOB", id)
	c.cli(0).Expect("(nil)", "SHOW", id)
	// An unknown at-most-once ID creates no dummy ACK.
	amo := id[:36] + "0000"
	c.cli(1).Expect(":0", "ACKJOB", amo)
	c.cli(1).Expect("(nil)", "SHOW", amo)
}
