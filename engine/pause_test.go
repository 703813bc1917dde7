package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// pauseModel is PAUSE's rule (commands.md 3.5): the new state is built from
// scratch, left to right; it replaces the current one only if in, out, all
// or none appeared.
func pauseModel(current string, opts []string) string {
	bits := map[string]int{"none": 0, "in": 1, "out": 2, "all": 3}
	names := []string{"none", "in", "out", "all"}
	st, set := 0, false
	for _, o := range opts {
		switch o := strings.ToLower(o); o {
		case "in", "out", "all":
			st |= bits[o]
			set = true
		case "none":
			st, set = 0, true
		}
	}
	if !set {
		return current
	}
	return names[st]
}

// qpause returns QSTAT's pause field, or "" when the queue does not exist.
func qpause(t testing.TB, c *testclient.Conn, q string) string {
	t.Helper()
	r := c.Do("QSTAT", q)
	if r.Kind == resp.KindArray && r.IsNull() {
		return ""
	}
	if r.Kind != resp.KindArray || len(r.Elems) != 20 {
		t.Fatalf("QSTAT %s: got %s", q, r)
	}
	return string(testclient.Field(r, "pause").Str)
}

// TestPause covers PAUSE (commands.md 3.5, semantics.md 4.5): the state
// transitions from every state, creation rules, and the effect of each state
// on ADDJOB, GETJOB and timer requeues.
func TestPause(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	t.Run("Transitions", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		// Literal rows of the spec first.
		for _, tc := range []struct{ from, opts, want string }{
			{"out", "in", "in"},
			{"none", "in out", "all"},
			{"all", "out none in", "in"},
			{"all", "state", "all"},
			{"in", "bcast", "in"},
			{"in", "none", "none"},
		} {
			q := "pa-lit-" + tc.from + "-" + strings.ReplaceAll(tc.opts, " ", "-")
			c.Expect("+"+tc.from, "PAUSE", q, tc.from)
			c.Expect("+"+tc.want, append([]string{"PAUSE", q}, strings.Fields(tc.opts)...)...)
		}
		// Every start state x every option list.
		optLists := []string{
			"in", "out", "all", "none", "state", "bcast", "state bcast", "bcast state",
			"in out", "out in", "in in", "in none", "none in", "none out", "out none in", "all none",
			"all none in", "in state out", "state none", "bcast none", "bcast in", "in bcast out",
			"IN", "Out", "ALL", "NoNe", "STATE", "BCast", "iN oUt", "none none", "all all", "out all",
		}
		for i, from := range []string{"none", "in", "out", "all"} {
			for j, opts := range optLists {
				q := fmt.Sprintf("pa-tr-%d-%d", i, j)
				c.Expect("+"+from, "PAUSE", q, from)
				want := pauseModel(from, strings.Fields(opts))
				got := c.DoS(append([]string{"PAUSE", q}, strings.Fields(opts)...)...)
				if got != "+"+want {
					t.Errorf("PAUSE %s %s on a queue paused %s: got %s; want +%s", q, opts, from, got, want)
					continue
				}
				c.Expect("+"+want, "PAUSE", q, "state")
				// A queue with state none and no jobs may not exist at all.
				if p := qpause(t, c, q); p != want && !(p == "" && want == "none") {
					t.Errorf("QSTAT %s pause after PAUSE %s (from %s): got %q; want %q", q, opts, from, p, want)
				}
			}
		}
	})

	t.Run("SyntaxErrorChangesNothing", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "pa-syntax"
		c.Expect("+out", "PAUSE", q, "out")
		for _, opts := range [][]string{{"foo"}, {"in", "foo"}, {"foo", "in"}, {"none", "x"}, {"all", ""}, {"in", "out", "inout"}} {
			c.Expect(errSyntax, append([]string{"PAUSE", q}, opts...)...)
			c.Expect("+out", "PAUSE", q, "state")
		}
		c.Expect(errArity("pause"), "PAUSE", q)
		c.Expect(errArity("pause"), "PAUSE")
		// A syntax error on a missing queue creates nothing.
		c.Expect(errSyntax, "PAUSE", "pa-syntax-new", "in", "bogus")
		c.Expect("(nil array)", "QSTAT", "pa-syntax-new")
	})

	t.Run("Creation", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		// Only a resulting state other than none creates the queue.
		for i, opts := range []string{"state", "none", "bcast", "in none", "state bcast", "all none"} {
			q := fmt.Sprintf("pa-new-%d", i)
			c.Expect("+none", append([]string{"PAUSE", q}, strings.Fields(opts)...)...)
			c.Expect("(nil array)", "QSTAT", q)
		}
		for _, st := range []string{"in", "out", "all"} {
			q := "pa-new-" + st
			c.Expect("+"+st, "PAUSE", q, st)
			if p := qpause(t, c, q); p != st {
				t.Errorf("QSTAT %s pause: got %q; want %q", q, p, st)
			}
			c.Expect(":0", "QLEN", q)
		}
	})

	t.Run("Effects", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for _, st := range []string{"none", "in", "out", "all"} {
			q := "pa-eff-" + st
			first := c.AddJob(q, "first")
			c.Expect("+"+st, "PAUSE", q, st)
			// Input pause: ADDJOB refused, whatever its options.
			r := c.DoS("ADDJOB", q, "second", "0")
			paused := st == "in" || st == "all"
			if paused && r != errPaused {
				t.Errorf("ADDJOB on a queue paused %s: got %s; want %s", st, r, errPaused)
			}
			if !paused && !strings.HasPrefix(r, "+D-") {
				t.Errorf("ADDJOB on a queue paused %s: got %s; want a job ID", st, r)
			}
			if paused {
				c.Expect(errPaused, "ADDJOB", q, "x", "0", "ASYNC", "DELAY", "5", "MAXLEN", "100")
			}
			want := int64(1)
			if !paused {
				want = 2
			}
			if n := qlen(c, q); n != want {
				t.Errorf("QLEN of a queue paused %s: got %d; want %d (paused queues report their real length)", st, n, want)
			}
			// Output pause: GETJOB takes nothing.
			out := st == "out" || st == "all"
			js := c.GetJobs("NOHANG", "COUNT", "10", "FROM", q)
			if out && len(js) != 0 {
				t.Errorf("GETJOB NOHANG on a queue paused %s: got %s; want nothing", st, jobsString(js))
			}
			if !out && (len(js) == 0 || js[0].ID != first) {
				t.Errorf("GETJOB NOHANG on a queue paused %s: got %s; want the queued jobs", st, jobsString(js))
			}
			if out {
				c.Expect("(nil array)", "GETJOB", "TIMEOUT", "50", "FROM", q)
				// QPEEK still shows the jobs.
				if js := testclient.Jobs(t, c.Do("QPEEK", q, "1")); len(js) != 1 || js[0].ID != first {
					t.Errorf("QPEEK on a queue paused %s: got %s; want the first job", st, jobsString(js))
				}
			}
			// NACK and ENQUEUE are not blocked by an input pause.
			if !out {
				c.Expect(":1", "NACK", first)
				c.Expect(":1", "DEQUEUE", first)
				c.Expect(":1", "ENQUEUE", first)
			}
		}
	})

	t.Run("BlockedClientsAndAll", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "pa-block"
		id := c.AddJob(q, "x")
		c.Expect("+all", "PAUSE", q, "all")
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "FROM", q)
		waitBlocked(t, c, q, 1)
		// Clearing only the input pause keeps the output pause: still blocked.
		c.Expect("+out", "PAUSE", q, "out")
		b.ExpectSilent(150*time.Millisecond, "GETJOB on a queue paused out")
		// PAUSE state changes nothing.
		c.Expect("+out", "PAUSE", q, "state", "bcast")
		b.ExpectSilent(100*time.Millisecond, "GETJOB after PAUSE state bcast")
		// Clearing the output pause wakes the blocked client.
		c.Expect("+in", "PAUSE", q, "in")
		if got, want := b.Read().String(), `[["`+q+`" "`+id+`" "x"]]`; got != want {
			t.Fatalf("blocked GETJOB after PAUSE in (output pause cleared): got %s; want %s", got, want)
		}
	})

	t.Run("Requeues", func(t *testing.T) {
		t.Parallel()
		// A requeue due while the queue is paused in (or all) is postponed;
		// an output pause does not stop the requeue itself, only delivery.
		c := testclient.Dial(t, srv.Addr)
		ids := map[string]string{}
		for _, st := range []string{"in", "all", "out"} {
			q := "pa-rq-" + st
			ids[st] = c.AddJob(q, st, "RETRY", "1", "TTL", "60")
			if js := c.GetJobs("NOHANG", "FROM", q); len(js) != 1 {
				t.Fatalf("GETJOB %s: got %s", q, jobsString(js))
			}
			c.Expect("+"+st, "PAUSE", q, st)
		}
		time.Sleep(1700 * time.Millisecond)
		for _, st := range []string{"in", "all"} {
			q := "pa-rq-" + st
			if n := qlen(c, q); n != 0 {
				t.Errorf("RETRY 1 job on a queue paused %s after 1.7 s: QLEN %d; want 0 (requeue postponed)", st, n)
			}
			if s := state(t, c, ids[st]); s != "active" {
				t.Errorf("RETRY 1 job on a queue paused %s after 1.7 s: state %q; want active", st, s)
			}
		}
		if n := qlen(c, "pa-rq-out"); n != 1 {
			t.Errorf("RETRY 1 job on a queue paused out after 1.7 s: QLEN %d; want 1 (requeued, not delivered)", n)
		}
		c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", "pa-rq-out")
		for _, st := range []string{"in", "all"} {
			q := "pa-rq-" + st
			c.Expect("+none", "PAUSE", q, "none")
			testclient.Eventually(t, 3*time.Second, "the requeue of "+q+" once unpaused", func() bool {
				return qlen(c, q) == 1
			})
		}
	})
}

