package persist_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

// TestRewriteDuringLoad: BGREWRITEAOF (twice) while producers add and
// consumers acknowledge jobs without pause; after the load stops, the set
// of held jobs is recorded, the server is killed and restarted: the log
// (rewritten file + what followed) reproduces exactly that set.
func TestRewriteDuringLoad(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes")
	c := testclient.Dial(t, srv.Addr)
	addJobs(t, c, "rwl-old", 5000, "RETRY", "60") // something for the snapshot to copy

	l := newLoad()
	l.produce(t, srv.Addr, "rwl", 4, 16)
	l.consume(t, srv.Addr, "rwl", 2)
	time.Sleep(300 * time.Millisecond)
	for i := 1; i <= 2; i++ {
		before := l.ackedCount()
		t0 := time.Now()
		c.Expect("+Background append only file rewriting started", "BGREWRITEAOF")
		if r := c.DoS("BGREWRITEAOF"); r != "-ERR Background append only file rewriting already in progress" && r != "+Background append only file rewriting started" {
			t.Errorf("second BGREWRITEAOF during a rewrite: %s", r)
		}
		waitInfo(t, c, 30*time.Second, "aof_rewrite_in_progress", "0")
		t.Logf("rewrite %d took about %v; %d ADDJOBs acknowledged meanwhile", i, time.Since(t0).Round(time.Millisecond), l.ackedCount()-before)
		if st := c.Info("persistence")["aof_last_bgrewrite_status"]; st != "ok" {
			t.Fatalf("aof_last_bgrewrite_status:%s after rewrite %d; want ok", st, i)
		}
		time.Sleep(200 * time.Millisecond)
	}
	acked := l.Stop()
	want := heldJobs(t, c)
	all := jobSet(t, c)
	t.Logf("load: %d ADDJOBs acknowledged, %d jobs acknowledged by consumers, errors %s; %d jobs held (active/queued), %d in any state",
		len(acked), l.acks, l.errorSummary(), len(want), len(all))
	srv.Kill()
	checkAOF(t, aofPath(dir), 0)
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	compareSets(t, "held jobs after two rewrites during load, SIGKILL and restart", want, jobSet(t, c))
}

// TestAutoRewrite: with a small auto-aof-rewrite-min-size the cron rewrites
// the file by itself once it doubled: aof_base_size grows from the empty
// file's size, and the job set survives a kill afterwards.
func TestAutoRewrite(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes",
		"--auto-aof-rewrite-min-size", "65536", "--auto-aof-rewrite-percentage", "100")
	c := testclient.Dial(t, srv.Addr)
	base0 := infoInt(t, c, "aof_base_size")
	ids := addJobs(t, c, "auto", 3000)
	ackJobs(t, c, ids[:2500])
	deadline := time.Now().Add(10 * time.Second)
	var base int64
	for {
		base = infoInt(t, c, "aof_base_size")
		if base != base0 && c.Info("persistence")["aof_rewrite_in_progress"] == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no automatic rewrite within 10 s: aof_base_size %d (at start %d), aof_current_size %d",
				base, base0, infoInt(t, c, "aof_current_size"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cur := infoInt(t, c, "aof_current_size")
	t.Logf("automatic rewrite: aof_base_size %d -> %d, aof_current_size %d", base0, base, cur)
	if base <= base0 {
		t.Errorf("aof_base_size %d after the automatic rewrite; want more than the empty file's %d", base, base0)
	}
	if !strings.Contains(srv.Log(), "automatic rewriting") {
		t.Errorf("no log line about the automatic rewrite")
	}
	want := heldJobs(t, c)
	if len(want) != 500 {
		t.Errorf("%d jobs held; want 500", len(want))
	}
	srv.Kill()
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	compareSets(t, "after an automatic rewrite, SIGKILL and restart", want, jobSet(t, c))
}

// TestConfigSetAppendonly: turning the log on at run time rewrites the
// jobs held so far into a new file (aof_state wait-rewrite, then on), and
// what follows is logged; turning it off stops logging.
func TestConfigSetAppendonly(t *testing.T) {
	t.Run("yes", func(t *testing.T) {
		dir := t.TempDir()
		srv := testserver.StartIn(t, dir)
		c := testclient.Dial(t, srv.Addr)
		before := addJobs(t, c, "on", 20000)
		if _, err := os.Stat(aofPath(dir)); err == nil {
			t.Fatalf("%s exists with appendonly no", aofFile)
		}
		c.Expect("+OK", "CONFIG", "SET", "appendonly", "yes")
		first := c.Info("persistence")["aof_state"]
		if first != "wait-rewrite" && first != "on" {
			t.Errorf("aof_state right after CONFIG SET appendonly yes: %q; want wait-rewrite (or on once the rewrite finished)", first)
		}
		after := addJobs(t, c, "on", 100) // during or after the rewrite
		waitInfo(t, c, 20*time.Second, "aof_state", "on")
		t.Logf("aof_state right after CONFIG SET appendonly yes: %s", first)
		if got := c.DoS("CONFIG", "GET", "appendonly"); got != `["appendonly" "yes"]` {
			t.Errorf("CONFIG GET appendonly: %s", got)
		}
		if n := fileSize(t, aofPath(dir)); n == 0 {
			t.Fatalf("%s is empty after the first rewrite", aofFile)
		}
		later := addJobs(t, c, "on", 100)
		want := heldJobs(t, c)
		if len(want) != len(before)+len(after)+len(later) {
			t.Fatalf("%d jobs held; want %d", len(want), len(before)+len(after)+len(later))
		}
		srv.Kill()
		srv2 := testserver.StartIn(t, dir, "--appendonly", "yes")
		c = testclient.Dial(t, srv2.Addr)
		compareSets(t, "CONFIG SET appendonly yes at run time, SIGKILL, restart with appendonly yes", want, jobSet(t, c))
	})
	t.Run("no", func(t *testing.T) {
		dir := t.TempDir()
		srv := testserver.StartIn(t, dir, "--appendonly", "yes")
		c := testclient.Dial(t, srv.Addr)
		kept := addJobs(t, c, "off", 50)
		c.Expect("+OK", "CONFIG", "SET", "appendonly", "no")
		if st := c.Info("persistence")["aof_state"]; st != "off" {
			t.Errorf("aof_state after CONFIG SET appendonly no: %q; want off", st)
		}
		size := fileSize(t, aofPath(dir))
		notLogged := addJobs(t, c, "off", 50)
		ackJobs(t, c, kept[:10]) // not logged either: the acked jobs come back
		if n := fileSize(t, aofPath(dir)); n != size {
			t.Errorf("%s grew from %d to %d bytes with appendonly no", aofFile, size, n)
		}
		srv.Kill()
		srv2 := testserver.StartIn(t, dir, "--appendonly", "yes")
		c = testclient.Dial(t, srv2.Addr)
		compareSets(t, "jobs logged before CONFIG SET appendonly no", setOf(kept), jobSet(t, c))
		_ = notLogged
	})
}
