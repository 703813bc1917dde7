package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// TestGetJob covers GETJOB (commands.md 2.2) on a 4-shard server: queue
// lists on one shard and across shards must behave the same.
func TestGetJob(t *testing.T) {
	t.Parallel()
	const shards = 4
	srv := startServer(t, shards)

	// pairs returns queue-name pairs on one shard and on two shards.
	pairs := func(prefix string) map[string][2]string {
		s := sameShard(prefix+"-same", 2, shards)
		d := diffShards(prefix+"-diff", 2, shards)
		return map[string][2]string{"SameShard": {s[0], s[1]}, "CrossShard": {d[0], d[1]}}
	}

	t.Run("Routing", func(t *testing.T) {
		t.Parallel()
		// The tests pick queue names by shard (shardOf); check that the
		// server agrees, through the slot its job IDs carry.
		c := testclient.Dial(t, srv.Addr)
		for i := 0; i < 32; i++ {
			q := fmt.Sprint("gj-route-", i)
			id := c.AddJob(q, "x")
			if got, want := idShard(id, shards), shardOf(q, shards); got != want {
				t.Errorf("queue %s: job %s routes to shard %d; the tests assume %d", q, id, got, want)
			}
			c.Expect(":1", "DELJOB", id)
		}
	})

	t.Run("NoHangEmpty", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", "gj-empty")
		for name, p := range pairs("gj-empty") {
			if got := c.DoS("GETJOB", "NOHANG", "COUNT", "3", "FROM", p[0], p[1], p[0]); got != "(nil array)" {
				t.Errorf("%s: GETJOB NOHANG on empty queues: got %s; want (nil array)", name, got)
			}
		}
		// GETJOB creates the queues it names (QLEN does not).
		c.Expect("(nil array)", "QSTAT", "gj-created")
		c.Expect(":0", "QLEN", "gj-created")
		c.Expect("(nil array)", "QSTAT", "gj-created")
		c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", "gj-created")
		if r := c.Do("QSTAT", "gj-created"); r.Kind != resp.KindArray || r.IsNull() {
			t.Errorf("QSTAT after GETJOB NOHANG on a new queue: got %s; want the queue's statistics", r)
		}
	})

	t.Run("RoundRobin", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		check := func(what string, got []testclient.Job, want ...string) {
			t.Helper()
			var g []string
			for _, j := range got {
				g = append(g, j.Queue+"/"+j.Body)
			}
			if strings.Join(g, " ") != strings.Join(want, " ") {
				t.Errorf("%s: got %v; want %v", what, g, want)
			}
		}
		run := func(name, a, b string) {
			for i := 1; i <= 3; i++ {
				c.AddJob(a, fmt.Sprint("a", i))
			}
			for i := 1; i <= 2; i++ {
				c.AddJob(b, fmt.Sprint("b", i))
			}
			check(name+": COUNT 3 FROM a b", c.GetJobs("COUNT", "3", "FROM", a, b), a+"/a1", b+"/b1", a+"/a2")
			check(name+": COUNT 10 FROM a b", c.GetJobs("NOHANG", "COUNT", "10", "FROM", a, b), a+"/a3", b+"/b2")
			// Duplicates count: one job per listed name per pass.
			for i := 1; i <= 3; i++ {
				c.AddJob(a, fmt.Sprint("a", i))
			}
			c.AddJob(b, "b1")
			check(name+": COUNT 4 FROM a a b", c.GetJobs("COUNT", "4", "FROM", a, a, b), a+"/a1", a+"/a2", b+"/b1", a+"/a3")
			// An empty queue in the list is skipped.
			for i := 1; i <= 2; i++ {
				c.AddJob(b, fmt.Sprint("b", i))
			}
			check(name+": COUNT 5 FROM a b", c.GetJobs("COUNT", "5", "FROM", a, b), b+"/b1", b+"/b2")
			c.Expect("(nil array)", "GETJOB", "NOHANG", "COUNT", "5", "FROM", a, b)
		}
		for name, p := range pairs("gj-rr") {
			run(name, p[0], p[1])
		}
		// Three queues on three shards.
		qs := diffShards("gj-rr3", 3, shards)
		for i, q := range qs {
			for k := 0; k <= i; k++ {
				c.AddJob(q, fmt.Sprint(k))
			}
		}
		check("COUNT 6 over 3 shards", c.GetJobs("COUNT", "6", "FROM", qs[0], qs[1], qs[2]),
			qs[0]+"/0", qs[1]+"/0", qs[2]+"/0", qs[1]+"/1", qs[2]+"/1", qs[2]+"/2")
		// Whatever the placement, the property holds for every pair.
		same, cross := 0, 0
		for i := 0; i < 12; i++ {
			a, b := fmt.Sprintf("gj-rrany-%d-a", i), fmt.Sprintf("gj-rrany-%d-b", i)
			if shardOf(a, shards) == shardOf(b, shards) {
				same++
			} else {
				cross++
			}
			run(fmt.Sprintf("pair %d", i), a, b)
		}
		if same == 0 || cross == 0 {
			t.Logf("random pairs: %d on one shard, %d across shards", same, cross)
		}
	})

	t.Run("WithCounters", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for name, p := range pairs("gj-wc") {
			a := c.AddJob(p[0], "x")
			b := c.AddJob(p[1], "y")
			want := `[["` + p[0] + `" "` + a + `" "x" "nacks" :0 "additional-deliveries" :0] ["` +
				p[1] + `" "` + b + `" "y" "nacks" :0 "additional-deliveries" :0]]`
			if got := c.DoS("GETJOB", "WITHCOUNTERS", "COUNT", "2", "FROM", p[0], p[1]); got != want {
				t.Errorf("%s: GETJOB WITHCOUNTERS: got %s; want %s", name, got, want)
			}
		}
		// Case-insensitive options.
		id := c.AddJob("gj-wc-case", "z")
		c.Expect(`[["gj-wc-case" "`+id+`" "z" "nacks" :0 "additional-deliveries" :0]]`,
			"getjob", "withCounters", "NoHang", "count", "1", "from", "gj-wc-case")
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct {
			args string
			want string
		}{
			{"COUNT 0 FROM q", errCount},
			{"COUNT -1 FROM q", errCount},
			{"COUNT abc FROM q", errCount},
			{"TIMEOUT -1 FROM q", errTimeoutNeg},
			{"TIMEOUT abc FROM q", errTimeoutInt},
			{"TIMEOUT 1.5 FROM q", errTimeoutInt},
			{"NOHANG", errSyntax},
			{"NOHANG q", errSyntax},
			{"FROM", errSyntax},
			{"NOHANG FROM", errSyntax},
			{"FOO FROM q", errSyntax},
			{"NOHANG FOO FROM q", errSyntax},
			{"TIMEOUT", errSyntax},
			{"COUNT", errSyntax},
			{"NOHANG COUNT", errSyntax},
			{"COUNT 0 FOO FROM q", errCount}, // left to right
			{"FOO COUNT 0 FROM q", errSyntax},
			{"COUNT 9223372036854775808 FROM q", errCount},
			{"TIMEOUT 9223372036854775808 FROM q", errTimeoutInt},
			{"NOHANG COUNT 9223372036854775807 TIMEOUT 9223372036854775807 FROM gj-err-big", "(nil array)"},
		} {
			c.Expect(tc.want, append([]string{"GETJOB"}, strings.Fields(tc.args)...)...)
		}
		c.Expect(errArity("getjob"), "GETJOB")
		// Nothing of the refused calls blocked the connection.
		c.Expect("+PONG", "PING")
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		check := func(what string, args ...string) {
			t.Helper()
			start := time.Now()
			got := c.DoS(args...)
			d := time.Since(start)
			if got != "(nil array)" {
				t.Errorf("%s: got %s; want (nil array)", what, got)
			}
			if d < 300*time.Millisecond || d > 1300*time.Millisecond {
				t.Errorf("%s: replied after %v; want between 300 ms and 1.3 s", what, d)
			}
		}
		// A client whose GETJOB timed out takes no job afterwards.
		after := func(qs ...string) {
			t.Helper()
			for _, q := range qs {
				id := c.AddJob(q, "after-timeout")
				c.Expect(":1", "QLEN", q)
				c.Expect(":1", "DELJOB", id)
			}
		}
		check("one queue", "GETJOB", "TIMEOUT", "300", "FROM", "gj-timeout")
		after("gj-timeout")
		for name, p := range pairs("gj-timeout") {
			check(name, "GETJOB", "TIMEOUT", "300", "COUNT", "2", "FROM", p[0], p[1])
			after(p[0], p[1])
		}
		c.Expect("+PONG", "PING")
	})

	t.Run("HugeTimeout", func(t *testing.T) {
		t.Parallel()
		// The largest TIMEOUT is valid and means "practically forever".
		c := testclient.Dial(t, srv.Addr)
		lists := map[string][]string{"OneQueue": {"gj-huge"}}
		for name, p := range pairs("gj-huge") {
			lists[name] = []string{p[0], p[1]}
		}
		for name, qs := range lists {
			b := testclient.Dial(t, srv.Addr)
			b.Send(append([]string{"GETJOB", "TIMEOUT", "9223372036854775807", "FROM"}, qs...)...)
			if r, err := b.ReadTimeout(300 * time.Millisecond); err == nil {
				t.Errorf("%s: GETJOB TIMEOUT 9223372036854775807 on empty queues: got %s at once; want it to block", name, r)
				continue
			}
			id := c.AddJob(qs[0], "x")
			if got, want := b.Read().String(), `[["`+qs[0]+`" "`+id+`" "x"]]`; got != want {
				t.Errorf("%s: GETJOB TIMEOUT 9223372036854775807: got %s; want %s", name, got, want)
			}
		}
	})

	t.Run("WakeUp", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for name, p := range pairs("gj-wake") {
			b := testclient.Dial(t, srv.Addr)
			b.Send("GETJOB", "FROM", p[0], p[1])
			waitBlocked(t, c, p[0], 1)
			waitBlocked(t, c, p[1], 1)
			b.ExpectSilent(100*time.Millisecond, name+": GETJOB on empty queues")
			// A job on the second queue wakes it.
			id := c.AddJob(p[1], "wake")
			if got, want := b.Read().String(), `[["`+p[1]+`" "`+id+`" "wake"]]`; got != want {
				t.Fatalf("%s: blocked GETJOB: got %s; want %s", name, got, want)
			}
			c.Expect(":0", "QLEN", p[1])
			// It no longer waits on the first one.
			pollBlocked(t, c, p[0], 0, time.Second)
			id2 := c.AddJob(p[0], "stays")
			b.ExpectSilent(100*time.Millisecond, name+": served client")
			c.Expect(":1", "QLEN", p[0])
			c.Expect(":1", "ACKJOB", id2)
			// Another client blocked there now is served.
			prev := qstatInt(t, c, p[0], "blocked")
			d := testclient.Dial(t, srv.Addr)
			d.Send("GETJOB", "FROM", p[0])
			waitBlocked(t, c, p[0], prev+1)
			id4 := c.AddJob(p[0], "for-d")
			if got, want := d.Read().String(), `[["`+p[0]+`" "`+id4+`" "for-d"]]`; got != want {
				t.Fatalf("%s: second blocked client: got %s; want %s", name, got, want)
			}
			// The same client blocks again on the first queue.
			b.Send("GETJOB", "FROM", p[0], p[1])
			waitBlocked(t, c, p[0], 1)
			id3 := c.AddJob(p[0], "again")
			if got, want := b.Read().String(), `[["`+p[0]+`" "`+id3+`" "again"]]`; got != want {
				t.Fatalf("%s: blocked GETJOB: got %s; want %s", name, got, want)
			}
		}
	})

	t.Run("FIFO", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		lists := map[string][]string{"OneQueue": {"gj-fifo"}}
		for name, p := range pairs("gj-fifo") {
			lists[name] = []string{p[0], p[1]}
		}
		for name, qs := range lists {
			var bs []*testclient.Conn
			for i := 0; i < 4; i++ {
				b := testclient.Dial(t, srv.Addr)
				b.Send(append([]string{"GETJOB", "FROM"}, qs...)...)
				waitBlocked(t, c, qs[0], int64(i+1))
				bs = append(bs, b)
			}
			var cmds [][]string
			for i := range bs {
				cmds = append(cmds, []string{"ADDJOB", qs[0], fmt.Sprint("job", i), "0"})
			}
			c.Pipeline(cmds...)
			for i, b := range bs {
				js := testclient.Jobs(t, b.Read())
				if len(js) != 1 || js[0].Body != fmt.Sprint("job", i) {
					t.Errorf("%s: client blocked #%d got %s; want [%s/job%d] (first blocked, first served)", name, i, jobsString(js), qs[0], i)
				}
			}
			c.Expect(":0", "QLEN", qs[0])
		}
	})

	t.Run("OneJobWhenBlocked", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		lists := map[string][]string{"OneQueue": {"gj-one"}}
		for name, p := range pairs("gj-one") {
			lists[name] = []string{p[0], p[1]}
		}
		for name, qs := range lists {
			b := testclient.Dial(t, srv.Addr)
			b.Send(append([]string{"GETJOB", "COUNT", "5", "FROM"}, qs...)...)
			waitBlocked(t, c, qs[0], 1)
			c.Pipeline([]string{"ADDJOB", qs[0], "1", "0"}, []string{"ADDJOB", qs[0], "2", "0"}, []string{"ADDJOB", qs[0], "3", "0"})
			js := testclient.Jobs(t, b.Read())
			if len(js) != 1 || js[0].Body != "1" {
				t.Errorf("%s: blocked GETJOB COUNT 5: got %s; want exactly one job [%s/1]", name, jobsString(js), qs[0])
			}
			c.Expect(":2", "QLEN", qs[0])
			b.Expect("+PONG", "PING")
			c.GetJobs("COUNT", "2", "FROM", qs[0])
		}
		// Jobs arriving at once on two shards: one is served, the other
		// stays queued (never lost, never both).
		p := pairs("gj-one2")["CrossShard"]
		b := testclient.Dial(t, srv.Addr)
		for i := 0; i < 20; i++ {
			b.Send("GETJOB", "COUNT", "5", "FROM", p[0], p[1])
			waitBlocked(t, c, p[0], 1)
			waitBlocked(t, c, p[1], 1)
			c.Pipeline([]string{"ADDJOB", p[0], "x", "0"}, []string{"ADDJOB", p[1], "y", "0"})
			js := testclient.Jobs(t, b.Read())
			if len(js) != 1 {
				t.Fatalf("round %d: blocked GETJOB over two shards: got %s; want exactly one job", i, jobsString(js))
			}
			if n := qlen(c, p[0]) + qlen(c, p[1]); n != 1 {
				t.Fatalf("round %d: %d jobs left queued; want 1 (the one not served)", i, n)
			}
			if left := c.GetJobs("NOHANG", "COUNT", "5", "FROM", p[0], p[1]); len(left) != 1 || left[0].Queue == js[0].Queue {
				t.Fatalf("round %d: served %s, left %s", i, jobsString(js), jobsString(left))
			}
		}
	})

	t.Run("FromTakesEverything", func(t *testing.T) {
		t.Parallel()
		// Everything after FROM is a queue name: GETJOB FROM q NOHANG waits
		// on the queues "q" and "NOHANG".
		c := testclient.Dial(t, srv.Addr)
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "FROM", "gj-from", "NOHANG")
		b.ExpectSilent(300*time.Millisecond, "GETJOB FROM gj-from NOHANG")
		waitBlocked(t, c, "NOHANG", 1)
		id := c.AddJob("NOHANG", "x")
		if got, want := b.Read().String(), `[["NOHANG" "`+id+`" "x"]]`; got != want {
			t.Fatalf("GETJOB FROM gj-from NOHANG: got %s; want %s", got, want)
		}
		b.Expect("(nil array)", "GETJOB", "TIMEOUT", "100", "FROM", "gj-from", "COUNT", "2")
		c.Expect(":0", "QLEN", "COUNT")
	})

	t.Run("DisconnectWhileBlocked", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		lists := map[string][]string{"OneQueue": {"gj-disc"}}
		for name, p := range pairs("gj-disc") {
			lists[name] = []string{p[0], p[1]}
		}
		for name, qs := range lists {
			b := testclient.Dial(t, srv.Addr)
			b.Send(append([]string{"GETJOB", "FROM"}, qs...)...)
			for _, q := range qs {
				waitBlocked(t, c, q, 1)
			}
			b.Close()
			for _, q := range qs {
				waitBlocked(t, c, q, 0)
			}
			other := testclient.Dial(t, srv.Addr)
			for _, q := range qs {
				id := c.AddJob(q, "after")
				c.Expect(":1", "QLEN", q)
				if got, want := other.DoS("GETJOB", "NOHANG", "FROM", q), `[["`+q+`" "`+id+`" "after"]]`; got != want {
					t.Errorf("%s: GETJOB after the blocked client left: got %s; want %s", name, got, want)
				}
			}
		}
	})

	t.Run("PipelineWhileBlocked", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		lists := map[string][]string{"OneQueue": {"gj-pipe"}}
		for name, p := range pairs("gj-pipe") {
			lists[name] = []string{p[0], p[1]}
		}
		for name, qs := range lists {
			b := testclient.Dial(t, srv.Addr)
			var w []byte
			w = resp.AppendCommandStrings(w, append([]string{"GETJOB", "FROM"}, qs...)...)
			w = resp.AppendCommandStrings(w, "PING")
			w = resp.AppendCommandStrings(w, "QLEN", qs[0])
			w = resp.AppendCommandStrings(w, "PING", "last")
			b.Write(w)
			b.ExpectSilent(300*time.Millisecond, name+": pipeline behind a blocked GETJOB")
			id := c.AddJob(qs[0], "x")
			for i, want := range []string{`[["` + qs[0] + `" "` + id + `" "x"]]`, "+PONG", ":0", `"last"`} {
				if got := b.Read().String(); got != want {
					t.Fatalf("%s: reply %d: got %s; want %s", name, i, got, want)
				}
			}
			// A pipelined ADDJOB is not run while its client is blocked, so
			// it cannot wake its own GETJOB.
			w = resp.AppendCommandStrings(nil, append([]string{"GETJOB", "TIMEOUT", "400", "FROM"}, qs...)...)
			w = resp.AppendCommandStrings(w, "ADDJOB", qs[0], "self", "0")
			w = resp.AppendCommandStrings(w, "QLEN", qs[0])
			b.Write(w)
			if got := b.Read().String(); got != "(nil array)" {
				t.Fatalf("%s: GETJOB TIMEOUT 400 followed by ADDJOB in the same write: got %s; want (nil array)", name, got)
			}
			if r := b.Read(); r.Kind != resp.KindSimple {
				t.Fatalf("%s: pipelined ADDJOB: got %s", name, r)
			}
			if got := b.Read().String(); got != ":1" {
				t.Fatalf("%s: pipelined QLEN after ADDJOB: got %s; want :1", name, got)
			}
			if js := b.GetJobs("NOHANG", "FROM", qs[0]); len(js) != 1 || js[0].Body != "self" {
				t.Fatalf("%s: GETJOB: got %s; want the pipelined job", name, jobsString(js))
			}
		}
	})
}
