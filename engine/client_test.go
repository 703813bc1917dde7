package engine_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

const errClientSyntax = "-ERR Syntax error, try CLIENT (LIST | KILL ip:port | GETNAME | SETNAME connection-name)"

// clientFields is the field order of a CLIENT LIST line (commands.md 5.9).
var clientFields = []string{"id", "addr", "fd", "name", "age", "idle", "flags", "qbuf", "qbuf-free", "obl", "oll", "omem", "events", "cmd"}

var clientValue = map[string]*regexp.Regexp{
	"id": regexp.MustCompile(`^\d+$`), "addr": regexp.MustCompile(`^127\.0\.0\.1:\d+$`), "fd": regexp.MustCompile(`^-?\d+$`),
	"name": regexp.MustCompile(`^[!-~]*$`), "age": regexp.MustCompile(`^\d+$`), "idle": regexp.MustCompile(`^\d+$`),
	"flags": regexp.MustCompile(`^[ObcuAUN]+$`), "qbuf": regexp.MustCompile(`^\d+$`), "qbuf-free": regexp.MustCompile(`^\d+$`),
	"obl": regexp.MustCompile(`^\d+$`), "oll": regexp.MustCompile(`^\d+$`), "omem": regexp.MustCompile(`^\d+$`),
	"events": regexp.MustCompile(`^(r|w|rw)$`), "cmd": regexp.MustCompile(`^([a-z]+|NULL)$`),
}

// clientList runs CLIENT LIST and returns its lines as maps, keyed by addr,
// checking the format of every line.
func clientList(t testing.TB, c *testclient.Conn) map[string]map[string]string {
	t.Helper()
	r := c.Do("CLIENT", "LIST")
	if r.Kind != resp.KindBulk || r.IsNull() {
		t.Fatalf("CLIENT LIST: got %s; want a bulk string", r)
	}
	text := string(r.Str)
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("CLIENT LIST: got %q; want lines ending in \\n", text)
	}
	out := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		words := strings.Split(line, " ")
		if len(words) != len(clientFields) {
			t.Fatalf("CLIENT LIST line %q: %d fields; want %d (%s)", line, len(words), len(clientFields), strings.Join(clientFields, " "))
		}
		m := map[string]string{}
		for i, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok || k != clientFields[i] {
				t.Fatalf("CLIENT LIST line %q: field %d is %q; want %s=<value>", line, i, w, clientFields[i])
			}
			if !clientValue[k].MatchString(v) {
				t.Errorf("CLIENT LIST line %q: %s=%q; want %s", line, k, v, clientValue[k])
			}
			m[k] = v
		}
		out[m["addr"]] = m
	}
	return out
}

// addrOf is the client's address as the server sees it.
func addrOf(c *testclient.Conn) string { return c.Raw().LocalAddr().String() }

