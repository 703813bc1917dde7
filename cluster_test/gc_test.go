package cluster_test

import (
	"regexp"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// ACKJOB and FASTACK sent to a holder or to a node without a copy remove
// every copy (semantics.md 8.1, 8.3): REPLICATE 2 on 3 nodes leaves one
// non-holder.
func TestAckGCHoldersAndNonHolders(t *testing.T) {
	c := startCluster(t, 3)
	for _, cmd := range []string{"ACKJOB", "FASTACK"} {
		for _, target := range []string{"creator", "replica", "non-holder"} {
			// A slow first confirmation makes the creator add the third
			// node after 50 ms (5.3): retry until one node has no copy.
			var id string
			var st []string
			for try := 0; ; try++ {
				id = c.addJob(0, "gq", cmd+"-"+target, "REPLICATE", "2")
				st = c.states(id)
				if copies(st) < 2 || st[0] != "queued" || count(st, "queued") != 1 {
					t.Fatalf("REPLICATE 2: states %q", st)
				}
				if copies(st) == 2 {
					break
				}
				t.Logf("REPLICATE 2 job went to all 3 nodes (states %q); another one", st)
				c.cli(0).Expect(":1", "FASTACK", id)
				if try == 10 {
					t.Fatal("10 REPLICATE 2 jobs in a row reached 3 nodes")
				}
			}
			to := 0
			for i := 1; i < 3; i++ {
				if (target == "replica" && st[i] != "") || (target == "non-holder" && st[i] == "") {
					to = i
				}
			}
			want := ":1"
			if target == "non-holder" {
				want = ":0" // unknown here: not counted
			}
			start := time.Now()
			c.cli(to).Expect(want, cmd, id)
			if cmd == "ACKJOB" && target == "non-holder" {
				// A dummy ACK (no queue, no body) unless GC already ended.
				if r := c.show(to, id); r.Kind == resp.KindArray {
					if s := string(testclient.Field(r, "state").Str); s != "acked" || !testclient.Field(r, "queue").IsNull() || !testclient.Field(r, "body").IsNull() {
						t.Fatalf("dummy ACK on the non-holder: %s", r)
					}
				}
			}
			c.waitGone(5*time.Second, cmd+" sent to the "+target, id)
			t.Logf("%s to the %s (node %d): all copies gone after %v", cmd, target, to, time.Since(start).Round(time.Millisecond))
		}
	}
	// ACKJOB on a job the cluster does not know: the dummy ACK finds no
	// holder and goes away too.
	ghost := "D-" + c.ID(1)[:8] + "-AAAAAAAAAAAAAAAAAAAAAAAA-05a1"
	c.cli(2).Expect(":0", "ACKJOB", ghost)
	c.waitGone(10*time.Second, "dummy ACK of an unknown job", ghost)
}

// A holder unreachable during the ACK (SIGSTOP, so it keeps its copy in
// memory): the others keep the job acked, and when it is back its copy is
// collected too (8.1).
func TestAckGCHolderStopped(t *testing.T) {
	c := startCluster(t, 3)
	id := c.addJob(0, "gs", "job", "REPLICATE", "3", "RETRY", "60")
	c.sigstop(2)
	defer func() {
		if c.stopped[2] {
			c.sigcont(2)
		}
	}()
	c.cli(1).Expect(":1", "ACKJOB", id)
	testclient.Eventually(t, 5*time.Second, "nodes 0 and 1 hold the job acked", func() bool {
		st := c.states(id)
		return st[0] == "acked" && st[1] == "acked"
	})
	time.Sleep(2 * time.Second)
	if st := c.states(id); st[0] != "acked" || st[1] != "acked" {
		t.Fatalf("ACK with holder 2 stopped: states %q; want acked on nodes 0 and 1 until it is back", st)
	}
	c.sigcont(2)
	start := time.Now()
	c.waitGone(30*time.Second, "copies after the stopped holder resumed", id)
	t.Logf("all copies gone %v after SIGCONT", time.Since(start).Round(time.Millisecond))
}

// The upstream scenario with persistence: the creator is killed, the job is
// acked on another holder (acked copies remain), the creator restarts with
// its copy reloaded from the AOF and drops it (8.1).
func TestAckGCHolderKilledWithAOF(t *testing.T) {
	c := startCluster(t, 3, "--appendonly", "yes")
	id := c.addJob(0, "gk", "job", "REPLICATE", "3", "RETRY", "60")
	c.kill(0)
	c.cli(1).Expect(":1", "ACKJOB", id)
	testclient.Eventually(t, 5*time.Second, "nodes 1 and 2 hold the job acked", func() bool {
		st := c.states(id)
		return st[1] == "acked" && st[2] == "acked"
	})
	time.Sleep(1500 * time.Millisecond)
	if st := c.states(id); count(st, "acked") != 2 {
		t.Fatalf("ACK with the creator down: states %q; want 2 acked copies kept", st)
	}
	c.restart(0)
	if m := regexp.MustCompile(`append only file loaded.* records=(\d+)`).FindStringSubmatch(c.nodes[0].Log()); m == nil || m[1] == "0" {
		t.Logf("note: the restarted creator's log does not show AOF records loaded (%v)", m)
	} else {
		t.Logf("restarted creator loaded %s AOF records; its copy: %q", m[1], c.state(0, id))
	}
	start := time.Now()
	c.waitGone(30*time.Second, "copies after the creator restarted", id)
	t.Logf("all copies gone %v after the creator restarted", time.Since(start).Round(time.Millisecond))
}
