package respread

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"disq/netpoll/resp"
)

func TestRead(t *testing.T) {
	const wire = "+OK\r\n:42\r\n$5\r\nhello\r\n*2\r\n$1\r\na\r\n*-1\r\n$-1\r\n-ERR bad\r\n"
	want := []string{`+OK`, `:42`, `"hello"`, `["a" (nil array)]`, `(nil)`, `-ERR bad`}
	for name, src := range map[string]io.Reader{
		"Whole":   strings.NewReader(wire),
		"OneByte": iotest.OneByteReader(strings.NewReader(wire)),
		"DataErr": iotest.DataErrReader(strings.NewReader(wire)),
	} {
		t.Run(name, func(t *testing.T) {
			var r Reader
			for i, w := range want {
				got, err := r.Read(src)
				if err != nil || got.String() != w {
					t.Fatalf("reply %d: got %s, %v; want %s", i, got, err, w)
				}
			}
			if got, err := r.Read(src); err != io.EOF {
				t.Fatalf("after the last reply: got %s, %v; want io.EOF", got, err)
			}
		})
	}
}

func TestReadProtocolError(t *testing.T) {
	var r Reader
	if got, err := r.Read(strings.NewReader("?what\r\n")); err == nil || err == io.EOF {
		t.Fatalf("Read of a bad type byte: got %s, %v; want a protocol error", got, err)
	}
}

// The replies Read returns do not change when the buffer is reused.
func TestReadCopies(t *testing.T) {
	var r Reader
	src := strings.NewReader("*1\r\n$3\r\nabc\r\n$3\r\nxyz\r\n")
	first, err := r.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(src); err != nil {
		t.Fatal(err)
	}
	if got := first.String(); got != `["abc"]` {
		t.Fatalf("first reply after a second read: %s; want [\"abc\"]", got)
	}
}

func TestTake(t *testing.T) {
	var r Reader
	src := strings.NewReader("+OK\r\n$10\r\npart")
	if _, err := r.Read(src); err != nil {
		t.Fatal(err)
	}
	if got := string(r.Take()); got != "$10\r\npart" {
		t.Fatalf("Take: %q; want the bytes past +OK", got)
	}
	if got := r.Take(); len(got) != 0 {
		t.Fatalf("second Take: %q; want nothing", got)
	}
}

func TestClone(t *testing.T) {
	buf := []byte("*2\r\n$1\r\na\r\n:1\r\n")
	rep, _, err := resp.ReadReply(buf)
	if err != nil {
		t.Fatal(err)
	}
	c := Clone(rep)
	copy(buf, "XXXXXXXXXXXXXXX")
	if got := c.String(); got != `["a" :1]` {
		t.Fatalf("clone after the buffer changed: %s; want [\"a\" :1]", got)
	}
}
