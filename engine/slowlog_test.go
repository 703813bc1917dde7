package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

const errSlowlogSub = "-ERR Unknown SLOWLOG subcommand or wrong # of args. Try GET, RESET, LEN."

type slowEntry struct {
	id, at, usec int64
	args         []string
}

// slowlogGet runs SLOWLOG GET [n] and checks each entry's shape:
// [:id :unix-time :duration-usec [args as bulk strings]].
func slowlogGet(t testing.TB, c *testclient.Conn, n ...string) []slowEntry {
	t.Helper()
	args := append([]string{"SLOWLOG", "GET"}, n...)
	r := c.Do(args...)
	if r.Kind != resp.KindArray || r.IsNull() {
		t.Fatalf("%s: got %s; want an array", strings.Join(args, " "), r)
	}
	var out []slowEntry
	for _, e := range r.Elems {
		if e.Kind != resp.KindArray || len(e.Elems) != 4 || e.Elems[0].Kind != resp.KindInt || e.Elems[1].Kind != resp.KindInt ||
			e.Elems[2].Kind != resp.KindInt || e.Elems[3].Kind != resp.KindArray {
			t.Fatalf("%s: entry %s; want [:id :time :usec [args...]]", strings.Join(args, " "), e)
		}
		ent := slowEntry{id: e.Elems[0].Int, at: e.Elems[1].Int, usec: e.Elems[2].Int}
		for _, a := range e.Elems[3].Elems {
			if a.Kind != resp.KindBulk || a.IsNull() {
				t.Fatalf("%s: argument %s; want a bulk string", strings.Join(args, " "), a)
			}
			ent.args = append(ent.args, string(a.Str))
		}
		if now := time.Now().Unix(); ent.at < now-10 || ent.at > now+5 {
			t.Errorf("SLOWLOG entry %v: time %d; want about %d", ent.args, ent.at, now)
		}
		if ent.usec < 0 {
			t.Errorf("SLOWLOG entry %v: duration %d; want >= 0", ent.args, ent.usec)
		}
		out = append(out, ent)
	}
	return out
}

