package engine_test

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
)

// Helpers for the tests of issue 3 (server administration, configuration,
// scans): a runner for startup failures, a goroutine-safe raw client and
// scan helpers. Servers started from a config file or stdin are
// testserver.StartArgsStdin's.

// runFails runs the server binary in dir with args (and stdin when not
// empty), expecting it to refuse to start: it returns the exit code and
// everything printed. A server that keeps running for 10 s is killed and the
// test fails.
func runFails(t *testing.T, dir, stdin string, args ...string) (int, string) {
	t.Helper()
	r := testserver.RunExpectExitStdin(t, dir, 10*time.Second, stdin, args...)
	if r.TimedOut {
		t.Fatalf("disq-server %s: still running after 10 s; want it to refuse the configuration\n%s",
			strings.Join(args, " "), r.Output)
	}
	return r.ExitCode, r.Output
}

// writeFile writes a file and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rawConn is a minimal client that reports errors instead of failing the
// test, for goroutines other than the test's.
type rawConn struct {
	c   net.Conn
	buf []byte
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c}, nil
}

// pipeline sends every command in one write and returns the String() form
// of each reply.
func (r *rawConn) pipeline(cmds ...[]string) ([]string, error) {
	var w []byte
	for _, a := range cmds {
		w = resp.AppendCommandStrings(w, a...)
	}
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(w); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cmds))
	var tmp [64 << 10]byte
	for len(out) < len(cmds) {
		if len(r.buf) > 0 {
			rep, n, err := resp.ReadReply(r.buf)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				out = append(out, rep.String())
				r.buf = append(r.buf[:0], r.buf[n:]...)
				continue
			}
		}
		n, err := r.c.Read(tmp[:])
		if n > 0 {
			r.buf = append(r.buf, tmp[:n]...)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *rawConn) Close() { _ = r.c.Close() }

// scanPage checks the shape of one QSCAN/JSCAN reply: a 2-element array of
// the cursor (bulk string, unsigned decimal) and an array of items.
func scanPage(t testing.TB, r resp.Reply, what string) (string, []resp.Reply) {
	t.Helper()
	if r.Kind != resp.KindArray || len(r.Elems) != 2 {
		t.Fatalf("%s: got %s; want [\"<cursor>\" [items...]]", what, r)
	}
	cur, items := r.Elems[0], r.Elems[1]
	if cur.Kind != resp.KindBulk || cur.IsNull() {
		t.Fatalf("%s: cursor %s; want a bulk string", what, cur)
	}
	if _, err := strconv.ParseUint(string(cur.Str), 10, 64); err != nil {
		t.Fatalf("%s: cursor %q; want an unsigned decimal", what, cur.Str)
	}
	if items.Kind != resp.KindArray || items.IsNull() {
		t.Fatalf("%s: items %s; want an array", what, items)
	}
	return string(cur.Str), items.Elems
}

// scanAll runs a whole QSCAN/JSCAN iteration (cmd plus opts, the cursor
// last) and returns every item and the number of calls; it fails after
// maxCalls calls.
func scanAll(t testing.TB, c *testclient.Conn, maxCalls int, cmd string, opts ...string) ([]resp.Reply, int) {
	t.Helper()
	cursor := "0"
	var all []resp.Reply
	for calls := 1; calls <= maxCalls; calls++ {
		args := append(append([]string{cmd}, opts...), cursor)
		cur, items := scanPage(t, c.Do(args...), strings.Join(args, " "))
		all = append(all, items...)
		if cur == "0" {
			return all, calls
		}
		cursor = cur
	}
	t.Fatalf("%s %s: cursor not back to 0 after %d calls", cmd, strings.Join(opts, " "), maxCalls)
	return nil, 0
}

// strs returns the payloads of string items.
func strs(items []resp.Reply) []string {
	out := make([]string, len(items))
	for i, r := range items {
		out[i] = string(r.Str)
	}
	return out
}

// set makes a membership set.
func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// fatalBlock matches the startup error block of a bad configuration line.
func fatalBlock(line int, text string) *regexp.Regexp {
	return regexp.MustCompile(`\*\*\* FATAL CONFIG FILE ERROR \*\*\*\nReading the configuration file, at line ` +
		strconv.Itoa(line) + `\n>>> '` + regexp.QuoteMeta(text) + `'\n(.+)`)
}

// infoInt returns an integer field of INFO section.
func infoInt(t testing.TB, c *testclient.Conn, section, key string) int64 {
	t.Helper()
	v, ok := c.Info(section)[key]
	if !ok {
		t.Fatalf("INFO %s: no field %s", section, key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("INFO %s: %s:%s is not an integer", section, key, v)
	}
	return n
}

// configGet returns the value of one parameter from CONFIG GET.
func configGet(t testing.TB, c *testclient.Conn, name string) string {
	t.Helper()
	r := c.Do("CONFIG", "GET", name)
	if r.Kind != resp.KindArray || len(r.Elems) != 2 || string(r.Elems[0].Str) != name {
		t.Fatalf("CONFIG GET %s: got %s; want [\"%s\" \"<value>\"]", name, r, name)
	}
	return string(r.Elems[1].Str)
}

// configAll returns CONFIG GET * as ordered name/value pairs.
func configAll(t testing.TB, c *testclient.Conn) [][2]string {
	t.Helper()
	r := c.Do("CONFIG", "GET", "*")
	if r.Kind != resp.KindArray || len(r.Elems)%2 != 0 {
		t.Fatalf("CONFIG GET *: got %s; want a flat array of pairs", r)
	}
	var out [][2]string
	for i := 0; i < len(r.Elems); i += 2 {
		for _, e := range r.Elems[i : i+2] {
			if e.Kind != resp.KindBulk || e.IsNull() {
				t.Fatalf("CONFIG GET *: element %s is not a bulk string", e)
			}
		}
		out = append(out, [2]string{string(r.Elems[i].Str), string(r.Elems[i+1].Str)})
	}
	return out
}
