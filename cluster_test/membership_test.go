package cluster_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
)

// Five nodes MEET in a chain (0-1, 1-2, 2-3, 3-4): gossip completes the
// mesh (semantics.md 9.2). Then two nodes are killed: a REPLICATE 3 ADDJOB
// sent right away still succeeds (5.3: one more node per retry step), the
// survivors flag the dead nodes `fail`, and after a restart in the same
// directory (nodes.conf) the nodes rejoin without a MEET, keep their IDs
// and lose the flag.
func TestChainedMeetFailAndRestart(t *testing.T) {
	const n = 5
	c := startNodes(t, n)
	for i := 0; i+1 < n; i++ {
		c.cli(i).Expect("+OK", "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.nodes[i+1].Port))
	}
	start := time.Now()
	c.waitMesh(20 * time.Second)
	t.Logf("chained MEET of %d nodes: full mesh after %v", n, time.Since(start).Round(time.Millisecond))

	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.ID(i)
		if len(ids[i]) != 40 || strings.Trim(ids[i], "0123456789abcdef") != "" {
			t.Fatalf("CLUSTER MYID on node %d: %q; want 40 lowercase hex characters", i, ids[i])
		}
	}
	for i := 0; i < n; i++ {
		info := c.clusterInfo(i)
		for k, want := range map[string]string{"cluster_state": "ok", "cluster_known_nodes": "5", "cluster_reachable_nodes": "4", "cluster_size": "5"} {
			if info[k] != want {
				t.Fatalf("node %d CLUSTER INFO %s = %q; want %q (%v)", i, k, info[k], want, info)
			}
		}
		self, hello := c.hello(i)
		if self != ids[i] {
			t.Fatalf("node %d HELLO own ID %s; want %s", i, self, ids[i])
		}
		byID := map[string]helloNode{}
		for _, h := range hello {
			byID[h.ID] = h
		}
		for j := 0; j < n; j++ {
			h, ok := byID[ids[j]]
			if !ok || h.Port != strconv.Itoa(c.nodes[j].Port) || h.Prio != "1" || h.IP != "127.0.0.1" {
				t.Fatalf("node %d HELLO entry for node %d: %+v (present %v); want ip 127.0.0.1 port %d priority 1", i, j, h, ok, c.nodes[j].Port)
			}
		}
		nodes := c.clusterNodes(i)
		if len(nodes) != n {
			t.Fatalf("node %d CLUSTER NODES has %d lines; want %d", i, len(nodes), n)
		}
		for j := 0; j < n; j++ {
			l := nodes[ids[j]]
			if l.Addr != c.nodes[j].Addr || l.Connected != "connected" || l.has("myself") != (i == j) || l.has("fail") || l.has("fail?") {
				t.Fatalf("node %d CLUSTER NODES line for node %d: %+v", i, j, l)
			}
			if i != j && (len(l.Flags) != 1 || l.Flags[0] != "noflags") {
				t.Fatalf("node %d CLUSTER NODES flags for node %d: %v; want noflags", i, j, l.Flags)
			}
		}
	}

	// Kill two nodes and replicate at once: the copies that went to a dead
	// node are never confirmed, the creator adds the other live nodes.
	c.kill(3)
	c.kill(4)
	for k := 0; k < 5; k++ {
		id := c.addJob(0, "chainq", "after-kill-"+strconv.Itoa(k), "REPLICATE", "3")
		st := c.states(id)
		if copies(st) != 3 || count(st, "queued") != 1 || st[0] != "queued" {
			t.Fatalf("REPLICATE 3 with 2 of 5 nodes freshly killed: states %q; want 3 copies on nodes 0-2, queued on node 0 only", st)
		}
	}

	// The survivors flag the dead nodes fail (majority of 5 = 3 reports).
	start = time.Now()
	for i := 0; i < 3; i++ {
		testclient.Eventually(t, 15*time.Second, "node "+strconv.Itoa(i)+" flags nodes 3 and 4 fail", func() bool {
			ns := c.clusterNodes(i)
			return ns[ids[3]].has("fail") && ns[ids[4]].has("fail")
		})
		if r := c.reachable(i); r != 2 {
			t.Fatalf("node %d cluster_reachable_nodes = %d with 2 of 5 nodes failed; want 2", i, r)
		}
		if sz := c.clusterInfo(i)["cluster_size"]; sz != "5" {
			t.Fatalf("node %d cluster_size = %s; failing nodes still count, want 5", i, sz)
		}
		_, hello := c.hello(i)
		for _, h := range hello {
			if (h.ID == ids[3] || h.ID == ids[4]) && h.Prio != "100" {
				t.Fatalf("node %d HELLO priority of a failed node: %+v; want 100", i, h)
			}
		}
	}
	t.Logf("FAIL flags on the 3 survivors after %v", time.Since(start).Round(time.Millisecond))
	c.cli(0).Expect("-NOREPL Not enough reachable nodes for the requested replication level",
		"ADDJOB", "chainq", "x", "0", "REPLICATE", "4")
	// Default REPLICATE is min(3, size) with failing nodes counted: 3.
	id := c.addJob(1, "chainq", "default-repl")
	if r := testclient.Field(c.show(1, id), "repl"); r.Int != 3 {
		t.Fatalf("default REPLICATE on a 5-node cluster with 2 failed nodes: %s; want 3", r)
	}

	// Restart both in their directories: nodes.conf brings them back, same
	// IDs, no MEET needed, fail flags cleared everywhere.
	for _, i := range []int{3, 4} {
		conf, err := os.ReadFile(filepath.Join(c.nodes[i].Dir, "nodes.conf"))
		if err != nil {
			t.Fatalf("node %d nodes.conf: %v", i, err)
		}
		for j := 0; j < n; j++ {
			if !strings.Contains(string(conf), ids[j]) {
				t.Fatalf("node %d nodes.conf does not list node %d (%s):\n%s", i, j, ids[j], conf)
			}
		}
		c.restart(i)
	}
	start = time.Now()
	c.waitMesh(20 * time.Second)
	t.Logf("restarted nodes rejoined (flags cleared, full mesh) after %v", time.Since(start).Round(time.Millisecond))
	for i := 0; i < n; i++ {
		if got := c.ID(i); got != ids[i] {
			t.Fatalf("node %d ID after restart %s; want %s", i, got, ids[i])
		}
		for j, l := range c.clusterNodes(i) {
			if l.has("fail") || l.has("fail?") {
				t.Fatalf("node %d still flags %s: %v", i, j, l.Flags)
			}
		}
	}
	// A graceful restart (SIGTERM) keeps the ID too.
	c.restart(1)
	c.waitMesh(20 * time.Second)
	if got := c.ID(1); got != ids[1] {
		t.Fatalf("node 1 ID after SIGTERM restart %s; want %s", got, ids[1])
	}

	// A job survives the death of 2 of its 3 holders: the last one queues
	// it after RETRY, and a consumer on a node that never held it gets it
	// (federation).
	var holders, others []int
	for try := 0; ; try++ {
		id = c.addJob(0, "twoof3", "survivor", "REPLICATE", "3", "RETRY", "1")
		st := c.states(id)
		holders, others = nil, nil
		for i, s := range st {
			if s != "" {
				holders = append(holders, i)
			} else {
				others = append(others, i)
			}
		}
		if len(holders) < 3 || st[0] != "queued" {
			t.Fatalf("REPLICATE 3: states %q", st)
		}
		if len(holders) == 3 {
			break
		}
		// A slow confirmation made the creator add a fourth node (5.3).
		c.cli(0).Expect(":1", "FASTACK", id)
		if try == 10 {
			t.Fatal("10 REPLICATE 3 jobs in a row reached more than 3 nodes")
		}
	}
	c.kill(holders[0]) // the creator, which has it queued
	c.kill(holders[1])
	killed := time.Now()
	r := c.dial(others[0]).Do("GETJOB", "TIMEOUT", "10000", "FROM", "twoof3")
	jobs := testclient.Jobs(t, r)
	if len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("consumer on non-holder node %d after 2 of 3 holders (%v) were killed: %s; want %s", others[0], holders[:2], r, id)
	}
	t.Logf("job delivered on non-holder node %d %v after 2 of its 3 holders were killed", others[0], time.Since(killed).Round(time.Millisecond))
	c.cli(others[0]).Expect(":1", "ACKJOB", id)
}

