package config

import (
	"errors"
	"strings"
)

// ErrUnbalancedQuotes is returned by SplitArgs for an unterminated quoted
// token, or a closing quote followed by something other than a space.
var ErrUnbalancedQuotes = errors.New("unbalanced quotes")

// SplitArgs splits a line into arguments with the semantics of Redis's
// sdssplitargs: arguments are separated by spaces; "double quotes" support
// the escapes \n \r \t \b \a \xHH and \<any char>; 'single quotes' support
// \' only; a closing quote must be followed by a space or the end of the
// line. An empty or blank line gives an empty, non-nil slice. Unlike the C
// version, which stops at the first NUL byte, NUL is an ordinary byte here.
// It is safe for concurrent use.
func SplitArgs(line string) ([]string, error) {
	out := []string{}
	p, n := 0, len(line)
	for {
		for p < n && isSpace(line[p]) {
			p++
		}
		if p >= n {
			return out, nil
		}
		var cur []byte
		inq, insq, done := false, false, false
		for !done {
			switch {
			case inq:
				switch {
				case p+3 < n && line[p] == '\\' && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]):
					cur = append(cur, unhex(line[p+2])<<4|unhex(line[p+3]))
					p += 3
				case p+1 < n && line[p] == '\\':
					p++
					c := line[p]
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					cur = append(cur, c)
				case p >= n:
					return nil, ErrUnbalancedQuotes
				case line[p] == '"':
					if p+1 < n && !isSpace(line[p+1]) {
						return nil, ErrUnbalancedQuotes
					}
					done = true
				default:
					cur = append(cur, line[p])
				}
			case insq:
				switch {
				case p+1 < n && line[p] == '\\' && line[p+1] == '\'':
					p++
					cur = append(cur, '\'')
				case p >= n:
					return nil, ErrUnbalancedQuotes
				case line[p] == '\'':
					if p+1 < n && !isSpace(line[p+1]) {
						return nil, ErrUnbalancedQuotes
					}
					done = true
				default:
					cur = append(cur, line[p])
				}
			default:
				if p >= n {
					done = true
					break
				}
				switch line[p] {
				case ' ', '\n', '\r', '\t':
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, line[p])
				}
			}
			if p < n {
				p++
			}
		}
		out = append(out, string(cur))
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// Repr returns s double-quoted and escaped as Redis's sdscatrepr does (the
// form MONITOR and CONFIG REWRITE use): \\ \" \n \r \t \a \b, and \xHH
// (lower-case hex) for any other byte outside the printable ASCII range.
// SplitArgs reads it back as s.
func Repr(s string) string {
	const hexdigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		default:
			if c >= 0x20 && c < 0x7f {
				b.WriteByte(c)
			} else {
				b.WriteString(`\x`)
				b.WriteByte(hexdigits[c>>4])
				b.WriteByte(hexdigits[c&15])
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quoteArg returns s as is when SplitArgs would read it back unchanged as
// one argument, else Repr(s).
func quoteArg(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\'' {
			return Repr(s)
		}
	}
	return s
}
