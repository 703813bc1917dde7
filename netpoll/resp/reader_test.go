package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// strs copies args into strings, so that they survive later parsing.
func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func fmtArgs(a []string) string {
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadCommand covers complete requests: the whole input is one request.
func TestReadCommand(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		out, n, err := ReadCommand([]byte(in), nil, nil)
		if err != nil {
			t.Errorf("ReadCommand(%q): got error %q; want %s", in, err, fmtArgs(want))
			return
		}
		if n != len(in) {
			t.Errorf("ReadCommand(%q): got n=%d; want %d", in, n, len(in))
		}
		if got := strs(out); !equalStrings(got, want) {
			t.Errorf("ReadCommand(%q): got %s; want %s", in, fmtArgs(got), fmtArgs(want))
		}
	}

	// Inline, as scripts, telnet and redis-cli pipes send it.
	f("PING\r\n", "PING")
	f("PING\n", "PING")
	f("ping\r\n", "ping")
	f("  PING \t \r\n", "PING")
	f("\v\fPING\r\n", "PING") // leading blanks are C isspace
	f("SET key value\r\n", "SET", "key", "value")
	f("SET  key\t\tvalue\n", "SET", "key", "value")
	f("a\vb\r\n", "a\vb") // \v separates only as a leading blank
	f("a\rb\r\n", "a", "b")
	f("a\r\r\n", "a") // only the last \r is the line end; the other one is a blank
	f(" *1\r\n", "*1")
	f("$1\r\n", "$1")
	f("ADDJOB queue body 0\r\n", "ADDJOB", "queue", "body", "0")

	// Empty requests.
	f("\r\n")
	f("\n")
	f(" \t \r\n")
	f("\r\r\n")
	f("*0\r\n")
	f("*-1\r\n")
	f("*-5\r\n")
	f("*-9223372036854775808\r\n")

	// Double quotes.
	f(`SET k "hello world"`+"\r\n", "SET", "k", "hello world")
	f(`SET k ""`+"\r\n", "SET", "k", "")
	f(`""`+"\n", "")
	f(`"a\nb"`+"\n", "a\nb")
	f(`"\n\r\t\b\a\\\"\q"`+"\n", "\n\r\t\b\a\\\"q")
	f(`"\x41\x62\xff\x00"`+"\n", "Ab\xff\x00")
	f(`"\x4A\x4a\xfF\x0a"`+"\n", "JJ\xff\n")
	f(`"\x4"`+"\n", "x4")
	f(`"\xZZ"`+"\n", "xZZ")
	f(`"\x4g"`+"\n", "x4g")
	f(`"a'b"`+"\n", "a'b")
	f(`"a b"	"c"`+"\n", "a b", "c")
	f("\"a\"\vb\n", "a", "b") // \v is a space after a closing quote
	f(`foo"bar baz"`+"\n", "foobar baz")
	f(`"a"`+"\x00junk\n", "a") // NUL ends the line, as in C

	// Single quotes.
	f(`'it\'s'`+"\n", "it's")
	f(`'a\\b'`+"\n", `a\\b`)
	f(`'a\nb'`+"\n", `a\nb`)
	f(`'a "b" c'`+"\n", `a "b" c`)
	f(`''`+"\n", "")
	f(`x'y z'`+"\n", "xy z")

	// NUL ends an unquoted line.
	f("PING\x00junk\r\n", "PING")
	f("\x00PING\r\n")

	// Multibulk.
	f("*1\r\n$4\r\nPING\r\n", "PING")
	f("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", "SET", "k", "")
	f("*2\r\n$4\r\nECHO\r\n$6\r\na\r\nb\x00c\r\n", "ECHO", "a\r\nb\x00c")
	f("*1\r\n$3\r\nfooXY", "foo") // CRLF after data unchecked, like Redis
	f("*1\rX$1\rXa\r\n", "a")     // nor the byte after a header's \r
	f("*1\r\n$1\r\n\"\r\n", `"`)  // no unquoting in multibulk
	f("*2\r\n$1\r\n \r\n$2\r\n  \r\n", " ", "  ")

	long := strings.Repeat("x", 1000)
	f("*2\r\n$4\r\nECHO\r\n$1000\r\n"+long+"\r\n", "ECHO", long)
	line := strings.Repeat("a", MaxInlineLen)
	f(line+"\n", line)
	f(line[1:]+"\r\n", line[1:])
}

