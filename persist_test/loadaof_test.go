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
