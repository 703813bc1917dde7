//go:build !race

package resp

import "testing"

// The race detector allocates, so these guards run without it
// (`go test -run Allocs`).

// addjob is a multibulk ADDJOB as a client sends it.
var addjob = string(AppendCommandStrings(nil,
	"ADDJOB", "myqueue", "01234567890123456789", "5000", "REPLICATE", "2", "RETRY", "60", "TTL", "3600", "ASYNC"))

func TestReadCommandAllocs(t *testing.T) {
	args := make([][]byte, 0, 16)
	f := func(name, in string, wantArgs int, mutates bool) {
		t.Helper()
		orig := []byte(in)
		buf := make([]byte, len(orig))
		copy(buf, orig)
		allocs := testing.AllocsPerRun(100, func() {
			if mutates {
				copy(buf, orig) // in-place unescaping rewrote the previous run's input
			}
			out, n, err := ReadCommand(buf, args[:0], nil)
			if err != nil || n <= 0 || len(out) != wantArgs {
				t.Fatalf("%s: got %d args n=%d err=%v; want %d args", name, len(out), n, err, wantArgs)
			}
		})
		if allocs != 0 {
			t.Errorf("ReadCommand(%s) with a reused args slice: got %v allocs per run; want 0", name, allocs)
		}
	}
	f("multibulk ADDJOB", addjob, 11, false)
	f("inline PING", "PING\r\n", 1, false)
	f("inline with quotes", "SET key \"hello\\x20\\\"world\\\"\\n\" 'it\\'s' plain\r\n", 5, true)
	f("empty request", "*0\r\n", 0, false)

	buf := []byte(addjob[:len(addjob)-10])
	allocs := testing.AllocsPerRun(100, func() {
		if out, n, err := ReadCommand(buf, args[:0], nil); out != nil || n >= 0 || err != nil {
			t.Fatalf("partial ADDJOB: got out=%v n=%d err=%v; want incomplete", out, n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadCommand(partial ADDJOB): got %v allocs per run; want 0", allocs)
	}
}

func TestAppendAllocs(t *testing.T) {
	dst := make([]byte, 0, 1024)
	body := []byte("01234567890123456789")
	a, b, c := []byte("GETJOB"), []byte("FROM"), []byte("queue")
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"AppendSimple", func() { dst = AppendSimple(dst[:0], "OK") }},
		{"AppendSimpleBytes", func() { dst = AppendSimpleBytes(dst[:0], body) }},
		{"AppendError", func() { dst = AppendError(dst[:0], "ERR unknown\r\ncommand") }},
		{"AppendInt small", func() { dst = AppendInt(dst[:0], 42) }},
		{"AppendInt large", func() { dst = AppendInt(dst[:0], -1234567890123) }},
		{"AppendBulk", func() { dst = AppendBulk(dst[:0], body) }},
		{"AppendBulk long", func() { dst = AppendBulk(dst[:0], dst[:1000]) }},
		{"AppendBulkString", func() { dst = AppendBulkString(dst[:0], "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1") }},
		{"AppendBulkInt", func() { dst = AppendBulkInt(dst[:0], 1234567890) }},
		{"AppendNullBulk", func() { dst = AppendNullBulk(dst[:0]) }},
		{"AppendNullArray", func() { dst = AppendNullArray(dst[:0]) }},
		{"AppendArray", func() { dst = AppendArray(dst[:0], 3) }},
		{"AppendArray large", func() { dst = AppendArray(dst[:0], 100000) }},
		{"AppendCommand", func() { dst = AppendCommand(dst[:0], a, b, c) }},
		{"AppendCommandStrings", func() { dst = AppendCommandStrings(dst[:0], "ACKJOB", "D-1", "D-2") }},
	} {
		if allocs := testing.AllocsPerRun(100, tc.fn); allocs != 0 {
			t.Errorf("%s into a pre-sized buffer: got %v allocs per run; want 0", tc.name, allocs)
		}
	}
}

func TestSkipReplyAllocs(t *testing.T) {
	for _, in := range append(validReplies, "*2\r\n*2\r\n*1\r\n:1\r\n$3\r\nabc\r\n*16777216\r\n:1\r\n") {
		buf := []byte(in)
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := SkipReply(buf); err != nil {
				t.Fatalf("SkipReply(%q): %v", in, err)
			}
		})
		if allocs != 0 {
			t.Errorf("SkipReply(%q): got %v allocs per run; want 0", in, allocs)
		}
	}
}

// TestReadReplyAllocs: no allocation but for non-empty arrays, which take
// exactly one, however nested.
func TestReadReplyAllocs(t *testing.T) {
	f := func(in string, want float64) {
		t.Helper()
		buf := []byte(in)
		allocs := testing.AllocsPerRun(100, func() {
			if _, n, err := ReadReply(buf); n != len(in) || err != nil {
				t.Fatalf("ReadReply(%q): got n=%d err=%v", in, n, err)
			}
		})
		if allocs != want {
			t.Errorf("ReadReply(%q): got %v allocs per run; want %v", in, allocs, want)
		}
	}
	f("+OK\r\n", 0)
	f("-ERR x\r\n", 0)
	f(":1\r\n", 0)
	f("$3\r\nabc\r\n", 0)
	f("$-1\r\n", 0)
	f("*-1\r\n", 0)
	f("*0\r\n", 0)
	f("*2\r\n:1\r\n:2\r\n", 1)
	f("*2\r\n*2\r\n+a\r\n-b\r\n*3\r\n:1\r\n$-1\r\n$2\r\nxy\r\n", 1)
}
