package engine_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// TestAddJob covers ADDJOB (commands.md 2.1, semantics.md 2 and 5.1) on a
// lone node. The subtests share one server and use distinct queues.
func TestAddJob(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	t.Run("ReplyShape", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		node := nodeID(t, c)
		r := c.Do("ADDJOB", "aj-shape", "hello", "0")
		if r.Kind != resp.KindSimple {
			t.Fatalf("ADDJOB reply kind: got %s (%s); want a simple string", r.Kind, r)
		}
		id := string(r.Str)
		if len(id) != 40 {
			t.Fatalf("ADDJOB id %q: got length %d; want 40", id, len(id))
		}
		if !testclient.IsJobID(id) {
			t.Fatalf("ADDJOB id %q: want shape D-<8hex>-<24 base64>-<4hex>", id)
		}
		if id[2:10] != node[:8] {
			t.Fatalf("ADDJOB id %q: node prefix got %s; want %s (HELLO node ID %s)", id, id[2:10], node[:8], node)
		}
		// IDs never repeat.
		seen := map[string]bool{id: true}
		for i := 0; i < 200; i++ {
			id := c.AddJob("aj-shape", "x")
			if seen[id] {
				t.Fatalf("ADDJOB returned %s twice", id)
			}
			seen[id] = true
		}
	})

	t.Run("TTLField", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct {
			opts []string
			want string
		}{
			{nil, "05a1"}, // 86400 s = 1440 min = 0x5a0, odd: RETRY 300
			{[]string{"RETRY", "0"}, "05a0"},
			{[]string{"TTL", "5"}, "0001"},
			{[]string{"TTL", "5", "RETRY", "0"}, "0000"},
			{[]string{"TTL", "3600", "RETRY", "0"}, "003c"},
			{[]string{"TTL", "3600"}, "003d"},
			{[]string{"TTL", "3660", "RETRY", "0"}, "003c"}, // 61 min, forced even
			{[]string{"TTL", "3660", "RETRY", "5"}, "003d"},
			{[]string{"TTL", "119", "RETRY", "0"}, "0000"},
			{[]string{"TTL", "120", "RETRY", "0"}, "0002"},
			{[]string{"TTL", "120"}, "0003"},
			{[]string{"TTL", "4000000"}, "ffff"}, // 66666 min capped at 65535
			{[]string{"TTL", "4000000", "RETRY", "0"}, "fffe"},
		} {
			id := c.AddJob("aj-ttlfield", "x", tc.opts...)
			if got := id[36:]; got != tc.want {
				t.Errorf("ADDJOB %s: TTL field of %s got %s; want %s", strings.Join(tc.opts, " "), id, got, tc.want)
			}
		}
	})

	t.Run("ErrorsAndOrder", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "aj-errors"
		for _, tc := range []struct {
			args string // after "ADDJOB q body"
			want string
		}{
			{"0 REPLICATE 0", errReplicate},
			{"0 REPLICATE 65536", errReplicate},
			{"0 REPLICATE -1", errReplicate},
			{"0 REPLICATE abc", errReplicate},
			{"0 DELAY -1", errDelay},
			{"0 DELAY x", errDelay},
			{"0 RETRY -1", errRetry},
			{"0 RETRY 1.5", errRetry},
			{"0 TTL 0", errTTL},
			{"0 TTL -1", errTTL},
			{"0 TTL x", errTTL},
			{"0 MAXLEN 0", errMaxLenArg},
			{"0 MAXLEN -3", errMaxLenArg},
			{"0 MAXLEN x", errMaxLenArg},
			{"0 FOO", errSyntax},
			{"0 REPLICATE", errSyntax},
			{"0 DELAY", errSyntax},
			{"0 RETRY", errSyntax},
			{"0 TTL", errSyntax},
			{"0 MAXLEN", errSyntax},
			{"0 TTL 10 REPLICATE", errSyntax},
			{"0 ASYNC 1", errSyntax},
			{"x", errTimeoutInt},
			{"1.5", errTimeoutInt},
			{"99999999999999999999", errTimeoutInt},
			{"-1", errTimeoutNeg},
			// Step 2 (options, left to right) before step 3 (timeout).
			{"x FOO", errSyntax},
			{"-1 TTL 0", errTTL},
			{"x REPLICATE 0", errReplicate},
			{"x REPLICATE", errSyntax},
			{"0 TTL 0 RETRY -1", errTTL},
			{"0 RETRY -1 TTL 0", errRetry},
			{"0 TTL 0 FOO", errTTL},
			{"0 FOO TTL 0", errSyntax},
			// Step 3 before step 4.
			{"x REPLICATE 2 RETRY 0", errTimeoutInt},
			{"-1 REPLICATE 2", errTimeoutNeg},
			// Step 4: RETRY 0 needs REPLICATE 1 (two spaces in the text).
			{"0 REPLICATE 2 RETRY 0", errRetryRepl},
			{"0 RETRY 0 REPLICATE 2", errRetryRepl},
			{"0 REPLICATE 2 RETRY 0 ASYNC", errRetryRepl},
			// Step 4 before step 5.
			{"0 REPLICATE 2 RETRY 0 DELAY 10 TTL 5", errRetryRepl},
			// Step 5: DELAY >= TTL.
			{"0 DELAY 10 TTL 10", errDelayTTL},
			{"0 DELAY 11 TTL 10", errDelayTTL},
			{"0 DELAY 86400", errDelayTTL}, // default TTL
			// Step 5 before step 7.
			{"0 DELAY 20 TTL 10 REPLICATE 2", errDelayTTL},
			// Step 7: a lone node cannot replicate.
			{"0 REPLICATE 2", errNoRepl},
			{"0 REPLICATE 3 ASYNC", errNoRepl},
			{"5000 REPLICATE 65535", errNoRepl},
		} {
			args := append([]string{"ADDJOB", q, "body"}, strings.Fields(tc.args)...)
			c.Expect(tc.want, args...)
		}
		// Nothing was created by the refused calls.
		c.Expect(":0", "QLEN", q)
		c.Expect("(nil array)", "QSTAT", q)
	})

	t.Run("OrderMaxLenPaused", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "aj-order-full"
		c.AddJob(q, "first")
		c.Expect("+in", "PAUSE", q, "in")
		c.Expect(errNoRepl, "ADDJOB", q, "b", "0", "REPLICATE", "2", "MAXLEN", "1") // 7 before 8
		c.Expect(errDelayTTL, "ADDJOB", q, "b", "0", "DELAY", "5", "TTL", "5", "MAXLEN", "1")
		c.Expect(errMaxLen, "ADDJOB", q, "b", "0", "MAXLEN", "1") // 8 before 9
		c.Expect(errPaused, "ADDJOB", q, "b", "0", "MAXLEN", "2")
		c.Expect(errPaused, "ADDJOB", q, "b", "0")
		c.Expect(errPaused, "ADDJOB", q, "b", "0", "ASYNC")
		c.Expect(":1", "QLEN", q)
		c.Expect("+none", "PAUSE", q, "none")
		c.AddJob(q, "second")
		c.Expect(":2", "QLEN", q)
	})

	t.Run("Options", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "aj-options"
		for _, tc := range []struct {
			opts                      []string
			repl, delay, retry, ttlLo int64
			ttlHi                     int64
			state                     string
		}{
			{nil, 1, 0, 300, 86398, 86400, "queued"},
			{[]string{"REPLICATE", "1"}, 1, 0, 300, 86398, 86400, "queued"},
			{[]string{"ASYNC"}, 1, 0, 300, 86398, 86400, "queued"},
			{[]string{"REPLICATE", "1", "ASYNC"}, 1, 0, 300, 86398, 86400, "queued"},
			{[]string{"RETRY", "0"}, 1, 0, 0, 86398, 86400, "queued"},
			{[]string{"RETRY", "0", "REPLICATE", "1"}, 1, 0, 0, 86398, 86400, "queued"},
			{[]string{"RETRY", "7"}, 1, 0, 7, 86398, 86400, "queued"},
			{[]string{"TTL", "100"}, 1, 0, 10, 98, 100, "queued"},
			{[]string{"TTL", "100", "TTL", "200"}, 1, 0, 20, 198, 200, "queued"}, // a repeated option overwrites
			{[]string{"DELAY", "0"}, 1, 0, 300, 86398, 86400, "queued"},
			{[]string{"DELAY", "50", "TTL", "100"}, 1, 50, 10, 98, 100, "active"},
			{[]string{"DELAY", "86399"}, 1, 86399, 300, 86398, 86400, "active"},
			{[]string{"ttl", "100", "Retry", "3", "async", "RePlIcAtE", "1"}, 1, 0, 3, 98, 100, "queued"},
		} {
			id := c.AddJob(q, "b", tc.opts...)
			what := "ADDJOB " + strings.Join(tc.opts, " ")
			r := show(t, c, id)
			if r.Kind != resp.KindArray {
				t.Fatalf("%s: SHOW got %s", what, r)
			}
			for _, f := range []struct {
				key string
				v   int64
			}{{"repl", tc.repl}, {"delay", tc.delay}, {"retry", tc.retry}} {
				if got := testclient.Field(r, f.key); got.String() != ":"+itoa(f.v) {
					t.Errorf("%s: SHOW %s got %s; want :%d", what, f.key, got, f.v)
				}
			}
			if ttl := testclient.Field(r, "ttl").Int; ttl < tc.ttlLo || ttl > tc.ttlHi {
				t.Errorf("%s: SHOW ttl got %d; want %d..%d", what, ttl, tc.ttlLo, tc.ttlHi)
			}
			if st := string(testclient.Field(r, "state").Str); st != tc.state {
				t.Errorf("%s: SHOW state got %s; want %s", what, st, tc.state)
			}
		}
		// Only the jobs without DELAY are queued: 13 - 2 delayed.
		c.Expect(":11", "QLEN", q)
		// A non-zero timeout is accepted on the immediate path.
		c.AddJob(q, "b")
		if r := c.Do("ADDJOB", q, "b", "5000", "REPLICATE", "1"); r.Kind != resp.KindSimple {
			t.Fatalf("ADDJOB q b 5000 REPLICATE 1: got %s; want +<id>", r)
		}
	})

	t.Run("DefaultRetry", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct{ ttl, retry int64 }{
			{1, 1}, {5, 1}, {9, 1}, {10, 1}, {19, 1}, {20, 2}, {100, 10}, {2999, 299},
			{3000, 300}, {3010, 300}, {4000, 300}, {86400, 300}, {1000000, 300},
		} {
			id := c.AddJob("aj-defretry", "b", "TTL", itoa(tc.ttl))
			if got := showInt(t, c, id, "retry"); got != tc.retry {
				t.Errorf("ADDJOB TTL %d: SHOW retry got %d; want %d", tc.ttl, got, tc.retry)
			}
		}
	})

	t.Run("IntegerParsing", func(t *testing.T) {
		t.Parallel()
		// commands.md 1.3: base-10 with an optional leading '+' or '-'
		// (C strtoll: leading zeros are plain digits), no leading
		// whitespace, no trailing characters.
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct {
			ttl   string
			want  int64 // 0 = refused
			retry string
		}{
			{"+100", 100, "5"},
			{"100", 100, "+5"},
			{"0100", 100, "5"},
			{" 100", 0, "5"},
			{"100 ", 0, "5"},
			{"0x10", 0, "5"},
			{"1e3", 0, "5"},
		} {
			what := "ADDJOB aj-int b 0 TTL " + strconv.Quote(tc.ttl) + " RETRY " + tc.retry
			r := c.Do("ADDJOB", "aj-int", "b", "0", "TTL", tc.ttl, "RETRY", tc.retry)
			if tc.want == 0 {
				if r.String() != errTTL {
					t.Errorf("%s: got %s; want %s", what, r, errTTL)
				}
				continue
			}
			if r.Kind != resp.KindSimple {
				t.Errorf("%s: got %s; want +<job id>", what, r)
				continue
			}
			if got := showInt(t, c, string(r.Str), "ttl"); got < tc.want-2 || got > tc.want {
				t.Errorf("%s: SHOW ttl got %d; want ~%d", what, got, tc.want)
			}
		}
	})

	t.Run("MaxLen", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		const q = "aj-maxlen"
		c.AddJob(q, "1", "MAXLEN", "1") // a missing queue always passes
		c.Expect(errMaxLen, "ADDJOB", q, "2", "0", "MAXLEN", "1")
		c.AddJob(q, "2", "MAXLEN", "2")
		c.Expect(errMaxLen, "ADDJOB", q, "3", "0", "MAXLEN", "2")
		c.Expect(errMaxLen, "ADDJOB", q, "3", "0", "MAXLEN", "1")
		c.AddJob(q, "3", "MAXLEN", "3")
		c.Expect(":3", "QLEN", q)
		// Only the current local length counts: fetch one, room again.
		if js := c.GetJobs("NOHANG", "FROM", q); len(js) != 1 || js[0].Body != "1" {
			t.Fatalf("GETJOB: got %s; want [%s/1]", jobsString(js), q)
		}
		c.AddJob(q, "4", "MAXLEN", "3")
		c.Expect(errMaxLen, "ADDJOB", q, "5", "0", "MAXLEN", "3")
		c.AddJob(q, "5") // without MAXLEN the queue grows anyway
		c.Expect(":4", "QLEN", q)
		c.AddJob("aj-maxlen-other", "x", "MAXLEN", "1")
	})

	t.Run("Async", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		id := c.AddJob("aj-async", "b", "ASYNC")
		c.Expect(":1", "QLEN", "aj-async")
		c.Expect(`[["aj-async" "`+id+`" "b"]]`, "GETJOB", "NOHANG", "FROM", "aj-async")
	})

	t.Run("EmptyQueueAndBody", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		id := c.AddJob("", "")
		c.Expect(":1", "QLEN", "")
		r := show(t, c, id)
		if got := testclient.Field(r, "queue").String(); got != `""` {
			t.Errorf("SHOW queue: got %s; want \"\"", got)
		}
		if got := testclient.Field(r, "body").String(); got != `""` {
			t.Errorf("SHOW body: got %s; want \"\"", got)
		}
		c.Expect(`[["" "`+id+`" ""]]`, "QPEEK", "", "1")
		c.Expect(`[["" "`+id+`" ""]]`, "GETJOB", "NOHANG", "FROM", "")
		c.Expect(":1", "ACKJOB", id)
		// An empty body in a non-empty queue too.
		id = c.AddJob("aj-emptybody", "")
		c.Expect(`[["aj-emptybody" "`+id+`" ""]]`, "GETJOB", "FROM", "aj-emptybody")
	})

	t.Run("BinarySafe", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		body := make([]byte, 256)
		for i := range body {
			body[i] = byte(i)
		}
		queue := "aj bin\r\n\x00\xff q"
		id := c.AddJob(queue, string(body))
		for _, r := range []resp.Reply{c.Do("QPEEK", queue, "1"), c.Do("GETJOB", "FROM", queue)} {
			js := testclient.Jobs(t, r)
			if len(js) != 1 || js[0].Queue != queue || js[0].ID != id || js[0].Body != string(body) {
				t.Fatalf("got %s; want the binary job back byte for byte", r)
			}
		}
		r := show(t, c, id)
		if got := testclient.Field(r, "body").Str; string(got) != string(body) {
			t.Fatalf("SHOW body: got %q; want bytes 0..255", got)
		}
		if got := testclient.Field(r, "queue").Str; string(got) != queue {
			t.Fatalf("SHOW queue: got %q; want %q", got, queue)
		}
		// Queue names are case-sensitive.
		c.AddJob("aj-Case", "x")
		c.Expect(":0", "QLEN", "aj-case")
		c.Expect(":1", "QLEN", "aj-Case")
	})

	t.Run("LargeBody", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		body := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		id := c.AddJob("aj-large", body)
		js := c.GetJobs("FROM", "aj-large")
		if len(js) != 1 || js[0].ID != id || js[0].Body != body {
			t.Fatalf("GETJOB after a 1 MiB ADDJOB: got %d jobs; want the job with the same body", len(js))
		}
	})

	t.Run("CreationOrder", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		before := time.Now().UnixMilli()
		a := c.AddJob("aj-ctime", "a")
		b := c.AddJob("aj-ctime", "b")
		after := time.Now().UnixMilli()
		ca, cb := showInt(t, c, a, "ctime"), showInt(t, c, b, "ctime")
		if cb <= ca {
			t.Errorf("ctime: second job %d; want > first job %d", cb, ca)
		}
		if ms := ca / 1_000_000; ms < before-1000 || ms > after+1000 {
			t.Errorf("ctime %d: got %d ms; want about now (%d..%d)", ca, ms, before, after)
		}
	})
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