// TestClient covers CLIENT LIST / SETNAME / GETNAME / KILL / PAUSE / REPLY
// and their errors (commands.md 5.9). The server is its own: CLIENT KILL
// and CLIENT PAUSE touch every client.
func TestClient(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	t.Run("ListAndNames", func(t *testing.T) {
		a := testclient.Dial(t, srv.Addr)
		a.Expect("(nil)", "CLIENT", "GETNAME")
		a.Expect("+OK", "CLIENT", "SETNAME", "alpha")
		a.Expect(`"alpha"`, "CLIENT", "GETNAME")
		a.Expect(`"alpha"`, "client", "getname")
		b := testclient.Dial(t, srv.Addr)
		b.Expect("+OK", "CLIENT", "SETNAME", "beta")
		b.Expect(":0", "QLEN", "cl-q")
		blocked := testclient.Dial(t, srv.Addr)
		blocked.Send("GETJOB", "FROM", "cl-block")
		waitBlocked(t, a, "cl-block", 1)
		mon := testclient.Dial(t, srv.Addr)
		mon.Expect("+OK", "MONITOR")

		list := clientList(t, a)
		la, lb, lbl, lm := list[addrOf(a)], list[addrOf(b)], list[addrOf(blocked)], list[addrOf(mon)]
		if la == nil || lb == nil || lbl == nil || lm == nil {
			t.Fatalf("CLIENT LIST: %v; want lines for %s, %s, %s and %s", list, addrOf(a), addrOf(b), addrOf(blocked), addrOf(mon))
		}
		for _, tc := range []struct {
			line        map[string]string
			name, flags string
			cmd         string
		}{
			{la, "alpha", "N", "client"},
			{lb, "beta", "N", "qlen"},
			{lbl, "", "b", "getjob"},
			{lm, "", "O", "monitor"},
		} {
			if tc.line["name"] != tc.name || tc.line["flags"] != tc.flags || tc.line["cmd"] != tc.cmd {
				t.Errorf("CLIENT LIST line %v: want name=%s flags=%s cmd=%s", tc.line, tc.name, tc.flags, tc.cmd)
			}
		}
		ida, _ := strconv.ParseUint(la["id"], 10, 64)
		idb, _ := strconv.ParseUint(lb["id"], 10, 64)
		if idb <= ida {
			t.Errorf("CLIENT LIST ids: alpha %d, beta %d; want increasing with connection order", ida, idb)
		}
		// The name can be changed and cleared.
		a.Expect("+OK", "CLIENT", "SETNAME", "!~gamma~!")
		a.Expect(`"!~gamma~!"`, "CLIENT", "GETNAME")
		a.Expect("+OK", "CLIENT", "SETNAME", "")
		a.Expect("(nil)", "CLIENT", "GETNAME")
		const errName = "-ERR Client names cannot contain spaces, newlines or special characters."
		for _, bad := range []string{"a b", "a\nb", "tab\there", "\x7f", "caf\xc3\xa9", "\x00"} {
			a.Expect(errName, "CLIENT", "SETNAME", bad)
		}
		a.Expect("(nil)", "CLIENT", "GETNAME") // unchanged by the refused names
		blocked.Close()
	})

	t.Run("Errors", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for _, args := range [][]string{
			{"CLIENT", "FOO"}, {"CLIENT", "LIST", "x"}, {"CLIENT", "GETNAME", "x"}, {"CLIENT", "SETNAME"},
			{"CLIENT", "SETNAME", "a", "b"}, {"CLIENT", "PAUSE"}, {"CLIENT", "REPLY"}, {"CLIENT", ""},
		} {
			c.Expect(errClientSyntax, args...)
		}
		c.Expect(errArity("client"), "CLIENT")
		c.Expect(errSyntax, "CLIENT", "REPLY", "maybe")
		c.Expect(errTimeoutInt, "CLIENT", "PAUSE", "abc")
		c.Expect(errTimeoutInt, "CLIENT", "PAUSE", "1.5")
		c.Expect(errTimeoutNeg, "CLIENT", "PAUSE", "-1")
		// CLIENT KILL filters.
		c.Expect(errSyntax, "CLIENT", "KILL", "ID", "1", "TYPE")
		c.Expect(errSyntax, "CLIENT", "KILL", "FOO", "bar")
		c.Expect(errSyntax, "CLIENT", "KILL", "SKIPME", "maybe")
		c.Expect(errNotInteger, "CLIENT", "KILL", "ID", "abc")
		c.Expect("-ERR Unknown client type 'slave'", "CLIENT", "KILL", "TYPE", "slave")
		c.Expect("-ERR Unknown client type 'bogus'", "CLIENT", "KILL", "TYPE", "bogus")
		c.Expect("-ERR No such client", "CLIENT", "KILL", "1.2.3.4:5")
		c.Expect("-ERR No such client", "CLIENT", "KILL", "nonsense")
		c.Expect("+PONG", "PING")
	})

	t.Run("Kill", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// CLIENT KILL ip:port
		v := testclient.Dial(t, srv.Addr)
		v.Expect("+PONG", "PING")
		c.Expect("+OK", "CLIENT", "KILL", addrOf(v))
		v.ExpectClosed(5*time.Second, "a client killed by CLIENT KILL ip:port")
		c.Expect("-ERR No such client", "CLIENT", "KILL", addrOf(v))
		// CLIENT KILL without a target is a syntax error, and kills no one.
		v = testclient.Dial(t, srv.Addr)
		v.Expect("+PONG", "PING")
		if got := c.DoS("CLIENT", "KILL"); got != errSyntax {
			t.Errorf("CLIENT KILL (no target): got %s; want %s", got, errSyntax)
		}
		c.Expect("+PONG", "PING")
		if r, err := v.ReadClosed(100 * time.Millisecond); len(r) > 0 || testclient.IsClosedErr(err) {
			t.Errorf("CLIENT KILL without arguments closed another client (read %q, %v); want no kill", r, err)
			v = testclient.Dial(t, srv.Addr)
		}
		v.Expect("+PONG", "PING")
		// The old form can kill the caller itself, after the reply.
		self := testclient.Dial(t, srv.Addr)
		self.Expect("+OK", "CLIENT", "KILL", addrOf(self))
		self.ExpectClosed(5*time.Second, "CLIENT KILL <own ip:port>")
		// ID
		c.Expect(":1", "CLIENT", "KILL", "ID", clientList(t, c)[addrOf(v)]["id"])
		v.ExpectClosed(5*time.Second, "a client killed by CLIENT KILL ID")
		v = testclient.Dial(t, srv.Addr)
		v.Expect("+PONG", "PING")
		id := clientList(t, c)[addrOf(v)]["id"]
		c.Expect(":1", "CLIENT", "KILL", "ID", id)
		v.ExpectClosed(5*time.Second, "a client killed by CLIENT KILL ID")
		c.Expect(":0", "CLIENT", "KILL", "ID", id)
		c.Expect(":0", "CLIENT", "KILL", "ID", "999999999")
		// ADDR, TYPE normal, case-insensitive keywords
		v = testclient.Dial(t, srv.Addr)
		v.Expect("+PONG", "PING")
		c.Expect(":1", "client", "kill", "addr", addrOf(v), "type", "NORMAL")
		v.ExpectClosed(5*time.Second, "a client killed by CLIENT KILL ADDR")
		c.Expect(":0", "CLIENT", "KILL", "ADDR", addrOf(v))
		// Filters combine (AND).
		v = testclient.Dial(t, srv.Addr)
		v.Expect("+PONG", "PING")
		vid := clientList(t, c)[addrOf(v)]["id"]
		c.Expect(":0", "CLIENT", "KILL", "ID", vid, "ADDR", addrOf(c))
		v.Expect("+PONG", "PING")
		// SKIPME yes (the default) spares the caller; SKIPME no kills it
		// after the reply.
		c.Expect(":0", "CLIENT", "KILL", "ADDR", addrOf(c))
		c.Expect(":0", "CLIENT", "KILL", "ADDR", addrOf(c), "SKIPME", "yes")
		c.Expect("+PONG", "PING")
		c.Expect(":1", "CLIENT", "KILL", "ADDR", addrOf(c), "SKIPME", "no")
		c.ExpectClosed(5*time.Second, "the caller of CLIENT KILL ... SKIPME no")
		// TYPE normal alone kills every other client.
		k := testclient.Dial(t, srv.Addr)
		others := []*testclient.Conn{v}
		for i := 0; i < 3; i++ {
			o := testclient.Dial(t, srv.Addr)
			o.Expect("+PONG", "PING")
			others = append(others, o)
		}
		n := k.Int("CLIENT", "KILL", "TYPE", "normal")
		if n < int64(len(others)) {
			t.Errorf("CLIENT KILL TYPE normal: got :%d; want at least %d", n, len(others))
		}
		for _, o := range others {
			o.ExpectClosed(5*time.Second, "a client killed by CLIENT KILL TYPE normal")
		}
		k.Expect("+PONG", "PING")
	})

	t.Run("Pause", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		other := testclient.Dial(t, srv.Addr)
		other.Expect("+PONG", "PING")
		start := time.Now()
		c.Expect("+OK", "CLIENT", "PAUSE", "400")
		other.Send("PING")
		r, err := other.ReadTimeout(5 * time.Second)
		waited := time.Since(start)
		if err != nil || r.String() != "+PONG" {
			t.Fatalf("PING during CLIENT PAUSE: got %v, %v; want +PONG after the pause", r, err)
		}
		if waited < 300*time.Millisecond {
			t.Errorf("PING sent during CLIENT PAUSE 400 answered after %v; want about 400 ms", waited)
		}
		// Shard commands wait as well, and nothing is lost.
		start = time.Now()
		c.Expect("+OK", "CLIENT", "PAUSE", "300")
		other.Send("ADDJOB", "cl-pause", "x", "0")
		r = other.Read()
		if r.Kind != resp.KindSimple || time.Since(start) < 200*time.Millisecond {
			t.Errorf("ADDJOB during CLIENT PAUSE 300: got %s after %v; want a job ID after about 300 ms", r, time.Since(start))
		}
		c.Expect("+OK", "CLIENT", "PAUSE", "0")
		other.Expect(":1", "QLEN", "cl-pause")
	})

	t.Run("Reply", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		var w []byte
		for _, cmd := range [][]string{
			{"CLIENT", "REPLY", "OFF"},
			{"PING", "muted"},
			{"ADDJOB", "cl-reply", "x", "0"}, // shard commands are muted too
			{"QLEN", "cl-reply"},
			{"CLIENT", "REPLY", "SKIP"}, // ignored while OFF
			{"CLIENT", "REPLY", "ON"},
			{"PING", "on"},
			{"CLIENT", "REPLY", "SKIP"},
			{"PING", "skipped"},
			{"PING", "after skip"},
			{"client", "reply", "skip"},
			{"QLEN", "cl-reply"},
			{"QLEN", "cl-reply"},
		} {
			w = resp.AppendCommandStrings(w, cmd...)
		}
		c.Write(w)
		for _, want := range []string{"+OK", `"on"`, `"after skip"`, ":1"} {
			if got := c.Read().String(); got != want {
				t.Fatalf("CLIENT REPLY sequence: got %s; want %s", got, want)
			}
		}
		c.ExpectSilent(100*time.Millisecond, "after the CLIENT REPLY sequence")
		c.Expect("+OK", "CLIENT", "REPLY", "ON")
		c.Expect("+PONG", "PING")

		// Error replies are muted too (upstream drops every reply).
		w = nil
		for _, cmd := range [][]string{
			{"CLIENT", "REPLY", "OFF"}, {"NOSUCHCMD"}, {"QLEN"}, {"SHOW", "bad"}, {"CLIENT", "REPLY", "ON"},
			{"CLIENT", "REPLY", "SKIP"}, {"NOSUCHCMD"}, {"PING", "last"},
		} {
			w = resp.AppendCommandStrings(w, cmd...)
		}
		c.Write(w)
		var got []string
		for {
			r, err := c.ReadTimeout(300 * time.Millisecond)
			if err != nil {
				break
			}
			got = append(got, r.String())
			if r.String() == `"last"` {
				break
			}
		}
		if want := []string{"+OK", `"last"`}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("errors under CLIENT REPLY OFF/SKIP: got replies %q; want %q", got, want)
		}
	})
}
