package cluster_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// REPLICATE 1..n, the default, ASYNC and the feasibility errors on a
// 3-node cluster (commands.md 2.1, semantics.md 5).
func TestReplicationLevels(t *testing.T) {
	c := startCluster(t, 3)
	ids := []string{c.ID(0), c.ID(1), c.ID(2)}

	for from := 0; from < 3; from++ {
		for repl := 1; repl <= 3; repl++ {
			id := c.addJob(from, "rq", "r"+strconv.Itoa(repl), "REPLICATE", strconv.Itoa(repl))
			if id[2:10] != ids[from][:8] {
				t.Fatalf("job ID %s created on node %d does not carry its ID prefix %s", id, from, ids[from][:8])
			}
			// Synchronous: when ADDJOB answers, at least repl nodes hold a
			// copy (more if a slow confirmation made the creator add a node
			// after 50 ms, 5.3), and only the creator queues it.
			st := c.states(id)
			if copies(st) < repl || (repl == 1 && copies(st) != 1) || count(st, "queued") != 1 || st[from] != "queued" {
				t.Fatalf("ADDJOB REPLICATE %d on node %d: states %q; want >= %d copies, queued on node %d only", repl, from, st, repl, from)
			}
			sh := c.show(from, id)
			if r := testclient.Field(sh, "repl"); r.Int != int64(repl) {
				t.Fatalf("SHOW repl %s; want %d", r, repl)
			}
			if nd := testclient.Field(sh, "nodes-delivered"); len(nd.Elems) < copies(st) {
				t.Fatalf("REPLICATE %d: nodes-delivered %s on the creator; want every node holding a copy (%q)", repl, nd, st)
			}
			for i := range 3 {
				if st[i] == "active" {
					// A replica knows the other holders too (ACK GC, de-duplication).
					if nd := testclient.Field(c.show(i, id), "nodes-delivered"); len(nd.Elems) < repl {
						t.Fatalf("replica on node %d: nodes-delivered %s; want >= %d nodes", i, nd, repl)
					}
				}
			}
		}
	}

	// Default REPLICATE = min(3, size) = 3.
	id := c.addJob(1, "rq", "default")
	if st := c.states(id); copies(st) != 3 {
		t.Fatalf("default REPLICATE on 3 nodes: states %q; want 3 copies", st)
	}

	// ASYNC: the ID at once, queued locally, copies follow (best effort).
	id = c.addJob(2, "rq", "async", "REPLICATE", "3", "ASYNC")
	if s := c.state(2, id); s != "queued" {
		t.Fatalf("ASYNC job on its creator: state %q; want queued", s)
	}
	testclient.Eventually(t, 5*time.Second, "ASYNC copies on the 2 other nodes", func() bool {
		st := c.states(id)
		return copies(st) == 3 && count(st, "queued") == 1
	})

	noRepl := "-NOREPL Not enough reachable nodes for the requested replication level"
	c.cli(0).Expect(noRepl, "ADDJOB", "rq", "x", "5000", "REPLICATE", "100")
	c.cli(0).Expect(noRepl, "ADDJOB", "rq", "x", "5000", "REPLICATE", "4")
	c.cli(0).Expect(noRepl, "ADDJOB", "rq", "x", "5000", "REPLICATE", "4", "ASYNC")
	c.cli(0).Expect("-ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)",
		"ADDJOB", "rq", "x", "5000", "RETRY", "0")
	c.cli(0).Expect("-ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)",
		"ADDJOB", "rq", "x", "5000", "RETRY", "0", "REPLICATE", "2")
	id = c.addJob(0, "rq", "amo", "RETRY", "0", "REPLICATE", "1")
	if v, err := strconv.ParseUint(id[36:], 16, 16); err != nil || v%2 != 0 {
		// TTL field parity: even for at-most-once (semantics.md 2).
		t.Fatalf("at-most-once job ID %s: TTL field must be even", id)
	}
	if st := c.states(id); copies(st) != 1 {
		t.Fatalf("REPLICATE 1: states %q; want one copy", st)
	}

	// INFO bus on node 0 counts the copies its peers confirmed (3 from
	// its REPLICATE 2 and 3 jobs) and their mean replication latency.
	info := c.cli(0).Info("bus")
	if _, ok := info["bus_total"]; !ok || len(info) < 3 {
		t.Fatalf("INFO bus on node 0: %v; want bus_total and a line per peer", info)
	}
	for k, v := range info {
		if k != "bus_total" && !strings.HasPrefix(k, "bus_peer_") {
			continue
		}
		f := map[string]int64{}
		for _, kv := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(val, 10, 64)
			f[name] = n
		}
		if k == "bus_total" && f["repl_confirms"] < 3 || f["repl_confirms"] < 1 || f["repl_latency_us"] <= 0 {
			t.Errorf("INFO bus %s:%s; want repl_confirms (>= 3 in all) and a positive repl_latency_us", k, v)
		}
	}
}

