package resp

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// appendReplyRaw encodes r back to RESP2 bytes, without any sanitizing. The
// reply reader only accepts canonical encodings, so this reproduces exactly
// the bytes ReadReply consumed.
func appendReplyRaw(b []byte, r Reply) []byte {
	switch r.Kind {
	case KindSimple, KindError:
		b = append(b, byte(r.Kind))
		b = append(b, r.Str...)
		return append(b, "\r\n"...)
	case KindInt:
		return AppendInt(b, r.Int)
	case KindBulk:
		if r.IsNull() {
			return AppendNullBulk(b)
		}
		return AppendBulk(b, r.Str)
	case KindArray:
		if r.IsNull() {
			return AppendNullArray(b)
		}
		b = AppendArray(b, len(r.Elems))
		for _, e := range r.Elems {
			b = appendReplyRaw(b, e)
		}
		return b
	}
	panic("appendReplyRaw: invalid kind " + r.Kind.String())
}

func TestReadReply(t *testing.T) {
	f := func(in string, wantKind Kind, want string) {
		t.Helper()
		r, n, err := ReadReply([]byte(in + "+next\r\n"))
		if err != nil || n != len(in) {
			t.Errorf("ReadReply(%q): got n=%d err=%v; want n=%d", in, n, err, len(in))
			return
		}
		if r.Kind != wantKind {
			t.Errorf("ReadReply(%q): got kind %v; want %v", in, r.Kind, wantKind)
		}
		if got := r.String(); got != want {
			t.Errorf("ReadReply(%q): got %s; want %s", in, got, want)
		}
		if got := string(appendReplyRaw(nil, r)); got != in {
			t.Errorf("ReadReply(%q): re-encoded as %q", in, got)
		}
		sn, kind, err := SkipReply([]byte(in))
		if err != nil || sn != len(in) || kind != wantKind {
			t.Errorf("SkipReply(%q): got n=%d kind=%v err=%v; want n=%d kind=%v", in, sn, kind, err, len(in), wantKind)
		}
	}
	f("+OK\r\n", KindSimple, "+OK")
	f("+\r\n", KindSimple, "+")
	f("+a\nb\r\n", KindSimple, "+a\nb")
	f("-ERR unknown command 'FOO'\r\n", KindError, "-ERR unknown command 'FOO'")
	f(":0\r\n", KindInt, ":0")
	f(":3\r\n", KindInt, ":3")
	f(":-1\r\n", KindInt, ":-1")
	f(":9223372036854775807\r\n", KindInt, ":9223372036854775807")
	f(":-9223372036854775808\r\n", KindInt, ":-9223372036854775808")
	f("$3\r\nabc\r\n", KindBulk, `"abc"`)
	f("$0\r\n\r\n", KindBulk, `""`)
	f("$4\r\na\r\nb\r\n", KindBulk, `"a\r\nb"`)
	f("$-1\r\n", KindBulk, "(nil)")
	f("*-1\r\n", KindArray, "(nil array)")
	f("*0\r\n", KindArray, "[]")
	f("*3\r\n:1\r\n$1\r\na\r\n$-1\r\n", KindArray, `[:1 "a" (nil)]`)
	f("*2\r\n*2\r\n+a\r\n-b\r\n*0\r\n", KindArray, "[[+a -b] []]")
	f("*3\r\n*1\r\n*1\r\n:1\r\n*-1\r\n*2\r\n$2\r\nxy\r\n*1\r\n:2\r\n", KindArray, `[[[:1]] (nil array) ["xy" [:2]]]`)
	// GETJOB reply: an array of [queue, id, body] triples.
	f("*1\r\n*3\r\n$5\r\nqueue\r\n$40\r\nD-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1\r\n$4\r\nbody\r\n",
		KindArray, `[["queue" "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1" "body"]]`)
}

