package config

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	f := func(line string, want ...string) {
		t.Helper()
		got, err := SplitArgs(line)
		if err != nil {
			t.Fatalf("SplitArgs(%q): unexpected error %v", line, err)
		}
		if want == nil {
			want = []string{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("SplitArgs(%q): got %q; want %q", line, got, want)
		}
	}
	f("")
	f("   \t ")
	f("\v\f")
	f("a", "a")
	f("a b  c", "a", "b", "c")
	f("  a\tb\nc\rd  ", "a", "b", "c", "d")
	f("a\vb", "a\vb") // only ' ', \t, \n, \r end an unquoted token
	f("\va", "a")
	f(`"a b" c`, "a b", "c")
	f(`""`, "")
	f(`'' ''`, "", "")
	f(`"\x41\x4a\x4A\x00"`, "AJJ\x00")
	f(`"\x4"`, "x4")
	f(`"\xg1"`, "xg1")
	f(`"\n\r\t\b\a\q\\\""`, "\n\r\t\b\a"+`q\"`)
	f(`'it\'s'`, "it's")
	f(`'a\nb\x'`, `a\nb\x`)
	f(`'a\\''`, `a\'`)
	f(`a"b c"`, "ab c")
	f(`a'b c'`, "ab c")
	f(`a\b`, `a\b`)
	f("\"x\"\v", "x")
	f("a\x00b", "a\x00b")
	f(`set "a"  'b'`, "set", "a", "b")

	bad := func(line string) {
		t.Helper()
		if got, err := SplitArgs(line); err != ErrUnbalancedQuotes {
			t.Errorf("SplitArgs(%q): got %q, %v; want ErrUnbalancedQuotes", line, got, err)
		}
	}
	bad(`"abc`)
	bad(`'abc`)
	bad(`"abc"d`)
	bad(`'abc'd`)
	bad(`"a\"`)
	bad(`'a\'`)
	bad(`"`)
	bad(`a "b`)
}

func TestRepr(t *testing.T) {
	f := func(s, want string) {
		t.Helper()
		got := Repr(s)
		if got != want {
			t.Errorf("Repr(%q): got %s; want %s", s, got, want)
		}
		args, err := SplitArgs(got)
		if err != nil || len(args) != 1 || args[0] != s {
			t.Errorf("SplitArgs(Repr(%q)): got %q, %v", s, args, err)
		}
	}
	f("", `""`)
	f("abc", `"abc"`)
	f("a b", `"a b"`)
	f("\"\\", `"\"\\"`)
	f("\n\r\t\a\b", `"\n\r\t\a\b"`)
	f("\x00\x7f\xff\x1b", `"\x00\x7f\xff\x1b"`)
	f("it's", `"it's"`)
}

func TestQuoteArg(t *testing.T) {
	f := func(s, want string) {
		t.Helper()
		if got := quoteArg(s); got != want {
			t.Errorf("quoteArg(%q): got %s; want %s", s, got, want)
		}
	}
	f("", `""`)
	f("/var/run/disque.pid", "/var/run/disque.pid")
	f(`C:\dir`, `C:\dir`)
	f("a b", `"a b"`)
	f("it's", `"it's"`)
	f("#x", "#x")
	f("é", `"\xc3\xa9"`)
}

func TestParseMemory(t *testing.T) {
	f := func(s string, want int64) {
		t.Helper()
		got, err := ParseMemory(s)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q): got %d, %v; want %d", s, got, err, want)
		}
	}
	f("0", 0)
	f("1", 1)
	f("007", 7)
	f("1b", 1)
	f("1k", 1000)
	f("1K", 1000)
	f("1kb", 1024)
	f("1KB", 1024)
	f("1kB", 1024)
	f("2m", 2000000)
	f("2mb", 2<<20)
	f("3g", 3000000000)
	f("3gb", 3<<30)
	f("3Gb", 3<<30)
	f("9223372036854775807", math.MaxInt64)
	f("8589934591gb", 8589934591<<30)
	bad := func(s string) {
		t.Helper()
		if got, err := ParseMemory(s); err == nil {
			t.Errorf("ParseMemory(%q): got %d; want an error", s, got)
		}
	}
	bad("")
	bad("k")
	bad("gb")
	bad("-1")
	bad("+1")
	bad(" 1")
	bad("1 ")
	bad("1 kb")
	bad("1.5gb")
	bad("1tb")
	bad("1kib")
	bad("0x10")
	bad("9223372036854775808")
	bad("8589934592gb")
	bad("99999999999999999999")
}

