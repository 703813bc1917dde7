package persist_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

// TestDebugLoadAOF: DEBUG LOADAOF drops every job and reloads the log: the
// same jobs are held afterwards (active: queue membership is not logged),
// and the log still holds them, so a restart keeps them too.
func TestDebugLoadAOF(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes")
	c := testclient.Dial(t, srv.Addr)
	ids := addJobs(t, c, "dla", 300, "RETRY", "60")
	ackJobs(t, c, ids[:100])
	want := heldJobs(t, c)
	if len(want) != 200 {
		t.Fatalf("%d jobs held before DEBUG LOADAOF; want 200", len(want))
	}
	c.Expect("+OK", "DEBUG", "LOADAOF")
	got := jobSet(t, c)
	if d := diffSets(want, got); d != "" {
		t.Errorf("DEBUG LOADAOF: %s", d)
	}
	t.Logf("after DEBUG LOADAOF: %d jobs, QLEN %d, job state %q; log: %s", len(got), c.Int("QLEN", "dla"),
		jobState(t, c, ids[150]), strings.Join(strings.Fields(checkAOF(t, aofPath(dir), 0)), " "))

	// The reload must not have changed what the log says.
	srv.Kill()
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	compareSets(t, "DEBUG LOADAOF, then SIGKILL and restart", want, jobSet(t, c))

	// Twice in a row, then a restart.
	c.Expect("+OK", "DEBUG", "LOADAOF")
	c.Expect("+OK", "DEBUG", "LOADAOF")
	compareSets(t, "DEBUG LOADAOF twice", want, jobSet(t, c))
}

// TestDebugLoadAOFOff: without a log DEBUG LOADAOF answers a bare -ERR and
// keeps the jobs.
func TestDebugLoadAOFOff(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	srv := testserver.Start(t)
	c := testclient.Dial(t, srv.Addr)
	ids := addJobs(t, c, "dlo", 10)
	if r := c.DoS("DEBUG", "LOADAOF"); r != "-ERR" && !strings.HasPrefix(r, "-ERR ") {
		t.Errorf("DEBUG LOADAOF with appendonly no: %s; want -ERR", r)
	}
	compareSets(t, "DEBUG LOADAOF with appendonly no", setOf(ids), jobSet(t, c))
}

var recordsLine = regexp.MustCompile(`records:\s+(\d+)`)

// TestShutdownRewriteAOF: SHUTDOWN REWRITE-AOF writes a compact file (one
// LoadJob per held job, nothing for acknowledged ones) before it exits;
// the next start holds the same jobs.
func TestShutdownRewriteAOF(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes")
	c := testclient.Dial(t, srv.Addr)
	ids := addJobs(t, c, "sra", 2000, "RETRY", "60")
	ackJobs(t, c, ids[:1900])
	want := heldJobs(t, c)
	if len(want) != 100 {
		t.Fatalf("%d jobs held; want 100", len(want))
	}
	before := fileSize(t, aofPath(dir))
	shutdownRewrite(t, srv, c)
	after := fileSize(t, aofPath(dir))
	out := checkAOF(t, aofPath(dir), 0)
	m := recordsLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no records line in disq-check-aof output:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n != 100 {
		t.Errorf("rewritten file holds %d records; want 100 (one per held job):\n%s", n, out)
	}
	t.Logf("SHUTDOWN REWRITE-AOF: %d -> %d bytes; %s", before, after, strings.TrimSpace(m[0]))
	if after >= before/5 {
		t.Errorf("file %d bytes after SHUTDOWN REWRITE-AOF; want far less than %d", after, before)
	}
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	compareSets(t, "SHUTDOWN REWRITE-AOF, then start", want, jobSet(t, c))
	if s := c.DoS("SHUTDOWN", "REWRITE-AOF", "NOW"); s != "-ERR syntax error" {
		t.Errorf("SHUTDOWN REWRITE-AOF NOW: %s; want -ERR syntax error", s)
	}
	c.Send("SHUTDOWN")
	c.ExpectClosed(10*time.Second, "SHUTDOWN")
	if !srv.Wait(10 * time.Second) {
		t.Fatal("no exit after SHUTDOWN")
	}
}

