package resp

import (
	"bytes"
	"strconv"
)

// This file is an oracle: a deliberately naive model of ReadCommand, written
// as a literal port of Redis processMultibulkBuffer / processInlineBuffer /
// sdssplitargs. It allocates, copies, and parses numbers with strconv, so it
// shares no code with the real parser (which has a header fast path and
// decodes inline arguments in place).

// refInt is string2ll: exactly the canonical decimal forms of int64 values.
func refInt(b []byte) (int64, bool) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil && strconv.FormatInt(v, 10) == string(b)
}

// refReadCommand returns the arguments and the consumed length of the first
// request, or n <= 0 (-n the need) when incomplete, or an error text.
func refReadCommand(buf []byte, lim *Limits) (args []string, n int, errMsg string) {
	if len(buf) == 0 {
		return nil, -1, ""
	}
	// findLine returns the index of c after from, within the line limit.
	findLine := func(from int, c byte) (int, string) {
		i := bytes.IndexByte(buf[from:], c)
		if i < 0 || i > MaxInlineLen {
			if len(buf)-from > MaxInlineLen {
				return -1, "big"
			}
			return -1, ""
		}
		return from + i, ""
	}
	if buf[0] != '*' {
		nl, big := findLine(0, '\n')
		if big != "" {
			return nil, 0, "Protocol error: too big inline request"
		}
		if nl < 0 {
			return nil, -(len(buf) + 1), ""
		}
		line := buf[:nl]
		if nl > 0 && buf[nl-1] == '\r' {
			line = buf[:nl-1]
		}
		args, ok := refSplitArgs(string(line))
		if !ok {
			return nil, 0, "Protocol error: unbalanced quotes in request"
		}
		return args, nl + 1, ""
	}
	cr, big := findLine(0, '\r')
	if big != "" {
		return nil, 0, "Protocol error: too big mbulk count string"
	}
	if cr < 0 || cr > len(buf)-2 {
		return nil, -(len(buf) + 1), ""
	}
	count, ok := refInt(buf[1:cr])
	if !ok || count > int64(lim.MaxArgs) {
		return nil, 0, "Protocol error: invalid multibulk length"
	}
	pos := cr + 2
	args = []string{}
	for ; count > 0; count-- {
		cr, big := findLine(pos, '\r')
		if big != "" {
			return nil, 0, "Protocol error: too big bulk count string"
		}
		if cr < 0 || cr > len(buf)-2 {
			return nil, -(len(buf) + 1), ""
		}
		if buf[pos] != '$' {
			return nil, 0, "Protocol error: expected '$', got '" + string(buf[pos:pos+1]) + "'"
		}
		size, ok := refInt(buf[pos+1 : cr])
		if !ok || size < 0 || size > lim.MaxBulkLen {
			return nil, 0, "Protocol error: invalid bulk length"
		}
		pos = cr + 2
		if uint64(len(buf)-pos) < uint64(size)+2 {
			return nil, -(pos + int(size) + 2), ""
		}
		args = append(args, string(buf[pos:pos+int(size)]))
		pos += int(size) + 2
	}
	return args, pos, ""
}

// refSplitArgs is sdssplitargs, C string semantics included: p walks a
// NUL-terminated string.
func refSplitArgs(s string) ([]string, bool) {
	line := []byte(s + "\x00")
	isspace := func(c byte) bool { return bytes.IndexByte([]byte(" \t\n\v\f\r"), c) >= 0 && c != 0 }
	ishex := func(c byte) bool { return c != 0 && bytes.IndexByte([]byte("0123456789abcdefABCDEF"), c) >= 0 }
	hex := func(c byte) byte { v, _ := strconv.ParseUint(string(c), 16, 8); return byte(v) }
	vector := []string{}
	p := 0
	for {
		for line[p] != 0 && isspace(line[p]) {
			p++
		}
		if line[p] == 0 {
			return vector, true
		}
		inq, insq, done := false, false, false
		current := []byte{}
		for !done {
			if inq {
				if line[p] == '\\' && line[p+1] == 'x' && ishex(line[p+2]) && ishex(line[p+3]) {
					current = append(current, hex(line[p+2])*16+hex(line[p+3]))
					p += 3
				} else if line[p] == '\\' && line[p+1] != 0 {
					p++
					c := line[p]
					switch line[p] {
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
					current = append(current, c)
				} else if line[p] == '"' {
					if line[p+1] != 0 && !isspace(line[p+1]) {
						return nil, false
					}
					done = true
				} else if line[p] == 0 {
					return nil, false
				} else {
					current = append(current, line[p])
				}
			} else if insq {
				if line[p] == '\\' && line[p+1] == '\'' {
					p++
					current = append(current, '\'')
				} else if line[p] == '\'' {
					if line[p+1] != 0 && !isspace(line[p+1]) {
						return nil, false
					}
					done = true
				} else if line[p] == 0 {
					return nil, false
				} else {
					current = append(current, line[p])
				}
			} else {
				switch line[p] {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					current = append(current, line[p])
				}
			}
			if line[p] != 0 {
				p++
			}
		}
		vector = append(vector, string(current))
	}
}
