package persist_test

import (
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

// TestRequeueAfterRestart: loaded jobs are held active, not queued
// (queue membership does not survive a restart), and the requeue timer
// restarts at load time + (DELAY + RETRY) s + jitter, so a GETJOB gets them
// a little later. At-most-once jobs (RETRY 0) are never queued again.
func TestRequeueAfterRestart(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes")
	c := testclient.Dial(t, srv.Addr)

	// idA: delivered once (active); idQ: queued; idD: DELAY 1 (active
	// until the delay); idM: at-most-once, queued.
	idA := c.AddJob("rq", "delivered", "RETRY", "1")
	if got := c.GetJobs("NOHANG", "FROM", "rq"); len(got) != 1 || got[0].ID != idA {
		t.Fatalf("GETJOB NOHANG FROM rq: got %v; want %s", got, idA)
	}
	idQ := c.AddJob("rq", "queued", "RETRY", "1")
	idD := c.AddJob("rqd", "delayed", "DELAY", "1", "RETRY", "1")
	idM := c.AddJob("rqm", "at-most-once", "REPLICATE", "1", "RETRY", "0")
	if s := jobState(t, c, idQ); s != "queued" {
		t.Fatalf("before the restart: SHOW %s state %q; want queued", idQ, s)
	}
	if s := jobState(t, c, idM); s != "queued" {
		t.Fatalf("before the restart: SHOW %s state %q; want queued", idM, s)
	}

	srv.Kill()
	restart(t, srv)
	up := time.Now()
	c = testclient.Dial(t, srv.Addr)

	// At once: everything is back, active, no queue holds anything.
	for _, id := range []string{idA, idQ, idD, idM} {
		s := jobState(t, c, id)
		switch {
		case s == "":
			t.Fatalf("after the restart: SHOW %s: unknown job", id)
		case s == "queued" && time.Since(up) < 600*time.Millisecond:
			t.Errorf("after the restart: SHOW %s state queued %v after startup; loaded jobs are active until DELAY+RETRY", id, time.Since(up))
		case s != "active" && s != "queued":
			t.Errorf("after the restart: SHOW %s state %q; want active", id, s)
		}
	}
	if n := c.Int("QLEN", "rqm"); n != 0 {
		t.Errorf("QLEN rqm right after the restart: %d; want 0", n)
	}

	// After RETRY (1 s) + jitter both RETRY-1 jobs of rq come back.
	want := map[string]bool{idA: true, idQ: true}
	deadline := time.Now().Add(4 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		for _, j := range c.GetJobs("TIMEOUT", "4000", "COUNT", "10", "FROM", "rq") {
			delete(want, j.ID)
		}
	}
	if len(want) > 0 {
		t.Errorf("GETJOB TIMEOUT 4000 FROM rq after the restart: %v never delivered", want)
	}
	t.Logf("RETRY 1 jobs delivered again %v after the restart", time.Since(up).Round(time.Millisecond))
	if got := c.GetJobs("TIMEOUT", "4000", "FROM", "rqd"); len(got) != 1 || got[0].ID != idD {
		t.Errorf("GETJOB TIMEOUT 4000 FROM rqd (DELAY 1 RETRY 1): got %v; want %s", got, idD)
	}

	// The at-most-once job stays held, active, and is never delivered.
	if got := c.GetJobs("TIMEOUT", "2500", "FROM", "rqm"); len(got) != 0 {
		t.Errorf("GETJOB TIMEOUT 2500 FROM rqm: at-most-once job delivered again after a restart: %v", got)
	}
	if s := jobState(t, c, idM); s != "active" {
		t.Errorf("at-most-once job after the restart: SHOW state %q; want active (held, never requeued)", s)
	}
}