// Replication that cannot complete: a node that is stopped (SIGSTOP) is
// still counted reachable until the node timeout flags it, so ADDJOB is
// accepted and waits: the job's TTL or the ADDJOB timeout ends it with the
// spec's errors (commands.md 2.1), and the creator drops its copy.
func TestImpossibleReplication(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.cli(0)
	c.sigstop(2)
	defer c.sigcont(2)
	start := time.Now()
	cl.Send("ADDJOB", "iq", "ttl1", "0", "REPLICATE", "3", "TTL", "1")
	r, err := cl.ReadTimeout(8 * time.Second)
	if err != nil {
		t.Fatalf("ADDJOB REPLICATE 3 TTL 1 with a stopped node: no reply: %v", err)
	}
	if got := r.String(); got != "-NOREPL job removed (expired?) before the requested replication level was achieved" {
		if r.Kind == resp.KindSimple && testclient.IsJobID(string(r.Str)) {
			// Who confirmed? Look at the copies once node 2 runs again.
			st0 := c.states(string(r.Str))
			c.sigcont(2)
			time.Sleep(300 * time.Millisecond)
			t.Logf("unexpected success: states with node 2 stopped %q, after SIGCONT %q; SHOW on node 0: %s",
				st0, c.states(string(r.Str)), c.show(0, string(r.Str)))
		}
		t.Fatalf("ADDJOB REPLICATE 3 TTL 1 timeout 0 with a stopped node: got %s after %v; want -NOREPL job removed (expired?) ...", got, time.Since(start))
	}
	t.Logf("TTL 1 job: -NOREPL job removed after %v", time.Since(start).Round(time.Millisecond))
	if got := cl.Str("INFO", "jobs"); !strings.Contains(got, "registered_jobs:0") {
		t.Fatalf("creator still holds the expired job: %s", got)
	}

	// Timeout path: restart with a fresh stopped node so it is not yet
	// flagged (node timeout 1 s).
	c.sigcont(2)
	c.waitMesh(20 * time.Second)
	c.sigstop(2)
	start = time.Now()
	cl.Send("ADDJOB", "iq", "tmo", "300", "REPLICATE", "3")
	r = cl.Read()
	if got := r.String(); got != "-NOREPL Timeout reached before replicating to the requested number of nodes" {
		t.Fatalf("ADDJOB timeout 300 with a stopped node: got %s; want -NOREPL Timeout reached ...", got)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 2*time.Second {
		t.Fatalf("ADDJOB timeout 300 answered after %v", el)
	}
	testclient.Eventually(t, 5*time.Second, "creator drops its copy after the timeout", func() bool {
		return c.infoInt(0, "registered_jobs") == 0 && c.infoInt(1, "registered_jobs") == 0
	})
	// Once the stopped node is flagged, ADDJOB fails the feasibility check.
	testclient.Eventually(t, 10*time.Second, "node 0 counts node 2 unreachable", func() bool { return c.reachable(0) == 1 })
	cl.Expect("-NOREPL Not enough reachable nodes for the requested replication level", "ADDJOB", "iq", "x", "0", "REPLICATE", "3")
	// REPLICATE 2 still works without it.
	c.addJob(0, "iq", "two", "REPLICATE", "2")
	c.sigcont(2)
	c.waitMesh(20 * time.Second)
}

// Pipelined producers: 50 replicated ADDJOBs in one write replicate
// concurrently with their replies in order, and a QLEN pipelined after them
// runs only after all of them answered (so it sees 50 queued jobs).
func TestPipelinedReplicatedAddJobs(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.dial(0)
	const n = 50
	var cmds [][]string
	for i := range n {
		cmds = append(cmds, []string{"ADDJOB", "pq", "b" + strconv.Itoa(i), "5000"})
	}
	cmds = append(cmds, []string{"QLEN", "pq"}, []string{"PING"})
	start := time.Now()
	replies := cl.Pipeline(cmds...)
	el := time.Since(start)
	ids := make([]string, n)
	seen := map[string]bool{}
	for i := range n {
		r := replies[i]
		if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
			t.Fatalf("pipelined ADDJOB %d: got %s; want +<job id>", i, r)
		}
		ids[i] = string(r.Str)
		if seen[ids[i]] {
			t.Fatalf("duplicate ID %s", ids[i])
		}
		seen[ids[i]] = true
	}
	if got := replies[n].String(); got != ":50" {
		t.Fatalf("QLEN pipelined after 50 replicated ADDJOBs: %s; want :50 (it must wait for them)", got)
	}
	if got := replies[n+1].String(); got != "+PONG" {
		t.Fatalf("PING: %s", got)
	}
	// Replies in order: the i-th reply is the ID of the i-th body.
	for i, id := range ids {
		sh := c.show(0, id)
		if b := string(testclient.Field(sh, "body").Str); b != "b"+strconv.Itoa(i) {
			t.Fatalf("reply %d is the ID of body %q; want b%d", i, b, i)
		}
		if st := c.states(id); copies(st) != 3 || st[0] != "queued" || count(st, "queued") != 1 {
			t.Fatalf("job %d states %q; want 3 copies, queued on node 0 only", i, st)
		}
	}
	// Queue order is creation order.
	r := c.cli(0).Do("QPEEK", "pq", "50")
	jobs := testclient.Jobs(t, r)
	for i, j := range jobs {
		if j.ID != ids[i] {
			t.Fatalf("QPEEK position %d: %s; want %s", i, j.ID, ids[i])
		}
	}
	t.Logf("50 pipelined REPLICATE 3 ADDJOBs + QLEN answered in %v", el.Round(time.Millisecond))

	// Several rounds on a second connection with a non-ADDJOB command in
	// the middle: it waits for the ADDJOBs before it, the ones after it
	// still get IDs in order.
	cl2 := c.dial(1)
	cmds = cmds[:0]
	for i := range 20 {
		cmds = append(cmds, []string{"ADDJOB", "pq2", "c" + strconv.Itoa(i), "5000", "REPLICATE", "3"})
		if i == 9 {
			cmds = append(cmds, []string{"QLEN", "pq2"})
		}
	}
	cmds = append(cmds, []string{"QLEN", "pq2"})
	replies = cl2.Pipeline(cmds...)
	if got := replies[10].String(); got != ":10" {
		t.Fatalf("QLEN after 10 pipelined ADDJOBs: %s; want :10", got)
	}
	if got := replies[21].String(); got != ":20" {
		t.Fatalf("QLEN after 20 pipelined ADDJOBs: %s; want :20", got)
	}
	k := 0
	for i, r := range replies {
		if i == 10 || i == 21 {
			continue
		}
		if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
			t.Fatalf("reply %d: %s; want an ID", i, r)
		}
		if b := string(testclient.Field(c.show(1, string(r.Str)), "body").Str); b != "c"+strconv.Itoa(k) {
			t.Fatalf("reply %d is the ID of %q; want c%d", i, b, k)
		}
		k++
	}
}

