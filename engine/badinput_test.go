package engine_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
)

// stillServing checks that a new connection gets PONG and the process runs.
func stillServing(t *testing.T, srv *testserver.Server, after string) {
	t.Helper()
	if srv.Exited() {
		t.Fatalf("after %s: the server exited:\n%s", after, srv.Log())
	}
	c := testclient.Dial(t, srv.Addr)
	if got := c.DoS("PING"); got != "+PONG" {
		t.Fatalf("after %s: another client got %s; want +PONG", after, got)
	}
	c.Close()
}

// TestProtocolErrors sends malformed requests (commands.md 1.1, 1.4): the
// server replies -ERR Protocol error: ..., closes that connection only, and
// keeps serving others.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)
	for _, tc := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"OversizeBulk", []byte("*1\r\n$600000000\r\n"), "-ERR Protocol error: invalid bulk length"},
		{"NegativeBulk", []byte("*1\r\n$-5\r\n"), "-ERR Protocol error: invalid bulk length"},
		{"BadBulkLength", []byte("*1\r\n$abc\r\n"), "-ERR Protocol error: invalid bulk length"},
		{"TooManyArgs", []byte("*2000000\r\n"), "-ERR Protocol error: invalid multibulk length"},
		{"BadMultibulkLength", []byte("*abc\r\n"), "-ERR Protocol error: invalid multibulk length"},
		{"NoDollar", []byte("*1\r\nfoo\r\n"), "-ERR Protocol error: expected '$', got 'f'"},
		{"UnbalancedQuotes", []byte("PING \"abc\r\n"), "-ERR Protocol error: unbalanced quotes in request"},
		{"TooBigInline", bytes.Repeat([]byte("A"), 70000), "-ERR Protocol error: too big inline request"},
		{"TooBigMbulkCount", append([]byte("*"), bytes.Repeat([]byte("1"), 70000)...), "-ERR Protocol error: too big mbulk count string"},
		{"TooBigBulkCount", append([]byte("*1\r\n$"), bytes.Repeat([]byte("1"), 70000)...), "-ERR Protocol error: too big bulk count string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testclient.Dial(t, srv.Addr)
			// Requests before the bad one are answered first.
			w := append([]byte("PING\r\n"), resp.AppendCommandStrings(nil, "QLEN", "pe-q")...)
			c.Write(append(w, tc.input...))
			if got := c.Read().String(); got != "+PONG" {
				t.Fatalf("PING before the bad input: got %s; want +PONG", got)
			}
			if got := c.Read().String(); got != ":0" {
				t.Fatalf("QLEN before the bad input: got %s; want :0", got)
			}
			r, err := c.ReadTimeout(5 * time.Second)
			if err != nil {
				t.Errorf("got no reply (%v); want %s", err, tc.want)
			} else if got := r.String(); got != tc.want {
				t.Errorf("got %s; want %s", got, tc.want)
			}
			c.ExpectClosed(5*time.Second, tc.name)
			stillServing(t, srv, tc.name)
		})
	}
}

// TestOutputBufferLimit: a client that pipelines without reading is closed
// once its pending replies pass the hard limit; the server's memory stays
// bounded and other clients are served.
func TestOutputBufferLimit(t *testing.T) {
	srv := startServer(t, 2, "--client-output-buffer-limit", "normal", "1mb", "512kb", "1")
	conn, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const total = 50 << 20
	chunk := bytes.Repeat([]byte("PING\r\n"), 64<<10)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n := 0
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		for n < total {
			k, err := conn.Write(chunk)
			n += k
			if err != nil {
				done <- result{n, err}
				return
			}
		}
		done <- result{n, nil}
	}()
	var maxRSS int64
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-time.After(50 * time.Millisecond):
			if m := rssMB(t, srv.Pid()); m > maxRSS {
				maxRSS = m
			}
		}
	}
	t.Logf("wrote %d MB (%v); server RSS peak %d MB", res.n>>20, res.err, maxRSS)
	// Whatever the writer saw, reading must end with the server's close,
	// long before every reply arrived.
	var got int
	buf := make([]byte, 256<<10)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		n, err := conn.Read(buf)
		got += n
		if err != nil {
			if !testclient.IsClosedErr(err) {
				t.Fatalf("after %d bytes of replies: %v; want the server to close the connection", got, err)
			}
			break
		}
	}
	if want := res.n / 6 * 7; got >= want {
		t.Errorf("read %d bytes of replies; want fewer than all %d (the connection should be closed early)", got, want)
	}
	if m := rssMB(t, srv.Pid()); m > maxRSS {
		maxRSS = m
	}
	if maxRSS > 200 {
		t.Errorf("server RSS peaked at %d MB; want below 200 MB", maxRSS)
	}
	stillServing(t, srv, "a client over its output buffer limit")
}

// TestMaxClients: past maxclients a new connection gets the error and is
// closed; once a client leaves, new ones are accepted again.
func TestMaxClients(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--maxclients", "2")
	// The harness's own PING connection may still count for a moment.
	connect := func(what string) *testclient.Conn {
		var c *testclient.Conn
		testclient.Eventually(t, 5*time.Second, what, func() bool {
			c = testclient.Dial(t, srv.Addr)
			if _, err := c.ReadTimeout(20 * time.Millisecond); err == nil {
				c.Close() // refused: the error came before any request
				return false
			}
			if _, err := c.Raw().Write([]byte("PING\r\n")); err != nil {
				c.Close()
				return false
			}
			r, err := c.ReadTimeout(2 * time.Second)
			if err != nil || r.String() != "+PONG" {
				c.Close()
				return false
			}
			return true
		})
		return c
	}
	c1 := connect("a first client")
	c2 := connect("a second client")
	c3 := testclient.Dial(t, srv.Addr)
	out := c3.ExpectClosed(5*time.Second, "third connection with maxclients 2")
	if got, want := string(out), errMaxClients+"\r\n"; got != want {
		t.Errorf("third connection: got %q; want %q", got, want)
	}
	c1.Expect("+PONG", "PING")
	c2.Expect("+PONG", "PING")
	c1.Close()
	c4 := connect("a client after one left")
	c4.Expect("+PONG", "PING")
}

// TestQueryBufferLimit: a client whose unparsed input passes
// client-query-buffer-limit is dropped; others are fine.
func TestQueryBufferLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--client-query-buffer-limit", "1mb")
	c := testclient.Dial(t, srv.Addr)
	c.Expect("+PONG", "PING")
	head := "*2\r\n$4\r\nPING\r\n$2000000\r\n"
	data := append([]byte(head), bytes.Repeat([]byte("x"), 1500000)...)
	raw := c.Raw()
	go func() {
		_ = raw.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = raw.Write(data) // the server may close while we write
	}()
	out := c.ExpectClosed(10*time.Second, "a 2 MB argument over a 1 MB query buffer limit")
	if len(out) > 0 && !strings.HasPrefix(string(out), "-") {
		t.Errorf("before closing: got %q; want nothing or an error", out)
	}
	stillServing(t, srv, "a client over the query buffer limit")
	// An argument under the limit still works.
	d := testclient.Dial(t, srv.Addr)
	body := strings.Repeat("y", 500000)
	id := d.AddJob("qb", body)
	if js := d.GetJobs("FROM", "qb"); len(js) != 1 || js[0].ID != id || js[0].Body != body {
		t.Fatalf("GETJOB of a 500 KB job: got %d jobs", len(js))
	}
}