func TestReplyFields(t *testing.T) {
	r, _, err := ReadReply([]byte("*4\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Int != 4 || len(r.Elems) != 4 || r.IsNull() {
		t.Fatalf("got Int=%d len(Elems)=%d IsNull=%v; want 4, 4, false", r.Int, len(r.Elems), r.IsNull())
	}
	nb, eb, na, ea := r.Elems[0], r.Elems[1], r.Elems[2], r.Elems[3]
	if !nb.IsNull() || nb.Str != nil || nb.Int != -1 {
		t.Errorf("null bulk: got IsNull=%v Str=%v Int=%d; want true, nil, -1", nb.IsNull(), nb.Str, nb.Int)
	}
	if eb.IsNull() || eb.Str == nil || len(eb.Str) != 0 || eb.Int != 0 {
		t.Errorf("empty bulk: got IsNull=%v Str=%v Int=%d; want false, [], 0", eb.IsNull(), eb.Str, eb.Int)
	}
	if !na.IsNull() || na.Elems != nil || na.Int != -1 {
		t.Errorf("null array: got IsNull=%v Elems=%v Int=%d; want true, nil, -1", na.IsNull(), na.Elems, na.Int)
	}
	if ea.IsNull() || ea.Elems == nil || len(ea.Elems) != 0 || ea.Int != 0 {
		t.Errorf("empty array: got IsNull=%v Elems=%v Int=%d; want false, [], 0", ea.IsNull(), ea.Elems, ea.Int)
	}
	for _, k := range []Kind{KindSimple, KindError, KindInt} {
		if (Reply{Kind: k}).IsNull() {
			t.Errorf("Reply{Kind: %v}.IsNull() = true; want false", k)
		}
	}
	if got := (Reply{}).String(); got != "(invalid Kind(0x0))" {
		t.Errorf("Reply{}.String() = %q", got)
	}
	for k, want := range map[Kind]string{KindSimple: "simple", KindError: "error", KindInt: "int", KindBulk: "bulk", KindArray: "array"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%q).String() = %q; want %q", byte(k), got, want)
		}
	}
	if got := Kind('!').String(); got != "Kind(0x21)" {
		t.Errorf("Kind('!').String() = %q", got)
	}

	buf := []byte("+OK\r\n")
	r, _, _ = ReadReply(buf)
	if &r.Str[0] != &buf[1] || cap(r.Str) != 2 {
		t.Errorf("Str does not alias buf with a capped capacity")
	}
}

func TestReadReplyErrors(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		r, n, err := ReadReply([]byte(in))
		var pe *ProtocolError
		if !errors.As(err, &pe) || err.Error() != want {
			t.Errorf("ReadReply(%.40q): got %v n=%d err=%v; want error %q", in, r, n, err, want)
		}
		sn, _, serr := SkipReply([]byte(in))
		if serr == nil || serr.Error() != want || sn != 0 {
			t.Errorf("SkipReply(%.40q): got n=%d err=%v; want error %q", in, sn, serr, want)
		}
	}
	f("!oops\r\n", "Protocol error: invalid reply type byte '!'")
	f("PONG\r\n", "Protocol error: invalid reply type byte 'P'")
	f("\r\n", "Protocol error: invalid reply type byte '\r'")
	f("+a\rb\r\n", "Protocol error: invalid reply line terminator")
	f(":1\rx", "Protocol error: invalid reply line terminator")
	f(":\r\n", "Protocol error: invalid integer reply")
	f(":+1\r\n", "Protocol error: invalid integer reply")
	f(":01\r\n", "Protocol error: invalid integer reply")
	f(":9223372036854775808\r\n", "Protocol error: invalid integer reply")
	f("$-2\r\n", "Protocol error: invalid bulk length")
	f("$x\r\n", "Protocol error: invalid bulk length")
	f("$536870913\r\n", "Protocol error: invalid bulk length")
	f("$9223372036854775807\r\n", "Protocol error: invalid bulk length")
	f("$3\r\nabcXY", "Protocol error: invalid bulk terminator")
	f("$3\r\nabc\rX", "Protocol error: invalid bulk terminator")
	f("*-2\r\n", "Protocol error: invalid multibulk length")
	f("*16777217\r\n", "Protocol error: invalid multibulk length")
	f("*2\r\n:1\r\n!\r\n", "Protocol error: invalid reply type byte '!'")
	f("*1\r\n*1\r\n$-5\r\n", "Protocol error: invalid bulk length")
	f(":"+strings.Repeat("1", MaxInlineLen), "Protocol error: too big reply line")
	f("*1\r\n$"+strings.Repeat("1", MaxInlineLen+5), "Protocol error: too big reply line")
}