// TestReadCommandErrors covers every error text.
func TestReadCommandErrors(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		buf := []byte(in)
		out, n, err := ReadCommand(buf, nil, nil)
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("ReadCommand(%.40q): got out=%s n=%d err=%v; want error %q", in, fmtArgs(strs(out)), n, err, want)
			return
		}
		if got := err.Error(); got != want {
			t.Errorf("ReadCommand(%.40q): got error %q; want %q", in, got, want)
		}
		if out != nil || n != 0 {
			t.Errorf("ReadCommand(%.40q): got out=%v n=%d with an error; want nil, 0", in, out, n)
		}
	}
	const (
		bigInline = "Protocol error: too big inline request"
		quotes    = "Protocol error: unbalanced quotes in request"
		bigMbulk  = "Protocol error: too big mbulk count string"
		mbulkLen  = "Protocol error: invalid multibulk length"
		bigBulk   = "Protocol error: too big bulk count string"
		bulkLen   = "Protocol error: invalid bulk length"
	)

	f(strings.Repeat("a", MaxInlineLen+1), bigInline)
	f(strings.Repeat("a", MaxInlineLen+1)+"\n", bigInline) // independent of how it arrives
	f(strings.Repeat("a", MaxInlineLen)+"\r\n", bigInline) // the \r counts: Redis strips it after the check

	f(`"abc`+"\n", quotes)
	f(`'abc`+"\n", quotes)
	f(`"abc"def`+"\n", quotes)
	f(`'a'b`+"\n", quotes)
	f(`a"b"c`+"\n", quotes)
	f(`"a\"`+"\n", quotes)
	f(`'a\'`+"\n", quotes)
	f(`"a`+"\x00\"\n", quotes)
	f(`"a\`+"\x00\"\n", quotes)
	f(`"a\`+"\n", quotes)
	f(`SET k "v`+"\r\n", quotes)

	f("*"+strings.Repeat("1", MaxInlineLen), bigMbulk)
	f("*"+strings.Repeat("1", MaxInlineLen)+"\r\n", bigMbulk)

	for _, n := range []string{"", "x", "01", "+1", " 1", "1 ", "-0", "--1", "1x", "1048577",
		"9223372036854775807", "9223372036854775808", "-9223372036854775809", "99999999999999999999999"} {
		f("*"+n+"\r\n", mbulkLen)
	}

	f("*1\r\n$"+strings.Repeat("1", MaxInlineLen), bigBulk)
	f("*2\r\n$1\r\na\r\n"+strings.Repeat("1", MaxInlineLen+1), bigBulk) // checked before the '$'

	f("*1\r\nX\r\n", "Protocol error: expected '$', got 'X'")
	f("*1\r\n:1\r\n", "Protocol error: expected '$', got ':'")
	f("*1\r\n\r\n", "Protocol error: expected '$', got '\r'")
	f("*1\r\n\xff\r\n", "Protocol error: expected '$', got '\xff'")
	f("*2\r\n$1\r\na\r\n+b\r\n", "Protocol error: expected '$', got '+'")
	f("*1\r\nPING\r\n", "Protocol error: expected '$', got 'P'")

	for _, n := range []string{"", "x", "-1", "-2", "-0", "01", "+1", " 1", "1 ", "536870913",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551617"} {
		f("*1\r\n$"+n+"\r\n", bulkLen)
	}

	// Custom limits.
	lim := Limits{MaxArgs: 2, MaxBulkLen: 3}
	g := func(in, want string) {
		t.Helper()
		_, _, err := ReadCommand([]byte(in), nil, &lim)
		if err == nil || err.Error() != want {
			t.Errorf("ReadCommand(%q, MaxArgs=2, MaxBulkLen=3): got error %v; want %q", in, err, want)
		}
	}
	g("*3\r\n", mbulkLen)
	g("*1\r\n$4\r\n", bulkLen)
	out, n, err := ReadCommand([]byte("*2\r\n$3\r\nabc\r\n$0\r\n\r\n"), nil, &lim)
	if err != nil || n != 19 || !equalStrings(strs(out), []string{"abc", ""}) {
		t.Errorf("ReadCommand at the limits: got %s n=%d err=%v; want [\"abc\" \"\"] n=19", fmtArgs(strs(out)), n, err)
	}
}