// heldServer starts a server in a new directory with appendonly as given,
// adds n jobs to queue (RETRY 60: they stay held) and returns it with a
// connection, the directory and the held job set.
func heldServer(t *testing.T, appendonly, queue string, n int) (*testserver.Server, *testclient.Conn, string, map[string]bool) {
	t.Helper()
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", appendonly)
	c := testclient.Dial(t, srv.Addr)
	addJobs(t, c, queue, n, "RETRY", "60")
	return srv, c, dir, heldJobs(t, c)
}

// bgRewrite sends BGREWRITEAOF and expects it to start.
func bgRewrite(t *testing.T, c *testclient.Conn) {
	t.Helper()
	if s := c.DoS("BGREWRITEAOF"); s != "+Background append only file rewriting started" {
		t.Fatalf("BGREWRITEAOF: %s", s)
	}
}

// TestShutdownRewriteDuringRewrite: SHUTDOWN REWRITE-AOF while a rewrite
// runs (BGREWRITEAOF just before, as an automatic rewrite under load
// would) waits for it and rewrites again, then exits; it used to wait
// forever for a rewrite it had not started. The next start holds the
// same jobs.
func TestShutdownRewriteDuringRewrite(t *testing.T) {
	srv, c, _, want := heldServer(t, "yes", "srd", 100000)
	bgRewrite(t, c)
	if infoInt(t, c, "aof_rewrite_in_progress") != 1 {
		t.Log("the rewrite finished before SHUTDOWN was sent: this run does not exercise the wait")
	}
	shutdownRewrite(t, srv, c)
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	compareSets(t, "SHUTDOWN REWRITE-AOF during a rewrite, then start", want, jobSet(t, c))
}

// TestDebugLoadAOFDuringRewrite: DEBUG LOADAOF while a rewrite runs is
// refused with the spec's error (the reload puts jobs back without log
// records, which a rewrite whose snapshot is half taken would miss), and
// the job set survives the rewrite and a restart.
func TestDebugLoadAOFDuringRewrite(t *testing.T) {
	srv, c, _, want := heldServer(t, "yes", "dlr", 100000)
	rs := c.Pipeline([]string{"BGREWRITEAOF"}, []string{"DEBUG", "LOADAOF"})
	if rs[0].String() != "+Background append only file rewriting started" {
		t.Fatalf("BGREWRITEAOF: %s", rs[0])
	}
	switch got := rs[1].String(); got {
	case "-ERR Background append only file rewriting already in progress":
	case "+OK":
		t.Log("the rewrite finished before DEBUG LOADAOF arrived: this run does not exercise the refusal")
	default:
		t.Fatalf("DEBUG LOADAOF during a rewrite: %s", got)
	}
	waitInfo(t, c, 10*time.Second, "aof_rewrite_in_progress", "0")
	compareSets(t, "after the rewrite", want, jobSet(t, c))
	srv.Kill()
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	compareSets(t, "DEBUG LOADAOF during a rewrite, then SIGKILL and restart", want, jobSet(t, c))
}

// TestRewritesWithLogOff: with appendonly no, BGREWRITEAOF and SHUTDOWN
// REWRITE-AOF sent together each write the file through a temporary
// writer; the second must wait for the first instead of writing the same
// file at the same time. The file left behind loads with every job.
func TestRewritesWithLogOff(t *testing.T) {
	srv, c, dir, want := heldServer(t, "no", "rlo", 50000)
	bgRewrite(t, c)
	if s := c.DoS("BGREWRITEAOF"); s != "-ERR Background append only file rewriting already in progress" {
		t.Logf("second BGREWRITEAOF: %s (the first had finished)", s)
	}
	shutdownRewrite(t, srv, c)
	srv2 := testserver.StartIn(t, dir, "--appendonly", "yes")
	c = testclient.Dial(t, srv2.Addr)
	compareSets(t, "rewrites with the log off, then a start with appendonly yes", want, jobSet(t, c))
}
