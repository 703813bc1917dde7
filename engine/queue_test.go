package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// TestQueues covers QLEN, QPEEK, QSTAT and PAUSE (commands.md 3.1-3.3,
// 3.5; semantics.md 4) and FIFO order.
func TestQueues(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	t.Run("QLen", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect(":0", "QLEN", "qu-qlen")
		c.Expect("(nil array)", "QSTAT", "qu-qlen") // QLEN does not create the queue
		for i := 1; i <= 3; i++ {
			c.AddJob("qu-qlen", "x")
			c.Expect(":"+itoa(int64(i)), "QLEN", "qu-qlen")
		}
		c.AddJob("qu-qlen", "delayed", "DELAY", "100")
		c.Expect(":3", "QLEN", "qu-qlen") // a delayed job is not queued yet
		c.Expect(errArity("qlen"), "QLEN")
		c.Expect(errArity("qlen"), "QLEN", "a", "b")
	})

	t.Run("QPeek", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "qu-qpeek"
		c.Expect("[]", "QPEEK", q, "5")
		c.Expect("[]", "QPEEK", q, "-5")
		c.Expect("[]", "QPEEK", q, "0")
		c.Expect(errNotInteger, "QPEEK", q, "abc")
		c.Expect(errNotInteger, "QPEEK", q, "1.5")
		c.Expect(errNotInteger, "QPEEK", q, "9223372036854775808")
		c.Expect(errArity("qpeek"), "QPEEK", q)
		c.Expect(errArity("qpeek"), "QPEEK", q, "1", "2")
		ids := []string{c.AddJob(q, "1"), c.AddJob(q, "2"), c.AddJob(q, "3")}
		item := func(i int) string { return `["` + q + `" "` + ids[i] + `" "` + itoa(int64(i+1)) + `"]` }
		for _, tc := range []struct {
			count string
			want  string
		}{
			{"1", "[" + item(0) + "]"},
			{"2", "[" + item(0) + " " + item(1) + "]"},
			{"3", "[" + item(0) + " " + item(1) + " " + item(2) + "]"},
			{"100", "[" + item(0) + " " + item(1) + " " + item(2) + "]"},
			{"-1", "[" + item(2) + "]"},
			{"-2", "[" + item(2) + " " + item(1) + "]"},
			{"-100", "[" + item(2) + " " + item(1) + " " + item(0) + "]"},
			{"9223372036854775807", "[" + item(0) + " " + item(1) + " " + item(2) + "]"},
			{"-9223372036854775807", "[" + item(2) + " " + item(1) + " " + item(0) + "]"},
			{"-9223372036854775808", "[" + item(2) + " " + item(1) + " " + item(0) + "]"},
			{"0", "[]"},
			{"-0", "[]"},
		} {
			if got := c.DoS("QPEEK", q, tc.count); got != tc.want {
				t.Errorf("QPEEK %s %s: got %s; want %s", q, tc.count, got, tc.want)
			}
		}
		// QPEEK consumes nothing and changes no state.
		c.Expect(":3", "QLEN", q)
		if st := state(t, c, ids[0]); st != "queued" {
			t.Errorf("after QPEEK: state got %q; want queued", st)
		}
		// It works on a paused queue too.
		c.Expect("+all", "PAUSE", q, "all")
		c.Expect("["+item(0)+"]", "QPEEK", q, "1")
		c.Expect(":3", "QLEN", q)
		c.Expect("+none", "PAUSE", q, "none")
		// An emptied queue.
		c.GetJobs("COUNT", "3", "FROM", q)
		c.Expect("[]", "QPEEK", q, "3")
	})

	t.Run("QStat", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "qu-qstat"
		c.Expect("(nil array)", "QSTAT", q)
		c.Expect(errArity("qstat"), "QSTAT")
		a := c.AddJob(q, "a")
		c.AddJob(q, "b")
		c.AddJob(q, "c")
		c.GetJobs("FROM", q)
		r := c.Do("QSTAT", q)
		if r.Kind != resp.KindArray || len(r.Elems) != 20 {
			t.Fatalf("QSTAT: got %s; want a 20-element array", r)
		}
		keys := []string{"name", "len", "age", "idle", "blocked", "import-from", "import-rate", "jobs-in", "jobs-out", "pause"}
		kinds := []resp.Kind{resp.KindBulk, resp.KindInt, resp.KindInt, resp.KindInt, resp.KindInt, resp.KindArray,
			resp.KindInt, resp.KindInt, resp.KindInt, resp.KindBulk}
		for i, k := range keys {
			if got := r.Elems[2*i]; got.Kind != resp.KindBulk || string(got.Str) != k {
				t.Errorf("QSTAT key %d: got %s; want %q", i, got, k)
			}
			if got := r.Elems[2*i+1]; got.Kind != kinds[i] || got.IsNull() {
				t.Errorf("QSTAT %s: got %s; want a %s", k, got, kinds[i])
			}
		}
		for k, v := range map[string]string{"name": `"` + q + `"`, "len": ":2", "blocked": ":0", "import-from": "[]",
			"import-rate": ":0", "jobs-in": ":3", "jobs-out": ":1", "pause": `"none"`} {
			if got := testclient.Field(r, k).String(); got != v {
				t.Errorf("QSTAT %s: got %s; want %s", k, got, v)
			}
		}
		if age := testclient.Field(r, "age").Int; age < 0 || age > 5 {
			t.Errorf("QSTAT age: got %d; want 0..5 s", age)
		}
		if idle := testclient.Field(r, "idle").Int; idle < 0 || idle > 5 {
			t.Errorf("QSTAT idle: got %d; want 0..5 s", idle)
		}
		// jobs-in counts NACK requeues; jobs-out is untouched by ACKJOB,
		// DELJOB, DEQUEUE and WORKING.
		c.Expect(":1", "NACK", a)
		ids := c.GetJobs("COUNT", "3", "FROM", q)
		if len(ids) != 3 {
			t.Fatalf("GETJOB COUNT 3: got %s", jobsString(ids))
		}
		c.Expect(":1", "NACK", ids[0].ID)
		c.Expect(":1", "ENQUEUE", ids[1].ID)
		if got := qstatInt(t, c, q, "jobs-in"); got != 6 {
			t.Errorf("QSTAT jobs-in after 3 ADDJOB, 2 NACK, 1 ENQUEUE: got %d; want 6", got)
		}
		out := qstatInt(t, c, q, "jobs-out")
		c.Expect(":1", "DEQUEUE", ids[0].ID)
		c.Expect(":300", "WORKING", ids[1].ID)
		c.Expect(":3", "ACKJOB", ids[0].ID, ids[1].ID, ids[2].ID)
		if got := qstatInt(t, c, q, "jobs-out"); got != out {
			t.Errorf("QSTAT jobs-out after DEQUEUE/WORKING/ACKJOB: got %d; want %d", got, out)
		}
		c.Expect(":0", "QLEN", q)
		// blocked
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "FROM", q)
		waitBlocked(t, c, q, 1)
		id := c.AddJob(q, "w")
		if got, want := b.Read().String(), `[["`+q+`" "`+id+`" "w"]]`; got != want {
			t.Fatalf("blocked GETJOB: got %s; want %s", got, want)
		}
		b.Expect(":1", "ACKJOB", id)
	})

	t.Run("PauseRules", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "qu-pause"
		for _, tc := range []struct {
			opts, want string
		}{
			{"state", "+none"},
			{"none", "+none"},
			{"in", "+in"},
			{"out", "+out"}, // built from scratch: the previous in is gone
			{"state", "+out"},
			{"bcast", "+out"},
			{"in out", "+all"},
			{"none", "+none"},
			{"all", "+all"},
			{"in", "+in"},
			{"out none in", "+in"},
			{"all none", "+none"},
			{"OUT", "+out"},
			{"In StAtE", "+in"},
			{"foo", errSyntax},
			{"state", "+in"},
			{"out foo", errSyntax},
			{"state", "+in"},
			{"none", "+none"},
		} {
			c.Expect(tc.want, append([]string{"PAUSE", q}, strings.Fields(tc.opts)...)...)
		}
		c.Expect(errArity("pause"), "PAUSE", q)
		c.Expect(errArity("pause"), "PAUSE")
		// PAUSE creates a queue only for a state other than none.
		c.Expect("+none", "PAUSE", "qu-pause-new", "state")
		c.Expect("+none", "PAUSE", "qu-pause-new", "none")
		c.Expect("(nil array)", "QSTAT", "qu-pause-new")
		c.Expect("+out", "PAUSE", "qu-pause-new", "out")
		r := c.Do("QSTAT", "qu-pause-new")
		if r.Kind != resp.KindArray || r.IsNull() || testclient.Field(r, "pause").String() != `"out"` {
			t.Errorf("QSTAT after PAUSE out on a new queue: got %s; want pause \"out\"", r)
		}
		c.Expect("+none", "PAUSE", "qu-pause-new", "none")
		for _, st := range []string{"in", "out", "all"} {
			c.Expect("+"+st, "PAUSE", "qu-pause-q", st)
			if got := c.Do("QSTAT", "qu-pause-q"); testclient.Field(got, "pause").String() != `"`+st+`"` {
				t.Errorf("QSTAT pause after PAUSE %s: got %s", st, got)
			}
		}
	})

	t.Run("PausedIn", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "qu-pausein"
		a := c.AddJob(q, "a")
		c.Expect("+in", "PAUSE", q, "in")
		c.Expect(errPaused, "ADDJOB", q, "b", "0")
		c.Expect(":1", "QLEN", q)
		// Output still works; NACK and ENQUEUE are not blocked by an input pause.
		c.Expect(`[["`+q+`" "`+a+`" "a"]]`, "GETJOB", "NOHANG", "FROM", q)
		c.Expect(":1", "NACK", a)
		c.Expect(":1", "QLEN", q)
		c.Expect("+none", "PAUSE", q, "none")
		c.AddJob(q, "b")
		c.Expect(":2", "QLEN", q)
	})

	t.Run("PausedOut", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "qu-pauseout"
		other := diffShards("qu-pauseout-other", 2, 2)
		c.Expect("+out", "PAUSE", q, "out")
		a := c.AddJob(q, "a") // input allowed
		c.Expect(":1", "QLEN", q)
		c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", q)
		c.Expect("(nil array)", "GETJOB", "TIMEOUT", "100", "FROM", q)
		// Another listed queue still gives jobs.
		for _, o := range other {
			id := c.AddJob(o, "o")
			c.Expect(`[["`+o+`" "`+id+`" "o"]]`, "GETJOB", "NOHANG", "COUNT", "5", "FROM", q, o)
		}
		c.Expect(":1", "QLEN", q)
		// A blocked client wakes when the output pause is cleared.
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "FROM", q)
		waitBlocked(t, c, q, 1)
		b.ExpectSilent(200*time.Millisecond, "GETJOB on a queue paused out")
		c.Expect("+in", "PAUSE", q, "in") // clears out
		if got, want := b.Read().String(), `[["`+q+`" "`+a+`" "a"]]`; got != want {
			t.Fatalf("blocked GETJOB after clearing the output pause: got %s; want %s", got, want)
		}
		c.Expect("+none", "PAUSE", q, "none")
		// The same across shards: the client waits on two queues.
		c.Expect("+out", "PAUSE", other[0], "out")
		id := c.AddJob(other[0], "x")
		b.Send("GETJOB", "FROM", other[0], other[1])
		waitBlocked(t, c, other[1], 1)
		b.ExpectSilent(200*time.Millisecond, "GETJOB on a paused-out queue and an empty one")
		c.Expect("+none", "PAUSE", other[0], "none")
		if got, want := b.Read().String(), `[["`+other[0]+`" "`+id+`" "x"]]`; got != want {
			t.Fatalf("blocked GETJOB across shards after clearing the output pause: got %s; want %s", got, want)
		}
	})

	t.Run("FIFO100", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "qu-fifo"
		var cmds [][]string
		for i := 0; i < 100; i++ {
			cmds = append(cmds, []string{"ADDJOB", q, fmt.Sprint(i), "0"})
		}
		var ids []string
		for _, r := range c.Pipeline(cmds...) {
			if r.Kind != resp.KindSimple {
				t.Fatalf("ADDJOB: got %s", r)
			}
			ids = append(ids, string(r.Str))
		}
		c.Expect(":100", "QLEN", q)
		js := c.GetJobs("COUNT", "60", "FROM", q)
		for i := 0; i < 40; i++ {
			js = append(js, c.GetJobs("FROM", q)...)
		}
		if len(js) != 100 {
			t.Fatalf("fetched %d jobs; want 100", len(js))
		}
		for i, j := range js {
			if j.Body != fmt.Sprint(i) || j.ID != ids[i] {
				t.Fatalf("job %d: got %s/%s; want body %d (FIFO order)", i, j.ID, j.Body, i)
			}
		}
		c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", q)
	})
}
