package engine_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

var monitorLine = regexp.MustCompile(`^(\d+)\.(\d{6}) \[([^\]]+)\] (.*)$`)

// readMonitor reads one MONITOR line and returns its address and arguments
// part, checking the line's shape and time.
func readMonitor(t testing.TB, m *testclient.Conn, what string) (addr, args string) {
	t.Helper()
	r, err := m.ReadTimeout(5 * time.Second)
	if err != nil {
		t.Fatalf("%s: no MONITOR line: %v", what, err)
	}
	if r.Kind != resp.KindSimple {
		t.Fatalf("%s: got %s; want a simple-string MONITOR line", what, r)
	}
	g := monitorLine.FindStringSubmatch(string(r.Str))
	if g == nil {
		t.Fatalf("%s: MONITOR line %q; want <unix-seconds>.<microseconds> [<ip:port>] \"arg\"...", what, r.Str)
	}
	sec, _ := strconv.ParseInt(g[1], 10, 64)
	if now := time.Now().Unix(); sec < now-5 || sec > now+5 {
		t.Errorf("%s: MONITOR time %s; want about %d", what, g[1], now)
	}
	return g[3], g[4]
}

// TestMonitor covers MONITOR (commands.md 5.8): one line per command of any
// other client, arguments quoted and escaped, a second MONITOR ignored. It
// runs one event loop: the lines of clients on different loops reach the
// monitors through each loop's task queue and may swap (README, MONITOR),
// while this test checks the order across clients.
func TestMonitor(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--event-loops", "1")
	m := testclient.Dial(t, srv.Addr)
	m.Expect("+OK", "MONITOR")
	m2 := testclient.Dial(t, srv.Addr)
	m2.Expect("+OK", "monitor")

	c := testclient.Dial(t, srv.Addr)
	d := testclient.Dial(t, srv.Addr)
	type sent struct {
		conn *testclient.Conn
		args []string
		line string
	}
	cmds := []sent{
		{c, []string{"PING"}, `"PING"`},
		{c, []string{"ping", "hello world"}, `"ping" "hello world"`},
		{d, []string{"ADDJOB", "mon q", "a\x00b\r\n\"\\\t\xc3\xa9", "0", "TTL", "100"},
			`"ADDJOB" "mon q" "a\x00b\r\n\"\\\t\xc3\xa9" "0" "TTL" "100"`},
		{c, []string{"QLEN", "mon q"}, `"QLEN" "mon q"`},
		{d, []string{"GETJOB", "NOHANG", "FROM", ""}, `"GETJOB" "NOHANG" "FROM" ""`},
		{c, []string{"QSTAT", "x\x01\x7f\xff"}, `"QSTAT" "x\x01\x7f\xff"`},
	}
	for _, s := range cmds {
		s.conn.Do(s.args...)
	}
	for _, mon := range []*testclient.Conn{m, m2} {
		for i, s := range cmds {
			addr, args := readMonitor(t, mon, s.line)
			if i == 0 && mon == m && args == `"monitor"` && addr == m2.Raw().LocalAddr().String() {
				// Whether a monitor sees another client's MONITOR (an
				// admin command) is left open.
				addr, args = readMonitor(t, mon, s.line)
			}
			if i == 0 && mon == m2 && args == `"monitor"` && addr == m2.Raw().LocalAddr().String() {
				// Upstream feeds monitors before running the command: a
				// new monitor does not see its own MONITOR.
				t.Errorf("a new monitor received its own MONITOR command ([%s] %s); want the next command of another client", addr, args)
				addr, args = readMonitor(t, mon, s.line)
			}
			if want := s.conn.Raw().LocalAddr().String(); addr != want {
				t.Errorf("MONITOR line for %s: address %s; want %s", s.line, addr, want)
			}
			if args != s.line {
				t.Errorf("MONITOR line: arguments %s; want %s", args, s.line)
			}
		}
	}

	// Pipelined commands appear too, in order.
	p := testclient.Dial(t, srv.Addr)
	p.Pipeline([]string{"QLEN", "p1"}, []string{"QLEN", "p2"}, []string{"PING"})
	for _, want := range []string{`"QLEN" "p1"`, `"QLEN" "p2"`, `"PING"`} {
		if _, args := readMonitor(t, m, want); args != want {
			t.Errorf("MONITOR line for a pipelined command: got %s; want %s", args, want)
		}
	}
	for i := 0; i < 3; i++ {
		readMonitor(t, m2, "pipelined command on the second monitor")
	}

	// A second MONITOR on the same connection is silently ignored: the next
	// thing the monitor receives is the next command of another client.
	m.Send("MONITOR")
	time.Sleep(50 * time.Millisecond)
	c.Expect("+PONG", "PING")
	if _, args := readMonitor(t, m, "PING after a second MONITOR"); args != `"PING"` {
		t.Errorf("after a second MONITOR: got line %s; want the next command (%q) and no reply", args, `"PING"`)
	}
	readMonitor(t, m2, "PING after a second MONITOR")

	// A monitor that goes away is no longer fed; the others still are.
	m2.Close()
	c.Expect(`"after close"`, "PING", "after close")
	if _, args := readMonitor(t, m, "PING after a monitor closed"); args != `"PING" "after close"` {
		t.Errorf("MONITOR after another monitor closed: got %s", args)
	}
	m.ExpectSilent(100*time.Millisecond, "MONITOR with no command running")
	c.Expect(errArity("monitor"), "MONITOR", "x")
}
