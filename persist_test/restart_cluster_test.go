package persist_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
)

// TestClusterRestartFromLogs (upstream: "AOF: a job survives killing and
// restarting all the nodes"): three nodes with appendonly yes, a job with
// REPLICATE 3 RETRY 1, all nodes killed with SIGKILL and started again from
// their directories on the same ports (their cluster config files bring
// the membership back, their logs the job): the job is delivered.
func TestClusterRestartFromLogs(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	const n = 3
	nodes := make([]*testserver.Server, n)
	for i := range nodes {
		nodes[i] = testserver.StartPort(t, t.TempDir(), testserver.FreePort(t), "--appendonly", "yes")
	}
	c0 := testclient.Dial(t, nodes[0].Addr)
	for _, s := range nodes[1:] {
		c0.Expect("+OK", "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(s.Port))
	}
	waitMesh(t, nodes, 20*time.Second)

	id := c0.AddJob("cr", "survives-all", "REPLICATE", "3", "RETRY", "1")
	for i, s := range nodes {
		c := testclient.Dial(t, s.Addr)
		r := show(t, c, id)
		if r.IsNull() {
			t.Fatalf("node %d does not hold %s after ADDJOB REPLICATE 3", i, id)
		}
		if h := testclient.Field(r, "nodes-delivered"); len(h.Elems) != n {
			t.Fatalf("node %d: nodes-delivered %s; want %d nodes", i, h, n)
		}
		c.Close()
	}

	for _, s := range nodes {
		s.Kill()
	}
	// Start them again, together (each loads its log before it listens).
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, s := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Start() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("restart node %d on port %d: %v", i, nodes[i].Port, err)
		}
	}
	held := 0
	for _, s := range nodes {
		c := testclient.Dial(t, s.Addr)
		if !show(t, c, id).IsNull() {
			held++
		}
		c.Close()
	}
	t.Logf("after restarting all nodes: %d of %d hold the job", held, n)
	if held == 0 {
		t.Fatalf("no node holds %s after the restart", id)
	}

	// Delivered again after RETRY (1 s) on some node; fetch from all.
	t0 := time.Now()
	deadline := t0.Add(10 * time.Second)
	conns := make([]*testclient.Conn, n)
	for i, s := range nodes {
		conns[i] = testclient.Dial(t, s.Addr)
	}
	for time.Now().Before(deadline) {
		for i, c := range conns {
			for _, j := range c.GetJobs("TIMEOUT", "200", "FROM", "cr") {
				if j.ID != id || j.Body != "survives-all" {
					t.Fatalf("node %d delivered %+v; want %s", i, j, id)
				}
				t.Logf("node %d delivered the job %v after the restart", i, time.Since(t0).Round(time.Millisecond))
				c.Expect(":1", "ACKJOB", id)
				return
			}
		}
	}
	t.Fatalf("job %s not delivered by any node within 10 s of restarting all nodes", id)
}

// waitMesh waits until every node reaches the n-1 others.
func waitMesh(t *testing.T, nodes []*testserver.Server, d time.Duration) {
	t.Helper()
	want := "cluster_reachable_nodes:" + strconv.Itoa(len(nodes)-1)
	testclient.Eventually(t, d, "a full mesh ("+want+" on every node)", func() bool {
		for _, s := range nodes {
			c := testclient.Dial(t, s.Addr)
			r := c.Do("CLUSTER", "INFO")
			c.Close()
			if r.Kind != resp.KindBulk || !strings.Contains(string(r.Str), want+"\r\n") {
				return false
			}
		}
		return true
	})
}