// TestReplicationAcrossShardCounts: a 3-shard node replicating to a 1-shard
// node (the replica's one shard confirms copies of the creator's three
// shards; a GOTJOBS mixing them is split by the creator, see
// engine.TestSplitByShard): every ADDJOB gets its ID, with two copies and
// no resend. (Whether a GOTJOBS mixes shards depends on timing, so this
// test does not by itself catch a broken split.)
func TestReplicationAcrossShardCounts(t *testing.T) {
	c := meetAll(startNodesEach(t, 2, func(i int) []string {
		return []string{"--shards", []string{"3", "1"}[i]}
	}))
	for i, want := range []string{"shards:3", "shards:1"} {
		if info := string(c.cli(i).Do("INFO").Str); !strings.Contains(info, "\r\n"+want+"\r\n") {
			t.Fatalf("node %d does not report %s", i, want)
		}
	}
	// Several connections write their pipelines first, then read: their
	// ADDJOBs run on the three shards at once, so the replica's steps mix
	// copies of all three (one connection's pipelined ADDJOBs on different
	// shards would go a shard at a time).
	const conns, per = 6, 20
	const n = conns * per
	var cls []*testclient.Conn
	for k := range conns {
		cl := c.dial(0)
		var b []byte
		for i := range per {
			b = resp.AppendCommandStrings(b, "ADDJOB", "sq"+strconv.Itoa(k), "b"+strconv.Itoa(i), "5000", "REPLICATE", "2")
		}
		cl.Write(b)
		cls = append(cls, cl)
	}
	var replies []resp.Reply
	for _, cl := range cls {
		for range per {
			replies = append(replies, cl.Read())
		}
	}
	for i, r := range replies {
		if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
			t.Fatalf("ADDJOB %d: %s; want +<job id>", i, r)
		}
		if st := c.states(string(r.Str)); copies(st) != 2 {
			t.Fatalf("job %d states %q; want 2 copies", i, st)
		}
	}
	// A lost confirmation shows as a resend after 50 ms. Allow a few for a
	// slow machine.
	info := string(c.cli(0).Do("INFO", "stats").Str)
	if v := infoInt(info, "repl_resends"); v < 0 || v > n/4 {
		t.Fatalf("repl_resends %d after %d replicated ADDJOBs; want about 0", v, n)
	}
}

// infoInt returns the integer field name of an INFO text, or -1.
func infoInt(info, name string) int {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}
