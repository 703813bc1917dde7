package testclient

import (
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"disq/netpoll/resp"
)

// JobIDPattern is the shape of a job ID (semantics.md section 2):
// D-<8 lowercase hex>-<24 base64 characters>-<4 lowercase hex>.
var JobIDPattern = regexp.MustCompile(`^D-[0-9a-f]{8}-[A-Za-z0-9+/]{24}-[0-9a-f]{4}$`)

// IsJobID reports whether s has the shape of a job ID.
func IsJobID(s string) bool { return JobIDPattern.MatchString(s) }

// AddJob sends ADDJOB queue body 0 [options...] and returns the job ID,
// failing unless the reply is a simple string holding a well-formed ID.
func (c *Conn) AddJob(queue, body string, opts ...string) string {
	c.t.Helper()
	args := append([]string{"ADDJOB", queue, body, "0"}, opts...)
	r := c.Do(args...)
	if r.Kind != resp.KindSimple || !IsJobID(string(r.Str)) {
		c.t.Fatalf("%s: got %s; want +<job id>", strings.Join(args, " "), r)
	}
	return string(r.Str)
}

// Pipeline writes every command in one write, then reads one reply per
// command.
func (c *Conn) Pipeline(cmds ...[]string) []resp.Reply {
	c.t.Helper()
	var b []byte
	for _, a := range cmds {
		b = resp.AppendCommandStrings(b, a...)
	}
	c.Write(b)
	out := make([]resp.Reply, len(cmds))
	for i := range cmds {
		out[i] = c.Read()
	}
	return out
}

// ExpectSilent fails if a reply arrives within d (for blocked clients).
func (c *Conn) ExpectSilent(d time.Duration, what string) {
	c.t.Helper()
	r, err := c.ReadTimeout(d)
	if err == nil {
		c.t.Fatalf("%s: got reply %s; want no reply within %v", what, r, d)
	}
	if !IsTimeout(err) {
		c.t.Fatalf("%s: got error %v; want no reply within %v", what, err, d)
	}
}

// ReadClosed reads until the server closes the connection or d elapses. It
// returns the bytes that arrived after what the client already buffered,
// and the final error: io.EOF or a reset for a closed connection, a timeout
// error otherwise.
func (c *Conn) ReadClosed(d time.Duration) ([]byte, error) {
	out := c.rd.Take()
	deadline := time.Now().Add(d)
	_ = c.c.SetReadDeadline(deadline)
	var tmp [64 << 10]byte
	for {
		n, err := c.c.Read(tmp[:])
		out = append(out, tmp[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// ExpectClosed fails unless the server closes the connection within d
// (EOF or connection reset); it returns what arrived before the close.
func (c *Conn) ExpectClosed(d time.Duration, what string) []byte {
	c.t.Helper()
	out, err := c.ReadClosed(d)
	if !IsClosedErr(err) {
		c.t.Fatalf("%s: connection not closed by the server within %v (read %d bytes, err %v)", what, d, len(out), err)
	}
	return out
}

// IsTimeout reports whether err is a network timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsClosedErr reports whether err means the peer closed the connection.
func IsClosedErr(err error) bool {
	if err == nil || IsTimeout(err) {
		return false
	}
	if errors.Is(err, io.EOF) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "reset by peer") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "use of closed network connection")
}

// Info runs INFO [section] and returns its fields.
func (c *Conn) Info(section ...string) map[string]string {
	c.t.Helper()
	args := append([]string{"INFO"}, section...)
	r := c.Do(args...)
	if r.Kind != resp.KindBulk || r.IsNull() {
		c.t.Fatalf("%s: got %s; want a bulk string", strings.Join(args, " "), r)
	}
	return ParseInfo(string(r.Str))
}

// ParseInfo splits INFO text into its field:value lines.
func ParseInfo(s string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(s, "\r\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// Job is one job item of a GETJOB or QPEEK reply.
type Job struct {
	Queue, ID, Body string
	Nacks, AddDel   int64 // WITHCOUNTERS only
	Counters        bool
}

// Jobs decodes a GETJOB/QPEEK reply (nil for a null array), failing on any
// other shape.
func Jobs(t testing.TB, r resp.Reply) []Job {
	t.Helper()
	if r.Kind != resp.KindArray {
		t.Fatalf("got %s; want an array of jobs", r)
	}
	if r.IsNull() {
		return nil
	}
	out := make([]Job, 0, len(r.Elems))
	for _, e := range r.Elems {
		if e.Kind != resp.KindArray || (len(e.Elems) != 3 && len(e.Elems) != 7) {
			t.Fatalf("job item %s in %s; want a 3- or 7-element array", e, r)
		}
		for k := 0; k < 3; k++ {
			if e.Elems[k].Kind != resp.KindBulk || e.Elems[k].IsNull() {
				t.Fatalf("job item %s: element %d is not a bulk string", e, k)
			}
		}
		j := Job{Queue: string(e.Elems[0].Str), ID: string(e.Elems[1].Str), Body: string(e.Elems[2].Str)}
		if len(e.Elems) == 7 {
			if e.Elems[3].String() != `"nacks"` || e.Elems[4].Kind != resp.KindInt ||
				e.Elems[5].String() != `"additional-deliveries"` || e.Elems[6].Kind != resp.KindInt {
				t.Fatalf("job item %s; want [queue id body \"nacks\" :n \"additional-deliveries\" :n]", e)
			}
			j.Nacks, j.AddDel, j.Counters = e.Elems[4].Int, e.Elems[6].Int, true
		}
		out = append(out, j)
	}
	return out
}

// GetJobs sends GETJOB args... and decodes the reply.
func (c *Conn) GetJobs(args ...string) []Job {
	c.t.Helper()
	return Jobs(c.t, c.Do(append([]string{"GETJOB"}, args...)...))
}
