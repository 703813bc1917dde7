package cluster_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"disq/internal/respread"
	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
)

// Every node runs with a 1 s node timeout so failure detection takes about
// a second (spec default 15 s, upstream tests 3 s).
const nodeTimeout = "1000"

// cluster is a set of disq-server processes started for one test.
type cluster struct {
	t       *testing.T
	nodes   []*testserver.Server
	conns   []*testclient.Conn // cached test-goroutine clients, nil after a restart
	stopped []bool             // SIGSTOPped
	ids     []string           // node IDs (CLUSTER MYID), refreshed by ID()

	raceNodes  []string // nodes whose log had a data race report
	raceReport string   // the first one
}

// startNodes starts n unconnected nodes.
func startNodes(t *testing.T, n int, directives ...string) *cluster {
	t.Helper()
	return startNodesEach(t, n, nil, directives...)
}

// startNodesEach is startNodes with per(i)'s directives added for node i
// (per may be nil).
func startNodesEach(t *testing.T, n int, per func(i int) []string, directives ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, conns: make([]*testclient.Conn, n), stopped: make([]bool, n), ids: make([]string, n)}
	for i := 0; i < n; i++ {
		args := append([]string{"--cluster-node-timeout", nodeTimeout}, directives...)
		if per != nil {
			args = append(args, per(i)...)
		}
		c.nodes = append(c.nodes, testserver.Start(t, args...))
	}
	t.Cleanup(func() {
		// A stopped process cannot act on SIGTERM: resume it first.
		for i, s := range c.nodes {
			if c.stopped[i] && !s.Exited() {
				_ = syscall.Kill(s.Pid(), syscall.SIGCONT)
			}
		}
		if t.Failed() {
			for i, s := range c.nodes {
				t.Logf("---- node %d (%s) log, last 3000 bytes ----\n%s", i, s.Addr, tail(s.Log(), 3000))
			}
		}
		// Stop all nodes at once (a race-built server takes over a second
		// to shut down; the harness's own cleanup then finds them stopped).
		var wg sync.WaitGroup
		for _, s := range c.nodes {
			wg.Add(1)
			go func() { defer wg.Done(); s.Stop() }()
		}
		wg.Wait()
		for i := range c.nodes {
			c.checkRace(i, "")
		}
		if len(c.raceNodes) > 0 {
			t.Errorf("the race detector reported data races in disq-server (nodes %s; a server bug whatever the cluster behaviour); first report:\n%s",
				strings.Join(c.raceNodes, ", "), c.raceReport)
		}
	})
	return c
}

// startCluster starts n nodes, MEETs every other node from node 0 and
// waits for a full mesh.
func startCluster(t *testing.T, n int, directives ...string) *cluster {
	t.Helper()
	return meetAll(startNodes(t, n, directives...))
}

