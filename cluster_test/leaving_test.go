package cluster_test

import (
	"testing"
	"time"

	"disq/internal/testclient"
)

const errLeaving = "-LEAVING This node is leaving the cluster, please connect to a different one"

// Leaving nodes (semantics.md 11, commands.md 4.2): external replication
// with no local copy, HELLO priority 100 everywhere, -LEAVING where GETJOB
// would block (also for clients already blocked), no dummy ACKs, queued
// jobs drain toward consumers elsewhere, the flag persists across a
// restart, and LEAVING no reverts.
func TestLeaving(t *testing.T) {
	c := startCluster(t, 3)
	id0 := c.ID(0)
	cl := c.cli(0)

	// Jobs queued on node 0 only, before it leaves.
	var before []string
	for range 3 {
		before = append(before, c.addJob(0, "lv-drain", "x", "REPLICATE", "1"))
	}
	// A consumer blocked on node 0 when it starts leaving gets -LEAVING.
	blocked := c.dial(0)
	blocked.Send("GETJOB", "FROM", "lv-empty")
	blocked.ExpectSilent(200*time.Millisecond, "GETJOB on an empty queue")

	cl.Expect("+no", "CLUSTER", "LEAVING")
	cl.Expect("-ERR Wrong argument for CLUSTER LEAVING. Use 'yes' or 'no'", "CLUSTER", "LEAVING", "maybe")
	cl.Expect("+OK", "CLUSTER", "LEAVING", "yes")
	cl.Expect("+yes", "CLUSTER", "LEAVING")
	r, err := blocked.ReadTimeout(3 * time.Second)
	if err != nil || r.String() != errLeaving {
		t.Fatalf("client blocked in GETJOB when the node started leaving: %v %v; want %s", r, err, errLeaving)
	}

	// Every node reports it with priority 100; the others see it leaving
	// and no longer reachable.
	for i := range 3 {
		testclient.Eventually(t, 5*time.Second, "HELLO priority 100 for the leaving node", func() bool {
			_, hello := c.hello(i)
			for _, h := range hello {
				if h.ID == id0 {
					return h.Prio == "100"
				}
			}
			return false
		})
		if i > 0 {
			testclient.Eventually(t, 5*time.Second, "leaving flag and reachability on the others", func() bool {
				return c.clusterNodes(i)[id0].has("leaving") && c.reachable(i) == 1
			})
		}
	}
	if !c.clusterNodes(0)[id0].has("leaving") {
		t.Fatalf("CLUSTER NODES on the leaving node lacks its leaving flag: %v", c.clusterNodes(0)[id0].Flags)
	}

	// ADDJOB: external replication, no local copy.
	reg := c.infoInt(0, "registered_jobs")
	id := c.addJob(0, "lv-q", "ext", "REPLICATE", "2")
	if got := c.infoInt(0, "registered_jobs"); got != reg {
		t.Fatalf("registered_jobs on the leaving node %d -> %d after ADDJOB; want unchanged", reg, got)
	}
	cl.Expect("(nil)", "SHOW", id)
	testclient.Eventually(t, 5*time.Second, "the 2 copies elsewhere, one of them queued", func() bool {
		st := c.states(id)
		return st[0] == "" && st[1] != "" && st[2] != "" && count(st, "queued") == 1
	})
	idA := c.addJob(0, "lv-q", "ext-async", "REPLICATE", "2", "ASYNC")
	cl.Expect("(nil)", "SHOW", idA)
	testclient.Eventually(t, 5*time.Second, "ASYNC external copies, one queued", func() bool {
		st := c.states(idA)
		return st[0] == "" && copies(st) == 2 && count(st, "queued") == 1
	})
	cl.Expect("-NOREPL Not enough reachable nodes for the requested replication level, since I'm unable to hold a copy of the message for the following reason: I'm leaving the cluster",
		"ADDJOB", "lv-q", "x", "0", "REPLICATE", "3")
	cl.Expect("-NOREPL Not enough reachable nodes for the requested replication level",
		"ADDJOB", "lv-q", "x", "0", "REPLICATE", "4")
	// The others no longer replicate to it.
	for k := range 5 {
		id := c.addJob(1+k%2, "lv-q", "y", "REPLICATE", "2")
		if s := c.state(0, id); s != "" {
			t.Fatalf("a leaving node received a copy: %s", s)
		}
	}

	// GETJOB: queued jobs as usual, -LEAVING where it would block, nil
	// with NOHANG.
	jobs := cl.GetJobs("NOHANG", "FROM", "lv-drain")
	if len(jobs) != 1 || jobs[0].ID != before[0] {
		t.Fatalf("GETJOB NOHANG of a queued job on the leaving node: %+v", jobs)
	}
	cl.Expect(":1", "ACKJOB", before[0])
	cl.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", "lv-none")
	cl.Expect(errLeaving, "GETJOB", "FROM", "lv-none")
	cl.Expect(errLeaving, "GETJOB", "TIMEOUT", "100", "FROM", "lv-none")

	// Its queued jobs drain toward consumers elsewhere (it answers
	// NEEDJOBS, never asks).
	cons := c.dial(1)
	for range 2 {
		r := cons.Do("GETJOB", "TIMEOUT", "8000", "FROM", "lv-drain")
		if jobs := testclient.Jobs(t, r); len(jobs) != 1 || (jobs[0].ID != before[1] && jobs[0].ID != before[2]) {
			t.Fatalf("consumer on node 1 waiting for the leaving node's jobs: %s", r)
		}
	}

	// No dummy ACK for an unknown job on a leaving node.
	ghost := "D-" + id0[:8] + "-AAAAAAAAAAAAAAAAAAAAAAAA-05a1"
	cl.Expect(":0", "ACKJOB", ghost)
	cl.Expect("(nil)", "SHOW", ghost)

	// Persisted: a restart keeps it leaving.
	c.restart(0)
	c.cli(0).Expect("+yes", "CLUSTER", "LEAVING")

	// LEAVING no reverts everything.
	c.cli(0).Expect("+OK", "CLUSTER", "LEAVING", "no")
	c.cli(0).Expect("+no", "CLUSTER", "LEAVING")
	c.waitMesh(10 * time.Second)
	id = c.addJob(0, "lv-q", "back", "REPLICATE", "3")
	if st := c.states(id); st[0] != "queued" || copies(st) != 3 {
		t.Fatalf("after LEAVING no: states %q; want a local queued copy and 3 copies", st)
	}
}

// An ADDJOB client waiting for replication when its node starts leaving
// gets -LEAVING (commands.md 2.1).
func TestLeavingWhileAddJobWaits(t *testing.T) {
	c := startCluster(t, 3)
	c.sigstop(2)
	defer func() {
		if c.stopped[2] {
			c.sigcont(2)
		}
	}()
	w := c.dial(0)
	w.Send("ADDJOB", "lw", "x", "0", "REPLICATE", "3")
	w.ExpectSilent(300*time.Millisecond, "ADDJOB waiting for a stopped node")
	c.cli(0).Expect("+OK", "CLUSTER", "LEAVING", "yes")
	r, err := w.ReadTimeout(3 * time.Second)
	if err != nil || r.String() != errLeaving {
		t.Fatalf("ADDJOB waiting for replication when the node started leaving: %v %v; want %s", r, err, errLeaving)
	}
	c.sigcont(2)
	testclient.Eventually(t, 5*time.Second, "the job deleted cluster-wide (best effort)", func() bool {
		for i := range 3 {
			if c.infoInt(i, "registered_jobs") != 0 {
				return false
			}
		}
		return true
	})
}