// TestReadCommandIncomplete checks the exact "need" of incomplete requests.
func TestReadCommandIncomplete(t *testing.T) {
	f := func(in string, need int) {
		t.Helper()
		out, n, err := ReadCommand([]byte(in), nil, nil)
		if err != nil || out != nil || n > 0 {
			t.Errorf("ReadCommand(%.40q): got out=%v n=%d err=%v; want incomplete", in, out, n, err)
			return
		}
		if -n != need {
			t.Errorf("ReadCommand(%.40q): got need %d; want %d", in, -n, need)
		}
	}
	f("", 1)
	f("P", 2)
	f("PING\r", 6)
	f(`SET k "a b`, 11)
	f("*", 2)
	f("*1", 3)
	f("*1\r", 4)
	f("*1\r\n", 5)
	f("*1\r\n$", 6)
	f("*1\r\n$4\r", 8)
	f("*1\r\n$4\r\n", 14)
	f("*1\r\n$4\r\nPI", 14)
	f("*1\r\n$4\r\nPING\r", 14)
	f("*1\r\nX", 6) // the '$' is checked once the line is there, like Redis
	f("*2\r\n$1\r\na\r\n$100\r\n", 11+6+102)
	f("*1048576\r\n", 11)
	f("*1\r\n$536870912\r\n", 16+536870912+2)
	f(strings.Repeat("a", MaxInlineLen), MaxInlineLen+1)
	f("*"+strings.Repeat("1", MaxInlineLen-1), MaxInlineLen+1)
	f("*1\r\n$"+strings.Repeat("1", MaxInlineLen-1), 4+MaxInlineLen+1)
	big := Limits{MaxArgs: 1, MaxBulkLen: 1<<63 - 1}
	if _, n, err := ReadCommand([]byte("*1\r\n$9223372036854775807\r\n"), nil, &big); err != nil || n != -(1<<63-1) {
		t.Errorf("ReadCommand($MaxInt64 with MaxBulkLen=MaxInt64): got n=%d err=%v; want n=%d", n, err, -(1<<63 - 1))
	}
}

var validCommands = []string{
	"PING\r\n",
	"PING\n",
	"\r\n",
	"SET k \"a\\x41 b\" 'c\\'d'\r\n",
	"*1\r\n$4\r\nPING\r\n",
	"*0\r\n",
	"*-1\r\n",
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
	"*2\r\n$4\r\nECHO\r\n$6\r\na\r\nb\x00c\r\n",
	"*11\r\n$6\r\nADDJOB\r\n$7\r\nmyqueue\r\n$20\r\n01234567890123456789\r\n$4\r\n5000\r\n" +
		"$9\r\nREPLICATE\r\n$1\r\n2\r\n$5\r\nRETRY\r\n$2\r\n60\r\n$3\r\nTTL\r\n$4\r\n3600\r\n$5\r\nASYNC\r\n",
}