// sameArgs compares logged arguments, the command name case-insensitively.
func sameArgs(got, want []string) bool {
	if len(got) != len(want) || len(got) == 0 || !strings.EqualFold(got[0], want[0]) {
		return false
	}
	for i := 1; i < len(got); i++ {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestSlowlog covers SLOWLOG GET / LEN / RESET with slowlog-log-slower-than
// 0 (every command logged): order, entry shape, argument trimming, the
// length limit and the errors (commands.md 5.12).
func TestSlowlog(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--slowlog-log-slower-than", "0")
	c := testclient.Dial(t, srv.Addr)

	c.Expect("+OK", "SLOWLOG", "RESET")
	// The RESET itself is logged after it ran.
	if n := c.Int("SLOWLOG", "LEN"); n > 1 {
		t.Errorf("SLOWLOG LEN right after RESET: got %d; want 0 or 1 (the RESET itself)", n)
	}

	// Newest first, ids increasing with time.
	c.Expect(`"a"`, "ping", "a")
	c.Expect(`"b"`, "ping", "b")
	es := slowlogGet(t, c, "2")
	if len(es) != 2 || !sameArgs(es[0].args, []string{"ping", "b"}) || !sameArgs(es[1].args, []string{"ping", "a"}) {
		t.Fatalf("SLOWLOG GET 2 after PING a, PING b: got %+v; want [PING b] then [PING a]", es)
	}
	if es[0].id <= es[1].id {
		t.Errorf("SLOWLOG ids: newest %d, older %d; want the newest larger", es[0].id, es[1].id)
	}

	// At most 32 arguments: 31 kept, then "... (N more arguments)".
	names := []string{"COMMAND", "INFO"}
	for i := 1; i <= 40; i++ {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	c.Do(names...)
	es = slowlogGet(t, c, "1")
	want := append(append([]string{}, names[:31]...), "... (11 more arguments)")
	if len(es) != 1 || !sameArgs(es[0].args, want) {
		t.Errorf("SLOWLOG GET 1 after a 42-argument command: got %+v; want %q", es, want)
	}
	// Exactly 32 arguments are kept as they are.
	c.Do(names[:32]...)
	if es = slowlogGet(t, c, "1"); len(es) != 1 || !sameArgs(es[0].args, names[:32]) {
		t.Errorf("SLOWLOG GET 1 after a 32-argument command: got %+v; want %q", es, names[:32])
	}
	// Arguments longer than 128 bytes: "... (N more bytes)".
	long := strings.Repeat("x", 128) + strings.Repeat("y", 72)
	c.Do("COMMAND", "INFO", long, strings.Repeat("z", 128))
	es = slowlogGet(t, c, "1")
	want = []string{"COMMAND", "INFO", strings.Repeat("x", 128) + "... (72 more bytes)", strings.Repeat("z", 128)}
	if len(es) != 1 || !sameArgs(es[0].args, want) {
		t.Errorf("SLOWLOG GET 1 after a 200-byte argument: got %+v; want %q", es, want)
	}

	// Commands run by shards are logged with every argument.
	id := c.AddJob("sl-q", "body", "TTL", "100", "RETRY", "5")
	c.Expect(":1", "QLEN", "sl-q")
	c.Expect(":1", "ACKJOB", id)
	wantJob := [][]string{{"ADDJOB", "sl-q", "body", "0", "TTL", "100", "RETRY", "5"}, {"QLEN", "sl-q"}, {"ACKJOB", id}}
	// Shards log as they run the command; give them a moment.
	time.Sleep(200 * time.Millisecond)
	es = slowlogGet(t, c, "10")
	var got [][]string
	for _, e := range es {
		got = append(got, e.args)
	}
	for _, w := range wantJob {
		ok := false
		for _, e := range es {
			ok = ok || sameArgs(e.args, w)
		}
		if !ok {
			t.Errorf("SLOWLOG GET 10 after ADDJOB/QLEN/ACKJOB: no entry %q; got %q", w, got)
		}
	}

	// GET: default 10, 0 = none, negative = all.
	for i := 0; i < 12; i++ {
		c.Expect("+PONG", "PING")
	}
	if es := slowlogGet(t, c); len(es) != 10 {
		t.Errorf("SLOWLOG GET: got %d entries; want 10 (the default)", len(es))
	}
	c.Expect("[]", "SLOWLOG", "GET", "0")
	n := c.Int("SLOWLOG", "LEN")
	if es := slowlogGet(t, c, "-1"); int64(len(es)) < n {
		t.Errorf("SLOWLOG GET -1: got %d entries; want all %d", len(es), n)
	}
	if es := slowlogGet(t, c, "1000"); int64(len(es)) < n {
		t.Errorf("SLOWLOG GET 1000: got %d entries; want all %d", len(es), n)
	}

	// slowlog-max-len bounds the log; 0 keeps nothing.
	c.Expect("+OK", "CONFIG", "SET", "slowlog-max-len", "3")
	for i := 0; i < 5; i++ {
		c.Expect("+PONG", "PING")
	}
	if n := c.Int("SLOWLOG", "LEN"); n != 3 {
		t.Errorf("SLOWLOG LEN with slowlog-max-len 3: got %d; want 3", n)
	}
	c.Expect("+OK", "CONFIG", "SET", "slowlog-max-len", "0")
	c.Expect("+PONG", "PING")
	c.Expect(":0", "SLOWLOG", "LEN")
	c.Expect("+OK", "CONFIG", "SET", "slowlog-max-len", "128")

	// A threshold above the commands' duration logs nothing.
	c.Expect("+OK", "CONFIG", "SET", "slowlog-log-slower-than", "10000000")
	c.Expect("+OK", "SLOWLOG", "RESET")
	c.Expect("+PONG", "PING")
	c.Expect(":0", "QLEN", "sl-q")
	c.Expect(":0", "SLOWLOG", "LEN")
	// DEBUG SLEEP is slow enough for a 10 ms threshold.
	c.Expect("+OK", "CONFIG", "SET", "slowlog-log-slower-than", "10000")
	c.Expect("+OK", "DEBUG", "SLEEP", "0.05")
	es = slowlogGet(t, c, "1")
	if len(es) != 1 || !sameArgs(es[0].args, []string{"DEBUG", "SLEEP", "0.05"}) || es[0].usec < 45000 {
		t.Errorf("SLOWLOG GET 1 after DEBUG SLEEP 0.05 (threshold 10 ms): got %+v; want [DEBUG SLEEP 0.05] with >= 50000 usec", es)
	}

	// Errors.
	for _, args := range [][]string{{"SLOWLOG", "FOO"}, {"SLOWLOG", "GET", "1", "2"}, {"SLOWLOG", "LEN", "x"},
		{"SLOWLOG", "RESET", "x"}, {"slowlog", ""}} {
		c.Expect(errSlowlogSub, args...)
	}
	c.Expect(errNotInteger, "SLOWLOG", "GET", "abc")
	c.Expect(errArity("slowlog"), "SLOWLOG")
	c.Expect(":1", "slowlog", "len") // the DEBUG SLEEP entry; errors are not slow
}

// latencyLatest returns LATENCY LATEST as event -> [last-time, last-ms, max-ms].
func latencyLatest(t testing.TB, c *testclient.Conn) map[string][3]int64 {
	t.Helper()
	r := c.Do("LATENCY", "LATEST")
	if r.Kind != resp.KindArray || r.IsNull() {
		t.Fatalf("LATENCY LATEST: got %s; want an array", r)
	}
	out := map[string][3]int64{}
	for _, e := range r.Elems {
		if e.Kind != resp.KindArray || len(e.Elems) != 4 || e.Elems[0].Kind != resp.KindBulk ||
			e.Elems[1].Kind != resp.KindInt || e.Elems[2].Kind != resp.KindInt || e.Elems[3].Kind != resp.KindInt {
			t.Fatalf("LATENCY LATEST entry %s; want [\"event\" :time :ms :max-ms]", e)
		}
		out[string(e.Elems[0].Str)] = [3]int64{e.Elems[1].Int, e.Elems[2].Int, e.Elems[3].Int}
	}
	return out
}

// noSpike reports whether LATENCY LATEST has no "command" event of at least
// ms (events below it may come from a loaded machine).
func noSpike(t testing.TB, c *testclient.Conn, ms int64) bool {
	t.Helper()
	ev, ok := latencyLatest(t, c)["command"]
	return !ok || ev[2] < ms
}

// TestLatency covers LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR with
// DEBUG SLEEP (commands.md 5.13), and that the latency monitor does not
// depend on the slow log's threshold. The threshold is 40 ms rather than 1:
// under -race on a loaded machine ordinary commands can take a few ms.
func TestLatency(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--latency-monitor-threshold", "40")
	c := testclient.Dial(t, srv.Addr)

	c.Do("LATENCY", "RESET")
	if h := c.Do("LATENCY", "HISTORY", "command"); h.Kind != resp.KindArray || h.IsNull() {
		t.Fatalf("LATENCY HISTORY command: got %s; want an array", h)
	}
	c.Expect("-ERR No samples available for event 'nosuch-event'", "LATENCY", "GRAPH", "nosuch-event")
	c.Expect("+OK", "DEBUG", "SLEEP", "0.06")
	latest := latencyLatest(t, c)
	ev, ok := latest["command"]
	if !ok {
		t.Fatalf("LATENCY LATEST after DEBUG SLEEP 0.06 with threshold 40 ms: got %v; want a \"command\" event", latest)
	}
	if now := time.Now().Unix(); ev[0] < now-5 || ev[0] > now+1 || ev[1] < 55 || ev[2] < ev[1] {
		t.Errorf("LATENCY LATEST command: got time %d, latest %d ms, max %d ms; want now, >= 60 ms, max >= latest", ev[0], ev[1], ev[2])
	}
	c.Expect("+OK", "DEBUG", "SLEEP", "0.12")
	h := c.Do("LATENCY", "HISTORY", "command")
	if h.Kind != resp.KindArray || len(h.Elems) < 1 {
		t.Fatalf("LATENCY HISTORY command: got %s; want samples", h)
	}
	var maxMS int64
	for _, s := range h.Elems {
		if s.Kind != resp.KindArray || len(s.Elems) != 2 || s.Elems[0].Kind != resp.KindInt || s.Elems[1].Kind != resp.KindInt {
			t.Fatalf("LATENCY HISTORY sample %s; want [:time :ms]", s)
		}
		maxMS = max(maxMS, s.Elems[1].Int)
	}
	if maxMS < 110 {
		t.Errorf("LATENCY HISTORY command: largest sample %d ms; want >= 120 after DEBUG SLEEP 0.12", maxMS)
	}
	if ev := latencyLatest(t, c)["command"]; ev[2] < 110 {
		t.Errorf("LATENCY LATEST command max after DEBUG SLEEP 0.12: got %d ms; want >= 120", ev[2])
	}
	if g := c.Do("LATENCY", "GRAPH", "command"); g.Kind != resp.KindBulk || len(g.Str) == 0 {
		t.Errorf("LATENCY GRAPH command: got %s; want a non-empty bulk graph", g)
	}
	if d := c.Do("LATENCY", "DOCTOR"); d.Kind != resp.KindBulk || len(d.Str) == 0 {
		t.Errorf("LATENCY DOCTOR: got %s; want a non-empty bulk report", d)
	}
	c.Expect("[]", "LATENCY", "HISTORY", "nosuch-event")

	// RESET of named events counts the ones that existed.
	c.Expect(":0", "LATENCY", "RESET", "nosuch-event")
	c.Expect(":1", "LATENCY", "RESET", "command", "nosuch-event")
	if !noSpike(t, c, 55) {
		t.Errorf("LATENCY LATEST after LATENCY RESET command: got %v; want the DEBUG SLEEP samples gone", latencyLatest(t, c))
	}
	c.Expect("+OK", "DEBUG", "SLEEP", "0.06")
	if n := c.Int("LATENCY", "RESET"); n < 1 {
		t.Errorf("LATENCY RESET: got :%d; want the number of events reset (>= 1)", n)
	}
	if !noSpike(t, c, 55) {
		t.Errorf("LATENCY LATEST after LATENCY RESET: got %v; want no event", latencyLatest(t, c))
	}

	// A threshold above the duration records nothing; 0 disables.
	c.Expect("+OK", "CONFIG", "SET", "latency-monitor-threshold", "500")
	c.Expect("+OK", "DEBUG", "SLEEP", "0.06")
	c.Expect("[]", "LATENCY", "LATEST")
	c.Expect("+OK", "CONFIG", "SET", "latency-monitor-threshold", "0")
	c.Expect("+OK", "DEBUG", "SLEEP", "0.06")
	c.Expect("[]", "LATENCY", "LATEST")
	if d := c.Str("LATENCY", "DOCTOR"); !strings.Contains(strings.ToLower(d), "disabled") {
		t.Errorf("LATENCY DOCTOR with the monitor disabled: got %q; want it to say the monitor is disabled", d)
	}

	// Errors.
	for _, args := range [][]string{{"LATENCY", "FOO"}, {"LATENCY", "LATEST", "x"}, {"LATENCY", "HISTORY"},
		{"LATENCY", "HISTORY", "a", "b"}, {"LATENCY", "GRAPH"}, {"LATENCY", "DOCTOR", "x"}, {"latency", ""}} {
		c.Expect(errSyntax, args...)
	}
	c.Expect(errArity("latency"), "LATENCY")

	// Sampling depends on latency-monitor-threshold only, not on whether the
	// slow log wants the command.
	c.Expect("+OK", "CONFIG", "SET", "latency-monitor-threshold", "40")
	c.Expect("+OK", "CONFIG", "SET", "slowlog-log-slower-than", "10000000")
	c.Expect("+OK", "SLOWLOG", "RESET")
	c.Expect("+OK", "DEBUG", "SLEEP", "0.06")
	c.Expect(":0", "SLOWLOG", "LEN")
	if noSpike(t, c, 55) {
		t.Errorf("LATENCY LATEST after DEBUG SLEEP 0.06 with latency-monitor-threshold 40 and slowlog-log-slower-than 10 s: "+
			"got %v; want a \"command\" event", latencyLatest(t, c))
	}
}