// CLUSTER subcommands and their errors (commands.md 4.2).
func TestClusterCommands(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.cli(0)
	ids := []string{c.ID(0), c.ID(1), c.ID(2)}

	cl.Expect("-ERR Invalid TCP port specified: x", "CLUSTER", "MEET", "127.0.0.1", "x")
	cl.Expect("-ERR Invalid node address specified: localhost:7711", "CLUSTER", "MEET", "localhost", "7711")
	cl.Expect("-ERR Invalid node address specified: 127.0.0.1:0", "CLUSTER", "MEET", "127.0.0.1", "0")
	cl.Expect("-ERR Invalid node address specified: 127.0.0.1:55536", "CLUSTER", "MEET", "127.0.0.1", "55536")
	// MEET of a known node again: +OK, nothing changes.
	cl.Expect("+OK", "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.nodes[1].Port))
	cl.Expect("-ERR Wrong CLUSTER subcommand or number of arguments", "CLUSTER", "MEET", "127.0.0.1")
	cl.Expect("-ERR Wrong CLUSTER subcommand or number of arguments", "CLUSTER", "NOSUCH")
	cl.Expect("-ERR Invalid node identifier", "CLUSTER", "FORGET", "abc")
	unknown := strings.Repeat("ab", 20)
	cl.Expect("-ERR Unknown node "+unknown, "CLUSTER", "FORGET", unknown)
	cl.Expect("-ERR I tried hard but I can't forget myself...", "CLUSTER", "FORGET", ids[0])
	cl.Expect("-ERR Wrong argument for CLUSTER LEAVING. Use 'yes' or 'no'", "CLUSTER", "LEAVING", "maybe")
	cl.Expect("+no", "CLUSTER", "LEAVING")
	cl.Expect("-ERR syntax error", "CLUSTER", "RESET", "MEDIUM")
	cl.Expect("+OK", "CLUSTER", "SAVECONFIG")
	conf, err := os.ReadFile(filepath.Join(c.nodes[0].Dir, "nodes.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.Contains(string(conf), id) {
			t.Fatalf("nodes.conf after SAVECONFIG lacks %s:\n%s", id, conf)
		}
	}

	// FORGET node 2 on every other node: it is gone and stays gone (the
	// blacklist keeps gossip and its own PINGs from adding it back).
	c.cli(0).Expect("+OK", "CLUSTER", "FORGET", ids[2])
	c.cli(1).Expect("+OK", "CLUSTER", "FORGET", ids[2])
	for k := 0; k < 10; k++ {
		for i := 0; i < 2; i++ {
			if _, ok := c.clusterNodes(i)[ids[2]]; ok {
				t.Fatalf("node %d lists forgotten node 2 again (check %d):\n%s", i, k, c.cli(i).Str("CLUSTER", "NODES"))
			}
			if info := c.clusterInfo(i); info["cluster_size"] != "2" || info["cluster_reachable_nodes"] != "1" {
				t.Fatalf("node %d after FORGET: %v; want size 2, reachable 1", i, info)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.cli(0).Expect("-ERR Unknown node "+ids[2], "CLUSTER", "FORGET", ids[2])

	// RESET on node 2: it forgets everybody and drops its jobs; SOFT keeps
	// the ID, HARD takes a new one.
	jid := c.addJob(2, "resetq", "x", "REPLICATE", "1")
	c.cli(2).Expect("+OK", "CLUSTER", "RESET", "SOFT")
	c.cli(2).Expect("(nil)", "SHOW", jid)
	if c.ID(2) != ids[2] {
		t.Fatal("CLUSTER RESET SOFT changed the node ID")
	}
	if info := c.clusterInfo(2); info["cluster_known_nodes"] != "1" || info["cluster_size"] != "1" {
		t.Fatalf("node 2 after RESET SOFT: %v; want 1 known node", info)
	}
	c.cli(2).Expect("+OK", "CLUSTER", "RESET", "HARD")
	if id := c.ID(2); id == ids[2] || len(id) != 40 {
		t.Fatalf("CLUSTER RESET HARD kept ID %s", id)
	}
	// A single node again: default REPLICATE 1.
	jid = c.cli(2).AddJob("resetq", "y")
	if r := testclient.Field(c.show(2, jid), "repl"); r.Int != 1 {
		t.Fatalf("default REPLICATE on a node alone after RESET: %s; want 1", r)
	}
	// With its new ID it can be met again.
	c.cli(0).Expect("+OK", "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.nodes[2].Port))
	c.waitMesh(20 * time.Second)
}