// TestReadCommandPrefixes: every strict prefix of a valid request is
// incomplete, with a need beyond the prefix and within the request.
func TestReadCommandPrefixes(t *testing.T) {
	for _, cmd := range validCommands {
		for i := 0; i < len(cmd); i++ {
			buf := []byte(cmd[:i])
			out, n, err := ReadCommand(buf, nil, nil)
			if err != nil || out != nil || n > 0 {
				t.Errorf("ReadCommand(%q): got out=%v n=%d err=%v; want incomplete", cmd[:i], out, n, err)
				continue
			}
			if need := -n; need <= i || need > len(cmd) {
				t.Errorf("ReadCommand(%q): got need %d; want in (%d, %d]", cmd[:i], need, i, len(cmd))
			}
			if string(buf) != cmd[:i] {
				t.Errorf("ReadCommand(%q) modified an incomplete buffer into %q", cmd[:i], buf)
			}
		}
		out, n, err := ReadCommand([]byte(cmd), nil, nil)
		if err != nil || n != len(cmd) {
			t.Errorf("ReadCommand(%q): got %s n=%d err=%v; want n=%d", cmd, fmtArgs(strs(out)), n, err, len(cmd))
		}
	}
}

// TestReadCommandPipeline parses several requests from one buffer.
func TestReadCommandPipeline(t *testing.T) {
	var in []byte
	var want [][]string
	for range 3 {
		for _, cmd := range validCommands {
			in = append(in, cmd...)
			out, _, err := ReadCommand([]byte(cmd), nil, nil)
			if err != nil {
				t.Fatalf("ReadCommand(%q): %v", cmd, err)
			}
			want = append(want, strs(out))
		}
	}
	in = append(in, "*2\r\n$3\r\nGET"...) // trailing partial request
	var args [][]byte
	buf := in
	for i, w := range want {
		out, n, err := ReadCommand(buf, args[:0], nil)
		if err != nil || n <= 0 {
			t.Fatalf("request %d: got n=%d err=%v; want %s", i, n, err, fmtArgs(w))
		}
		if got := strs(out); !equalStrings(got, w) {
			t.Errorf("request %d: got %s; want %s", i, fmtArgs(got), fmtArgs(w))
		}
		args = out
		buf = buf[n:]
	}
	if out, n, err := ReadCommand(buf, args[:0], nil); out != nil || n != -13 || err != nil {
		t.Errorf("trailing %q: got out=%v n=%d err=%v; want incomplete with need 13", buf, out, n, err)
	}
}

// TestReadCommandAliasing checks zero-copy results, argument reuse, capped
// capacities and that in-place unescaping stays within the consumed line.
func TestReadCommandAliasing(t *testing.T) {
	buf := []byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
	args := make([][]byte, 0, 8)
	out, n, err := ReadCommand(buf, args, nil)
	if err != nil || n != len(buf) || len(out) != 2 {
		t.Fatalf("got %s n=%d err=%v", fmtArgs(strs(out)), n, err)
	}
	if &out[0] != &args[:1][0] {
		t.Errorf("out does not reuse the args slice")
	}
	if &out[1][0] != &buf[17] {
		t.Errorf("out[1] does not alias buf")
	}
	if cap(out[0]) != 3 {
		t.Errorf("got cap(out[0]) = %d; want 3", cap(out[0]))
	}
	_ = append(out[0], 'X')
	if string(buf) != "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n" {
		t.Errorf("appending to an argument modified buf: %q", buf)
	}

	// Passing a non-empty args truncates it.
	out, _, _ = ReadCommand(buf, out, nil)
	if len(out) != 2 {
		t.Errorf("got %d args after passing a non-empty args; want 2", len(out))
	}

	in := "SET k \"a\\x41\\n\" plain\r\n*1\r\n$4\r\nPING\r\n"
	buf = []byte(in)
	out, n, err = ReadCommand(buf, nil, nil)
	if err != nil || !equalStrings(strs(out), []string{"SET", "k", "aA\n", "plain"}) {
		t.Fatalf("got %s err=%v", fmtArgs(strs(out)), err)
	}
	if &out[2][0] != &buf[6] || &out[3][0] != &buf[16] || &out[0][0] != &buf[0] {
		t.Errorf("inline arguments do not alias buf")
	}
	if string(buf[n:]) != in[n:] {
		t.Errorf("unescaping wrote past the consumed line: %q", buf[n:])
	}
	if !bytes.Equal(buf[:6], []byte(in[:6])) || !bytes.Equal(buf[15:n], []byte(in[15:n])) {
		t.Errorf("unescaping wrote outside the quoted token: %q", buf[:n])
	}
}

