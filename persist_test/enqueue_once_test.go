package persist_test

import (
	"os"
	"regexp"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

// TestEnqueueJobsOnce: the controlled-restart procedure (semantics.md
// 13.1): CONFIG SET aof-enqueue-jobs-once yes, CONFIG REWRITE, SHUTDOWN
// REWRITE-AOF. The next start loads the log even with appendonly no,
// queued jobs are queued again at once (active ones stay active), and the
// option turns itself off, in the running config and in the file.
func TestEnqueueJobsOnce(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	for _, appendonly := range []string{"yes", "no"} {
		t.Run("appendonly-"+appendonly, func(t *testing.T) { enqueueOnce(t, appendonly) })
	}
}

var enqueueOnceLine = regexp.MustCompile(`(?m)^aof-enqueue-jobs-once\s+(\S+)\s*$`)

func enqueueOnceInFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := enqueueOnceLine.FindAllStringSubmatch(string(b), -1)
	switch len(m) {
	case 0:
		return ""
	case 1:
		return m[0][1]
	}
	t.Fatalf("%s has %d aof-enqueue-jobs-once lines:\n%s", path, len(m), b)
	return ""
}

func enqueueOnce(t *testing.T, appendonly string) {
	dir := t.TempDir()
	port := testserver.FreePort(t)
	cfg := writeConfig(t, dir, port, "appendonly "+appendonly)
	srv := testserver.StartArgs(t, dir, port, cfg)
	c := testclient.Dial(t, srv.Addr)

	idA := c.AddJob("eq", "active", "RETRY", "30")
	if got := c.GetJobs("NOHANG", "FROM", "eq"); len(got) != 1 || got[0].ID != idA {
		t.Fatalf("GETJOB NOHANG FROM eq: got %v; want %s", got, idA)
	}
	queued := addJobs(t, c, "eq", 5, "RETRY", "30")
	gone := c.AddJob("eq", "acked")
	ackJobs(t, c, []string{gone})
	if n := c.Int("QLEN", "eq"); n != 5 {
		t.Fatalf("QLEN eq: %d; want 5", n)
	}

	c.Expect("+OK", "CONFIG", "SET", "aof-enqueue-jobs-once", "yes")
	c.Expect("+OK", "CONFIG", "REWRITE")
	if v := enqueueOnceInFile(t, cfg); v != "yes" {
		t.Fatalf("after CONFIG REWRITE the config file says aof-enqueue-jobs-once %q; want yes", v)
	}
	shutdownRewrite(t, srv, c)
	if fileSize(t, aofPath(dir)) == 0 {
		t.Fatalf("SHUTDOWN REWRITE-AOF left an empty %s", aofFile)
	}

	// Second start, from the config file alone.
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	if n := c.Int("QLEN", "eq"); n != 5 {
		t.Errorf("QLEN eq after the enqueue-once restart: %d; want 5 (queued jobs queued again at once)", n)
	}
	for _, id := range queued {
		if s := jobState(t, c, id); s != "queued" {
			t.Errorf("SHOW %s after the enqueue-once restart: state %q; want queued", id, s)
		}
	}
	if s := jobState(t, c, idA); s != "active" {
		t.Errorf("SHOW %s (delivered before the restart): state %q; want active", idA, s)
	}
	if s := jobState(t, c, gone); s != "" {
		t.Errorf("SHOW %s (acknowledged before the restart): state %q; want unknown", gone, s)
	}
	if got := c.DoS("CONFIG", "GET", "aof-enqueue-jobs-once"); got != `["aof-enqueue-jobs-once" "no"]` {
		t.Errorf("CONFIG GET aof-enqueue-jobs-once after the restart: %s; want no", got)
	}
	if v := enqueueOnceInFile(t, cfg); v != "no" {
		b, _ := os.ReadFile(cfg)
		t.Errorf("config file after the enqueue-once restart says aof-enqueue-jobs-once %q; want no:\n%s", v, b)
	}
	if got := c.DoS("CONFIG", "GET", "appendonly"); got != `["appendonly" "`+appendonly+`"]` {
		t.Errorf("CONFIG GET appendonly after the restart: %s; want %s", got, appendonly)
	}
	got := c.GetJobs("NOHANG", "COUNT", "10", "FROM", "eq")
	if len(got) != 5 {
		t.Errorf("GETJOB NOHANG COUNT 10 FROM eq: %d jobs; want 5", len(got))
	}

	// Third start: the option is off now. With appendonly yes the jobs
	// load active (nothing queued); with appendonly no nothing loads.
	srv.Stop()
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	if n := c.Int("QLEN", "eq"); n != 0 {
		t.Errorf("QLEN eq after a normal restart: %d; want 0", n)
	}
	held := jobSet(t, c, "QUEUE", "eq")
	want := 0
	if appendonly == "yes" {
		want = 6
	}
	if len(held) != want {
		t.Errorf("jobs of eq after a normal restart with appendonly %s: %d; want %d", appendonly, len(held), want)
	}
}

// shutdownRewrite sends SHUTDOWN REWRITE-AOF and expects the connection to
// close without a reply and the process to exit. A server that hangs is
// reported and killed, so that the test can go on with the file it left.
func shutdownRewrite(t *testing.T, srv *testserver.Server, c *testclient.Conn) {
	t.Helper()
	c.Send("SHUTDOWN", "REWRITE-AOF")
	out, err := c.ReadClosed(5 * time.Second)
	if !testclient.IsClosedErr(err) {
		t.Errorf("SHUTDOWN REWRITE-AOF: connection still open after 5 s (read %q, %v); want it closed without a reply", out, err)
	} else if len(out) != 0 {
		t.Errorf("SHUTDOWN REWRITE-AOF replied %q; want no reply (connection closed)", out)
	}
	if !srv.Wait(5 * time.Second) {
		t.Errorf("the server did not exit within 5 s of SHUTDOWN REWRITE-AOF; killed (log tail: %s)", tail(srv.Log(), 600))
		srv.Kill()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
