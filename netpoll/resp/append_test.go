package resp

import (
	"fmt"
	"math"
	"testing"
)

func TestAppend(t *testing.T) {
	f := func(name string, got []byte, want string) {
		t.Helper()
		if string(got) != want {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
	f("AppendSimple", AppendSimple(nil, "OK"), "+OK\r\n")
	f("AppendSimple empty", AppendSimple(nil, ""), "+\r\n")
	f("AppendSimple CRLF", AppendSimple(nil, "a\r\nb"), "+a  b\r\n")
	f("AppendSimpleBytes", AppendSimpleBytes(nil, []byte("QUEUED")), "+QUEUED\r\n")
	f("AppendSimpleBytes CRLF", AppendSimpleBytes(nil, []byte("\nx\r")), "+ x \r\n")
	f("AppendError", AppendError(nil, "ERR syntax error"), "-ERR syntax error\r\n")
	f("AppendError CRLF", AppendError(nil, "ERR bad\r\nthing\n"), "-ERR bad  thing \r\n")
	f("AppendError NOJOBS", AppendError(nil, "NOREPL Not enough reachable nodes"), "-NOREPL Not enough reachable nodes\r\n")
	f("AppendInt 0", AppendInt(nil, 0), ":0\r\n")
	f("AppendInt 7", AppendInt(nil, 7), ":7\r\n")
	f("AppendInt 1023", AppendInt(nil, 1023), ":1023\r\n")
	f("AppendInt 1024", AppendInt(nil, 1024), ":1024\r\n")
	f("AppendInt -1", AppendInt(nil, -1), ":-1\r\n")
	f("AppendInt max", AppendInt(nil, math.MaxInt64), ":9223372036854775807\r\n")
	f("AppendInt min", AppendInt(nil, math.MinInt64), ":-9223372036854775808\r\n")
	f("AppendBulk", AppendBulk(nil, []byte("hello")), "$5\r\nhello\r\n")
	f("AppendBulk empty", AppendBulk(nil, []byte{}), "$0\r\n\r\n")
	f("AppendBulk nil", AppendBulk(nil, nil), "$0\r\n\r\n")
	f("AppendBulk binary", AppendBulk(nil, []byte("a\r\n\x00")), "$4\r\na\r\n\x00\r\n")
	f("AppendBulkString", AppendBulkString(nil, "hello"), "$5\r\nhello\r\n")
	f("AppendBulkString empty", AppendBulkString(nil, ""), "$0\r\n\r\n")
	f("AppendBulkInt 0", AppendBulkInt(nil, 0), "$1\r\n0\r\n")
	f("AppendBulkInt 42", AppendBulkInt(nil, 42), "$2\r\n42\r\n")
	f("AppendBulkInt -42", AppendBulkInt(nil, -42), "$3\r\n-42\r\n")
	f("AppendBulkInt max", AppendBulkInt(nil, math.MaxInt64), "$19\r\n9223372036854775807\r\n")
	f("AppendBulkInt min", AppendBulkInt(nil, math.MinInt64), "$20\r\n-9223372036854775808\r\n")
	f("AppendNullBulk", AppendNullBulk(nil), "$-1\r\n")
	f("AppendNullArray", AppendNullArray(nil), "*-1\r\n")
	f("AppendArray 0", AppendArray(nil, 0), "*0\r\n")
	f("AppendArray 3", AppendArray(nil, 3), "*3\r\n")
	f("AppendArray 100000", AppendArray(nil, 100000), "*100000\r\n")
	f("AppendArray -1", AppendArray(nil, -1), "*-1\r\n")
	f("AppendCommand", AppendCommand(nil, []byte("SET"), []byte("k"), []byte("")), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
	f("AppendCommand none", AppendCommand(nil), "*0\r\n")
	f("AppendCommandStrings", AppendCommandStrings(nil, "GETJOB", "FROM", "q"), "*3\r\n$6\r\nGETJOB\r\n$4\r\nFROM\r\n$1\r\nq\r\n")

	// Appending keeps what dst holds.
	dst := []byte("prefix")
	dst = AppendSimple(dst, "OK")
	dst = AppendInt(dst, 5)
	dst = AppendBulkString(dst, "x")
	f("chained", dst, "prefix+OK\r\n:5\r\n$1\r\nx\r\n")

	// A long bulk uses the slow header path.
	long := make([]byte, 5000)
	got := AppendBulk(nil, long)
	f("AppendBulk 5000 header", got[:7], "$5000\r\n")
	if len(got) != 7+5000+2 || string(got[len(got)-2:]) != "\r\n" {
		t.Errorf("AppendBulk 5000: got len %d; want %d", len(got), 7+5000+2)
	}
}

// TestAppendNumbers compares the header fast path with fmt around the table
// boundaries.
func TestAppendNumbers(t *testing.T) {
	vals := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, math.MaxInt64, math.MaxInt64 - 1, 1 << 32}
	for v := int64(-2100); v <= 2100; v++ {
		vals = append(vals, v)
	}
	for _, v := range vals {
		if got, want := string(AppendInt(nil, v)), fmt.Sprintf(":%d\r\n", v); got != want {
			t.Errorf("AppendInt(%d): got %q; want %q", v, got, want)
		}
		if got, want := string(AppendBulkInt(nil, v)), fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(v)), v); got != want {
			t.Errorf("AppendBulkInt(%d): got %q; want %q", v, got, want)
		}
		if v == int64(int(v)) {
			if got, want := string(AppendArray(nil, int(v))), fmt.Sprintf("*%d\r\n", v); got != want {
				t.Errorf("AppendArray(%d): got %q; want %q", v, got, want)
			}
		}
	}
	for n := 0; n <= 2100; n++ {
		b := make([]byte, n)
		if got, want := string(AppendBulk(nil, b)), fmt.Sprintf("$%d\r\n%s\r\n", n, b); got != want {
			t.Errorf("AppendBulk(len %d): got %.20q...; want %.20q...", n, got, want)
		}
	}
}

// TestAppendCommandRoundTrip: what AppendCommand writes, ReadCommand reads.
func TestAppendCommandRoundTrip(t *testing.T) {
	args := [][]byte{[]byte("ADDJOB"), []byte("q"), []byte("body\r\nwith\x00binary"), {}, make([]byte, 3000)}
	buf := AppendCommand(nil, args...)
	out, n, err := ReadCommand(buf, nil, nil)
	if err != nil || n != len(buf) {
		t.Fatalf("ReadCommand(AppendCommand(...)): got n=%d err=%v; want n=%d", n, err, len(buf))
	}
	if got, want := strs(out), strs(args); !equalStrings(got, want) {
		t.Errorf("got %.60s; want %.60s", fmtArgs(got), fmtArgs(want))
	}
}