func TestParseInt(t *testing.T) {
	f := func(in string, want int64, wantOK bool) {
		t.Helper()
		got, ok := parseInt([]byte(in))
		if ok != wantOK || (ok && got != want) {
			t.Errorf("parseInt(%q): got %d, %v; want %d, %v", in, got, ok, want, wantOK)
		}
	}
	f("0", 0, true)
	f("1", 1, true)
	f("-1", -1, true)
	f("123456789012345678", 123456789012345678, true)
	f("1234567890123456789", 1234567890123456789, true)
	f("9223372036854775807", 1<<63-1, true)
	f("-9223372036854775808", -1<<63, true)
	f("9223372036854775808", 0, false)
	f("-9223372036854775809", 0, false)
	f("18446744073709551615", 0, false)
	f("18446744073709551616", 0, false)
	f("184467440737095516150", 0, false)
	f("1234567890123456789x", 0, false)
	f("-123456789012345678x", 0, false)
	for _, s := range []string{"", "-", "+1", "-0", "00", "01", " 1", "1 ", "1x", "x", "--1", "0x10", "1e3"} {
		f(s, 0, false)
	}
	for i := int64(-2000); i <= 2000; i++ {
		f(strconv.FormatInt(i, 10), i, true)
	}
}

func TestProtocolError(t *testing.T) {
	err := error(&ProtocolError{Msg: "x"})
	if got := err.Error(); got != "Protocol error: x" {
		t.Errorf("got %q; want %q", got, "Protocol error: x")
	}
	if got := string(AppendError(nil, "ERR "+fmt.Sprint(protoErr("expected '$', got '\r'")))); got != "-ERR Protocol error: expected '$', got ' '\r\n" {
		t.Errorf("got %q", got)
	}
}

// TestReadCommandReference runs the reference model over table inputs and
// their prefixes.
func TestReadCommandReference(t *testing.T) {
	ins := append([]string{
		"*1\r\n$01\r\na\r\n", "*1\r\n$0\r\n\r\n", "*1\r\n$00\r\n\r\n", "*1\r\n$123456789\r\n",
		"*1\r\n$1234567890\r\n", "*1\r\n$9\r\n", "*2\r\n$1\r\na\r\n$-0\r\n", "*1\r\n$1x\r\n",
		`"\x41\x4G\x" '\'\\' a"b"` + "\n", "x \"a\\", "*1\r\n$3\r\nabc",
	}, validCommands...)
	lims := []*Limits{&DefaultLimits, {MaxArgs: 1, MaxBulkLen: 2}}
	for _, in := range ins {
		for i := 0; i <= len(in); i++ {
			for _, lim := range lims {
				buf := []byte(in[:i])
				out, n, err := ReadCommand(buf, nil, lim)
				wantArgs, wantN, wantErr := refReadCommand([]byte(in[:i]), lim)
				var gotErr string
				if err != nil {
					gotErr = err.Error()
				}
				if gotErr != wantErr || n != wantN || (n > 0 && !equalStrings(strs(out), wantArgs)) {
					t.Errorf("ReadCommand(%q, %+v): got %s n=%d err=%q; want %s n=%d err=%q",
						in[:i], *lim, fmtArgs(strs(out)), n, gotErr, fmtArgs(wantArgs), wantN, wantErr)
				}
			}
		}
	}
}
