// Package testclient is a small raw-RESP client for tests: it sends
// commands and returns replies with their exact types (simple string vs
// bulk string, null bulk vs null array), which the Disque contract fixes
// byte for byte.
package testclient

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"disq/internal/respread"
	"disq/netpoll/resp"
)

// Conn is one client connection.
type Conn struct {
	t  testing.TB
	c  net.Conn
	rd respread.Reader
}

// Dial connects to addr; the connection is closed when the test ends.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	cc := &Conn{t: t, c: c}
	t.Cleanup(func() { _ = c.Close() })
	return cc
}

// Close closes the connection.
func (c *Conn) Close() { _ = c.c.Close() }

// Raw returns the underlying connection.
func (c *Conn) Raw() net.Conn { return c.c }

// Send writes one command without reading.
func (c *Conn) Send(args ...string) {
	c.t.Helper()
	c.Write(resp.AppendCommandStrings(nil, args...))
}

// Write writes raw bytes.
func (c *Conn) Write(b []byte) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read reads one reply (waiting up to 10 s).
func (c *Conn) Read() resp.Reply {
	c.t.Helper()
	r, err := c.ReadTimeout(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return r
}

// ReadTimeout reads one reply or fails after d.
func (c *Conn) ReadTimeout(d time.Duration) (resp.Reply, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	return c.rd.Read(c.c)
}

// Do sends a command and returns its reply.
func (c *Conn) Do(args ...string) resp.Reply {
	c.t.Helper()
	c.Send(args...)
	return c.Read()
}

// DoS sends a command and returns its reply's String() form.
func (c *Conn) DoS(args ...string) string {
	c.t.Helper()
	return c.Do(args...).String()
}

// Expect sends a command and fails unless the reply's String() form equals
// want (e.g. `+OK`, `:1`, `"bulk"`, `(nil)`, `(nil array)`, `[...]`, `-ERR ...`).
func (c *Conn) Expect(want string, args ...string) {
	c.t.Helper()
	if got := c.DoS(args...); got != want {
		c.t.Fatalf("%s: got %s; want %s", strings.Join(args, " "), got, want)
	}
}

// ExpectPrefix is Expect on a prefix of the String() form.
func (c *Conn) ExpectPrefix(prefix string, args ...string) string {
	c.t.Helper()
	got := c.DoS(args...)
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%s: got %s; want prefix %s", strings.Join(args, " "), got, prefix)
	}
	return got
}

// Str returns the payload of a simple/bulk reply, failing on other kinds.
func (c *Conn) Str(args ...string) string {
	c.t.Helper()
	r := c.Do(args...)
	if r.Kind != resp.KindSimple && r.Kind != resp.KindBulk {
		c.t.Fatalf("%s: got %s; want a string", strings.Join(args, " "), r)
	}
	return string(r.Str)
}

// Int returns an integer reply, failing on other kinds.
func (c *Conn) Int(args ...string) int64 {
	c.t.Helper()
	r := c.Do(args...)
	if r.Kind != resp.KindInt {
		c.t.Fatalf("%s: got %s; want an integer", strings.Join(args, " "), r)
	}
	return r.Int
}

// Field returns the value of key in a flat key/value array reply (SHOW, QSTAT).
func Field(r resp.Reply, key string) resp.Reply {
	for i := 0; i+1 < len(r.Elems); i += 2 {
		if string(r.Elems[i].Str) == key {
			return r.Elems[i+1]
		}
	}
	panic(fmt.Sprintf("no field %q in %s", key, r))
}

// Eventually polls f every 20 ms until it returns true or d elapses.
func Eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}