// meetAll MEETs every other node from node 0 and waits for a full mesh.
func meetAll(c *cluster) *cluster {
	t, n := c.t, len(c.nodes)
	t.Helper()
	for i := 1; i < n; i++ {
		c.cli(0).Expect("+OK", "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.nodes[i].Port))
	}
	c.waitMesh(20 * time.Second)
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// cli returns a client of node i (cached; reconnected after a restart).
func (c *cluster) cli(i int) *testclient.Conn {
	c.t.Helper()
	if c.conns[i] == nil {
		c.conns[i] = testclient.Dial(c.t, c.nodes[i].Addr)
	}
	return c.conns[i]
}

// dial returns a fresh client of node i.
func (c *cluster) dial(i int) *testclient.Conn {
	c.t.Helper()
	return testclient.Dial(c.t, c.nodes[i].Addr)
}

// up reports whether node i runs and is not stopped.
func (c *cluster) up(i int) bool { return !c.nodes[i].Exited() && !c.stopped[i] }

// live returns the indexes of the nodes that are up.
func (c *cluster) live() []int {
	var out []int
	for i := range c.nodes {
		if c.up(i) {
			out = append(out, i)
		}
	}
	return out
}

// kill sends SIGKILL to node i.
func (c *cluster) kill(i int) {
	c.nodes[i].Kill()
	c.dropConn(i)
}

// restart starts node i again (same port, directory, directives) after a
// kill, or stops (SIGTERM) and starts it.
func (c *cluster) restart(i int) {
	c.t.Helper()
	c.dropConn(i)
	c.nodes[i].Stop()
	c.checkRace(i, " (before a restart)")
	c.nodes[i].Restart()
}

// checkRace records whether node i's current log holds a data race report
// (a race-built server writes them to stderr); the test fails once, at the
// end, with the first report.
func (c *cluster) checkRace(i int, when string) {
	log := c.nodes[i].Log()
	if k := strings.Index(log, "WARNING: DATA RACE"); k >= 0 {
		c.raceNodes = append(c.raceNodes, strconv.Itoa(i)+when)
		if c.raceReport == "" {
			c.raceReport = log[k:min(len(log), k+4000)]
		}
	}
}

func (c *cluster) dropConn(i int) {
	if c.conns[i] != nil {
		c.conns[i].Close()
		c.conns[i] = nil
	}
}

// sigstop / sigcont suspend and resume node i.
func (c *cluster) sigstop(i int) {
	c.t.Helper()
	if err := syscall.Kill(c.nodes[i].Pid(), syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	c.stopped[i] = true
	// kill(2) only queues the signal: wait until every thread is stopped
	// (state T in /proc/<pid>/stat), so nothing the test does next can
	// still be served by this node.
	stat := "/proc/" + strconv.Itoa(c.nodes[i].Pid()) + "/stat"
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			return // no procfs: best effort
		}
		if k := strings.LastIndexByte(string(b), ')'); k > 0 && k+2 < len(b) && b[k+2] == 'T' {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d not stopped 5 s after SIGSTOP: %s", i, b)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *cluster) sigcont(i int) {
	c.t.Helper()
	if err := syscall.Kill(c.nodes[i].Pid(), syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
	c.stopped[i] = false
}

// ID returns node i's ID (CLUSTER MYID).
func (c *cluster) ID(i int) string {
	c.t.Helper()
	c.ids[i] = c.cli(i).Str("CLUSTER", "MYID")
	return c.ids[i]
}

// clusterInfo returns node i's CLUSTER INFO fields.
func (c *cluster) clusterInfo(i int) map[string]string {
	c.t.Helper()
	r := c.cli(i).Do("CLUSTER", "INFO")
	if r.Kind != resp.KindBulk || r.IsNull() {
		c.t.Fatalf("CLUSTER INFO on node %d: got %s", i, r)
	}
	return testclient.ParseInfo(string(r.Str))
}

func (c *cluster) reachable(i int) int {
	c.t.Helper()
	n, _ := strconv.Atoi(c.clusterInfo(i)["cluster_reachable_nodes"])
	return n
}

// helloNode is one node entry of HELLO.
type helloNode struct{ ID, IP, Port, Prio string }

// hello returns node i's HELLO: its own ID and the node entries.
func (c *cluster) hello(i int) (string, []helloNode) {
	c.t.Helper()
	r := c.cli(i).Do("HELLO")
	if r.Kind != resp.KindArray || len(r.Elems) < 3 || r.Elems[0].Kind != resp.KindInt || r.Elems[0].Int != 1 {
		c.t.Fatalf("HELLO on node %d: got %s", i, r)
	}
	var out []helloNode
	for _, e := range r.Elems[2:] {
		if e.Kind != resp.KindArray || len(e.Elems) != 4 {
			c.t.Fatalf("HELLO entry %s", e)
		}
		for _, f := range e.Elems {
			if f.Kind != resp.KindBulk || f.IsNull() {
				c.t.Fatalf("HELLO entry %s: every field must be a bulk string", e)
			}
		}
		out = append(out, helloNode{string(e.Elems[0].Str), string(e.Elems[1].Str), string(e.Elems[2].Str), string(e.Elems[3].Str)})
	}
	return string(r.Elems[1].Str), out
}

// meshed reports whether node i sees every other node of want as reachable
// with an open bus link (HELLO priority 1) and nothing else.
func (c *cluster) meshed(i int, want []int) bool {
	c.t.Helper()
	if c.reachable(i) != len(want)-1 {
		return false
	}
	_, nodes := c.hello(i)
	if len(nodes) != len(want) {
		return false
	}
	for _, n := range nodes {
		if n.Prio != "1" {
			return false
		}
	}
	return true
}

// waitMesh waits until every node is meshed with all the others.
func (c *cluster) waitMesh(d time.Duration) {
	c.t.Helper()
	all := make([]int, len(c.nodes))
	for i := range all {
		all[i] = i
	}
	c.waitMeshOf(d, all)
}

func (c *cluster) waitMeshOf(d time.Duration, idx []int) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for _, i := range idx {
		for !c.meshed(i, idx) {
			if time.Now().After(deadline) {
				c.t.Fatalf("no full mesh after %v: node %d CLUSTER NODES:\n%s", d, i, c.cli(i).Str("CLUSTER", "NODES"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// nodeLine is one CLUSTER NODES line.
type nodeLine struct {
	ID, Addr  string
	Flags     []string
	Connected string
}

func (n nodeLine) has(flag string) bool { return slices.Contains(n.Flags, flag) }

// clusterNodes parses node i's CLUSTER NODES by node ID.
func (c *cluster) clusterNodes(i int) map[string]nodeLine {
	c.t.Helper()
	text := c.cli(i).Str("CLUSTER", "NODES")
	if !strings.HasSuffix(text, "\n") {
		c.t.Fatalf("CLUSTER NODES on node %d does not end with a newline: %q", i, text)
	}
	out := map[string]nodeLine{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 {
			c.t.Fatalf("CLUSTER NODES line %q: want 6 fields", line)
		}
		out[f[0]] = nodeLine{ID: f[0], Addr: f[1], Flags: strings.Split(f[2], ","), Connected: f[5]}
	}
	return out
}

// show returns SHOW id on node i (a null bulk when unknown).
func (c *cluster) show(i int, id string) resp.Reply {
	c.t.Helper()
	return c.cli(i).Do("SHOW", id)
}

// state returns the job's state on node i, "" when the node does not hold it.
func (c *cluster) state(i int, id string) string {
	c.t.Helper()
	r := c.show(i, id)
	if r.Kind == resp.KindBulk && r.IsNull() {
		return ""
	}
	if r.Kind != resp.KindArray || len(r.Elems) != 30 {
		c.t.Fatalf("SHOW %s on node %d: got %s", id, i, r)
	}
	return string(testclient.Field(r, "state").Str)
}

// states returns the job's state on every node that is up ("-" for a node
// that is down, "" for no copy).
func (c *cluster) states(id string) []string {
	c.t.Helper()
	out := make([]string, len(c.nodes))
	for i := range c.nodes {
		if !c.up(i) {
			out[i] = "-"
			continue
		}
		out[i] = c.state(i, id)
	}
	return out
}

func count(states []string, want string) int {
	n := 0
	for _, s := range states {
		if s == want {
			n++
		}
	}
	return n
}

// copies counts the nodes that hold the job in any state.
func copies(states []string) int {
	n := 0
	for _, s := range states {
		if s != "" && s != "-" {
			n++
		}
	}
	return n
}

// waitGone waits until no node that is up holds any of the jobs.
func (c *cluster) waitGone(d time.Duration, what string, ids ...string) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := ""
		for _, id := range ids {
			if st := c.states(id); copies(st) > 0 {
				left = fmt.Sprintf("%s states %q", id, st)
				break
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: copies left after %v: %s", what, d, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// infoInt returns an integer INFO field of node i.
func (c *cluster) infoInt(i int, key string) int64 {
	c.t.Helper()
	v, ok := c.cli(i).Info()[key]
	if !ok {
		c.t.Fatalf("INFO on node %d has no %s", i, key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		c.t.Fatalf("INFO %s = %q", key, v)
	}
	return n
}

// addJob runs ADDJOB queue body ms-timeout opts... on node i and returns
// the ID, failing on anything else.
func (c *cluster) addJob(i int, queue, body string, opts ...string) string {
	c.t.Helper()
	args := append([]string{"ADDJOB", queue, body, "5000"}, opts...)
	r := c.cli(i).Do(args...)
	if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
		c.t.Fatalf("node %d: %s: got %s; want +<job id>", i, strings.Join(args, " "), r)
	}
	return string(r.Str)
}

// ---- a goroutine-safe raw client for load generators (no testing.T) ----

type rawConn struct {
	c   net.Conn
	buf []byte
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c}, nil
}

func (r *rawConn) Close() { _ = r.c.Close() }

// do sends one command and reads its reply within d.
func (r *rawConn) do(d time.Duration, args ...string) (resp.Reply, error) {
	_ = r.c.SetDeadline(time.Now().Add(d))
	if _, err := r.c.Write(resp.AppendCommandStrings(nil, args...)); err != nil {
		return resp.Reply{}, err
	}
	return r.read()
}

func (r *rawConn) read() (resp.Reply, error) {
	var tmp [16 << 10]byte
	for {
		if len(r.buf) > 0 {
			rep, n, err := resp.ReadReply(r.buf)
			if err != nil {
				return resp.Reply{}, err
			}
			if n > 0 {
				rep = respread.Clone(rep)
				r.buf = append(r.buf[:0], r.buf[n:]...)
				return rep, nil
			}
		}
		n, err := r.c.Read(tmp[:])
		r.buf = append(r.buf, tmp[:n]...)
		if n == 0 && err != nil {
			return resp.Reply{}, err
		}
	}
}

var errShape = errors.New("unexpected reply shape")

// jobsOf decodes a GETJOB reply: queue, id, body (and counters) per job.
func jobsOf(r resp.Reply) ([]testclient.Job, error) {
	if r.Kind != resp.KindArray {
		return nil, fmt.Errorf("%w: %s", errShape, r)
	}
	var out []testclient.Job
	for _, e := range r.Elems {
		if e.Kind != resp.KindArray || len(e.Elems) < 3 {
			return nil, fmt.Errorf("%w: %s", errShape, r)
		}
		j := testclient.Job{Queue: string(e.Elems[0].Str), ID: string(e.Elems[1].Str), Body: string(e.Elems[2].Str)}
		if len(e.Elems) == 7 {
			j.Nacks, j.AddDel, j.Counters = e.Elems[4].Int, e.Elems[6].Int, true
		}
		out = append(out, j)
	}
	return out, nil
}