// TestQueueCounters covers the counters NACK and ENQUEUE change (commands.md
// 2.5, 2.6, semantics.md 6.5) and QSTAT's rates on a lone node (3.3).
func TestQueueCounters(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)
	c := testclient.Dial(t, srv.Addr)
	const q = "qc-q"
	counters := func(id string) (int64, int64) {
		t.Helper()
		return showInt(t, c, id, "nacks"), showInt(t, c, id, "additional-deliveries")
	}
	// The first queueing on the creating node (ADDJOB, or the end of a
	// DELAY done by ENQUEUE) is not an additional delivery.
	d := c.AddJob(q, "delayed", "DELAY", "3600")
	c.Expect(":1", "ENQUEUE", d)
	if n, a := counters(d); n != 0 || a != 0 {
		t.Errorf("ENQUEUE of a delayed job (its first queueing): nacks %d additional-deliveries %d; want 0 0", n, a)
	}
	c.Expect(":1", "DEQUEUE", d)
	c.Expect(":1", "ENQUEUE", d)
	if n, a := counters(d); n != 0 || a != 1 {
		t.Errorf("ENQUEUE after DEQUEUE: nacks %d additional-deliveries %d; want 0 1", n, a)
	}
	c.Expect(":0", "ENQUEUE", d) // queued: ignored, not counted
	c.Expect(":0", "NACK", d)
	if n, a := counters(d); n != 0 || a != 1 {
		t.Errorf("ENQUEUE/NACK of a queued job: nacks %d additional-deliveries %d; want 0 1 (ignored)", n, a)
	}
	c.GetJobs("FROM", q)
	c.Expect(":1", "NACK", d)
	c.GetJobs("FROM", q)
	c.Expect(":1", "NACK", d)
	if n, a := counters(d); n != 2 || a != 1 {
		t.Errorf("two NACKs: nacks %d additional-deliveries %d; want 2 1", n, a)
	}
	// A NACK of a delayed job that was never queued counts a nack too.
	d2 := c.AddJob(q, "delayed2", "DELAY", "3600")
	c.Expect(":1", "NACK", d2)
	if n, a := counters(d2); n != 1 || a != 0 {
		t.Errorf("NACK of a never-queued delayed job: nacks %d additional-deliveries %d; want 1 0", n, a)
	}
	// QSTAT: jobs-in counts every queueing, jobs-out every fetch; no import
	// on a lone node.
	r := c.Do("QSTAT", q)
	for k, want := range map[string]string{"jobs-in": ":5", "jobs-out": ":2", "import-rate": ":0", "import-from": "[]", "len": ":2"} {
		if got := testclient.Field(r, k).String(); got != want {
			t.Errorf("QSTAT %s %s: got %s; want %s", q, k, got, want)
		}
	}
	// NACK and ENQUEUE need at least no argument at all.
	c.Expect(":0", "NACK")
	c.Expect(":0", "ENQUEUE")
	c.Expect(":0", "DEQUEUE")
}