var validReplies = []string{
	"+OK\r\n",
	"-ERR x\r\n",
	":12\r\n",
	"$3\r\nabc\r\n",
	"$0\r\n\r\n",
	"$-1\r\n",
	"*-1\r\n",
	"*0\r\n",
	"*2\r\n*2\r\n+a\r\n-b\r\n*3\r\n:1\r\n$-1\r\n$2\r\nxy\r\n",
}

func TestReadReplyIncomplete(t *testing.T) {
	for _, in := range validReplies {
		for i := 0; i < len(in); i++ {
			r, n, err := ReadReply([]byte(in[:i]))
			if n != 0 || err != nil || r.Kind != 0 {
				t.Errorf("ReadReply(%q): got %v n=%d err=%v; want incomplete", in[:i], r, n, err)
			}
			n, kind, err := SkipReply([]byte(in[:i]))
			if n != 0 || err != nil || kind != 0 {
				t.Errorf("SkipReply(%q): got n=%d kind=%v err=%v; want incomplete", in[:i], n, kind, err)
			}
		}
	}
	// A huge announced array is incomplete without allocating it.
	if r, n, err := ReadReply([]byte("*16777216\r\n:1\r\n")); n != 0 || err != nil {
		t.Errorf("ReadReply(*16777216 ...): got %v n=%d err=%v; want incomplete", r, n, err)
	}
}

func TestReadReplyPipeline(t *testing.T) {
	buf := []byte(strings.Join(validReplies, ""))
	for i, want := range validReplies {
		r, n, err := ReadReply(buf)
		if err != nil || n != len(want) {
			t.Fatalf("reply %d: got n=%d err=%v; want n=%d", i, n, err, len(want))
		}
		if got := string(appendReplyRaw(nil, r)); got != want {
			t.Errorf("reply %d: got %q; want %q", i, got, want)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Errorf("left %q", buf)
	}
}

// TestReadReplyDeep: deep nesting is walked without recursion and built
// without a recursive descent.
func TestReadReplyDeep(t *testing.T) {
	const depth = 200000
	in := strings.Repeat("*1\r\n", depth) + ":7\r\n"
	r, n, err := ReadReply([]byte(in))
	if err != nil || n != len(in) {
		t.Fatalf("got n=%d err=%v; want n=%d", n, err, len(in))
	}
	for i := 0; i < depth; i++ {
		if r.Kind != KindArray || len(r.Elems) != 1 {
			t.Fatalf("level %d: got kind %v with %d elems", i, r.Kind, len(r.Elems))
		}
		r = r.Elems[0]
	}
	if r.Kind != KindInt || r.Int != 7 {
		t.Errorf("leaf: got %v; want :7", r)
	}
	if n, kind, err := SkipReply([]byte(in)); n != len(in) || kind != KindArray || err != nil {
		t.Errorf("SkipReply: got n=%d kind=%v err=%v", n, kind, err)
	}
	// Wide and nested: elements of all levels share one block.
	var b []byte
	b = AppendArray(b, 100)
	for i := range 100 {
		b = AppendArray(b, 2)
		b = AppendInt(b, int64(i))
		b = AppendBulkString(b, strconv.Itoa(i))
	}
	r, _, err = ReadReply(b)
	if err != nil || len(r.Elems) != 100 || r.Elems[99].String() != `[:99 "99"]` {
		t.Errorf("got %.80v err=%v", r, err)
	}
}