func TestFormatMemory(t *testing.T) {
	f := func(b int64, want string) {
		t.Helper()
		if got := formatMemory(b); got != want {
			t.Errorf("formatMemory(%d): got %q; want %q", b, got, want)
		}
		if back, err := ParseMemory(want); err != nil || back != b {
			t.Errorf("ParseMemory(%q): got %d, %v; want %d", want, back, err, b)
		}
	}
	f(0, "0")
	f(1000, "1000")
	f(1024, "1kb")
	f(1536, "1536")
	f(1<<20, "1mb")
	f(3<<20+1<<10, "3073kb")
	f(64<<20, "64mb")
	f(1<<30, "1gb")
	f(math.MaxInt64, "9223372036854775807")
}

func TestParseStrictInt(t *testing.T) {
	f := func(s string, want int64, ok bool) {
		t.Helper()
		got, gotOK := parseStrictInt(s)
		if gotOK != ok || (ok && got != want) {
			t.Errorf("parseStrictInt(%q): got %d, %v; want %d, %v", s, got, gotOK, want, ok)
		}
	}
	f("0", 0, true)
	f("1", 1, true)
	f("-1", -1, true)
	f("9223372036854775807", math.MaxInt64, true)
	f("-9223372036854775808", math.MinInt64, true)
	f("9223372036854775808", 0, false)
	f("", 0, false)
	f("-", 0, false)
	f("-0", 0, false)
	f("01", 0, false)
	f("+1", 0, false)
	f(" 1", 0, false)
	f("1 ", 0, false)
	f("1e3", 0, false)
}

func TestStringMatch(t *testing.T) {
	f := func(pattern, s string, nocase, want bool) {
		t.Helper()
		if got := stringMatch(pattern, s, nocase); got != want {
			t.Errorf("stringMatch(%q, %q, %v): got %v; want %v", pattern, s, nocase, got, want)
		}
	}
	f("*", "anything", false, true)
	f("*", "", false, false) // as Redis: the loop never runs on an empty string
	f("", "", false, true)
	f("", "a", false, false)
	f("a", "", false, false)
	f("a*", "a", false, true)
	f("a**", "a", false, true)
	f("*a", "ba", false, true)
	f("*a", "ab", false, false)
	f("?", "a", false, true)
	f("?", "ab", false, false)
	f("??", "ab", false, true)
	f("[abc]", "b", false, true)
	f("[abc]", "d", false, false)
	f("[^abc]", "b", false, false)
	f("[^abc]", "d", false, true)
	f("[a-c]x", "bx", false, true)
	f("[c-a]x", "bx", false, true)
	f("[a-c]x", "dx", false, false)
	f("[A-C]x", "bx", true, true)
	f(`[\]]`, "]", false, true)
	f(`[\-]`, "-", false, true)
	f("[abc", "a", false, true) // unterminated set ends at the end
	f("[abc", "ab", false, false)
	f("a[", "a", false, false)
	f("[", "a", false, false)
	f("[]", "a", false, false)
	f(`\*`, "*", false, true)
	f(`\*`, "a", false, false)
	f(`\`, `\`, false, true)
	f(`a\`, `a\`, false, true)
	f("HZ", "hz", true, true)
	f("HZ", "hz", false, false)
	f("h[^a-y]", "hz", false, true)
	f("*-limit", "client-output-buffer-limit", false, true)
	f("max*", "maxmemory-policy", false, true)
	// Pathological backtracking ends quickly.
	f(strings.Repeat("*a", 60)+"b", strings.Repeat("a", 200), false, false)
	f(strings.Repeat("*?", 2000), "short", false, false)
	f(strings.Repeat("*", 2000)+"t", "short", false, true)
	f(strings.Repeat("?*", 3), "short", false, true)
}
