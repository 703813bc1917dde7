package resp

import "math"

// ProtocolError reports a malformed request or reply. The server replies
// "-ERR " + err.Error() and closes the connection, as Redis does.
type ProtocolError struct{ Msg string }

// Error returns "Protocol error: " + e.Msg, the text Redis sends.
func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

func protoErr(msg string) error { return &ProtocolError{Msg: msg} }

// ReadCommand parses the first complete request in buf (multibulk
// `*N\r\n$len\r\n...` or an inline line).
//
//   - Complete: out holds the arguments (sub-slices of buf), n > 0 is the
//     number of bytes consumed, err == nil.
//   - Incomplete: out == nil, err == nil and n <= 0: -n is the minimal total
//     len(buf) needed before calling again can make progress (at least
//     len(buf)+1). Callers use it to avoid re-parsing a large partial frame.
//   - An empty request (an empty/whitespace-only inline line, or `*0\r\n` /
//     `*-1\r\n`) is consumed: n > 0, len(out) == 0.
//   - Protocol error: out == nil, n == 0 and err is a *ProtocolError; the
//     caller replies "-ERR " + err.Error() and closes the connection.
//
// args is a reusable slice (pass args[:0]; it is truncated anyway); out is
// args grown as needed. A nil lim means DefaultLimits.
//
// The arguments alias buf and stay valid as long as the caller keeps those
// bytes. Each argument has its capacity capped at its length, so appending to
// one never overwrites buf. Inline arguments written with quotes are decoded
// in place: ReadCommand may write into the bytes of the complete inline line
// it parses (the n bytes it consumes, or a line it rejects with an error),
// and nowhere else; it never writes into buf when it reports an incomplete
// request or parses a multibulk request.
//
// ReadCommand never panics and n never exceeds len(buf).
func ReadCommand(buf []byte, args [][]byte, lim *Limits) (out [][]byte, n int, err error) {
	if len(buf) == 0 {
		return nil, -1, nil
	}
	if lim == nil {
		lim = &DefaultLimits
	}
	args = args[:0]
	if buf[0] == '*' {
		return readMultibulk(buf, args, lim)
	}
	return readInline(buf, args)
}

// readInline is Redis processInlineBuffer: the line up to '\n' (a '\r'
// before it is dropped) split by sdssplitargs.
func readInline(buf []byte, args [][]byte) ([][]byte, int, error) {
	nl, st := scanLine(buf, 0, '\n', MaxInlineLen)
	switch st {
	case lineShort:
		return nil, -(len(buf) + 1), nil
	case lineTooBig:
		return nil, 0, protoErr("too big inline request")
	}
	end := nl
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	out, ok := splitArgs(buf[:end], args)
	if !ok {
		return nil, 0, protoErr("unbalanced quotes in request")
	}
	return out, nl + 1, nil
}

// readMultibulk is Redis processMultibulkBuffer, re-run from the start of
// the frame on every call instead of keeping per-client state.
func readMultibulk(buf []byte, args [][]byte, lim *Limits) ([][]byte, int, error) {
	// Redis looks for '\r' and then only requires one more byte to be
	// present (the '\n' is not checked), here and after every $len line.
	cr, st := scanLine(buf, 0, '\r', MaxInlineLen)
	if st == lineTooBig {
		return nil, 0, protoErr("too big mbulk count string")
	}
	if st == lineShort || cr == len(buf)-1 {
		return nil, -(len(buf) + 1), nil
	}
	count, ok := parseInt(buf[1:cr])
	if !ok || count > int64(lim.MaxArgs) {
		return nil, 0, protoErr("invalid multibulk length")
	}
	pos := cr + 2
	if count <= 0 {
		return args, pos, nil
	}
	// Size args for what can be present: each argument takes at least
	// 6 bytes ("$0\r\n\r\n"), so a huge count in a small buffer does not
	// make us allocate a huge slice.
	if want := min(int(count), (len(buf)-pos)/6+1); cap(args) < want {
		args = make([][]byte, 0, want)
	}
	for range count {
		size, cr := int64(-1), 0
		// Fast path for the usual header: '$', 1 to 9 digits without a
		// leading zero (or just "0"), '\r' and one more byte. The '\r'
		// is the first one from pos, so the general path below would
		// conclude the same; anything else (errors, incomplete headers,
		// longer numbers) takes the general path.
		if pos < len(buf) && buf[pos] == '$' {
			v, i := int64(0), pos+1
			for end := min(len(buf), pos+10); i < end && buf[i]-'0' <= 9; i++ {
				v = v*10 + int64(buf[i]-'0')
			}
			if i < len(buf)-1 && buf[i] == '\r' && i > pos+1 && (buf[pos+1] != '0' || i == pos+2) && v <= lim.MaxBulkLen {
				size, cr = v, i
			}
		}
		if size < 0 {
			var st int
			cr, st = scanLine(buf, pos, '\r', MaxInlineLen)
			if st == lineTooBig {
				return nil, 0, protoErr("too big bulk count string")
			}
			if st == lineShort || cr == len(buf)-1 {
				return nil, -(len(buf) + 1), nil
			}
			if c := buf[pos]; c != '$' {
				return nil, 0, protoErr("expected '$', got '" + string([]byte{c}) + "'")
			}
			var ok bool
			size, ok = parseInt(buf[pos+1 : cr])
			if !ok || size < 0 || size > lim.MaxBulkLen {
				return nil, 0, protoErr("invalid bulk length")
			}
		}
		pos = cr + 2
		// size+2 bytes needed: data then CRLF (which, like Redis, we
		// skip without checking). Compare before adding: no overflow.
		if size > int64(len(buf)-pos)-2 {
			need := math.MaxInt
			if size <= int64(math.MaxInt-2-pos) {
				need = pos + int(size) + 2
			}
			return nil, -need, nil
		}
		end := pos + int(size)
		args = append(args, buf[pos:end:end])
		pos = end + 2
	}
	return args, pos, nil
}

// isSpace is C isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r') // \t \n \v \f \r
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// splitArgs is Redis sdssplitargs applied to line, decoding quoted tokens in
// place: a token is written from its first byte on, and its decoded form is
// never longer than its source, so the write index never passes the read
// index. It returns false where sdssplitargs returns NULL (unbalanced quotes,
// or a closing quote followed by something else than a space).
//
// Like the C code, which walks a NUL-terminated string, a NUL byte ends the
// line: it ends an unquoted token and the whole argument list, and inside
// quotes it is an unterminated quote.
func splitArgs(line []byte, args [][]byte) ([][]byte, bool) {
	n := len(line)
	// at returns line[i], or 0 (the C terminator) past the end.
	at := func(i int) byte {
		if i < n {
			return line[i]
		}
		return 0
	}
	p := 0
	for {
		for p < n && line[p] != 0 && isSpace(line[p]) {
			p++
		}
		if at(p) == 0 {
			return args, true
		}
		start, w := p, p
		inq, insq, done := false, false, false
		for !done {
			c := at(p)
			switch {
			case inq:
				if c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)) {
					line[w] = hexVal(line[p+2])<<4 | hexVal(line[p+3])
					w++
					p += 3
				} else if c == '\\' && at(p+1) != 0 {
					p++
					c = line[p]
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
					line[w] = c
					w++
				} else if c == '"' {
					// A closing quote must be followed by a space or
					// nothing at all.
					if next := at(p + 1); next != 0 && !isSpace(next) {
						return nil, false
					}
					done = true
				} else if c == 0 {
					return nil, false // unterminated quotes
				} else {
					line[w] = c
					w++
				}
			case insq:
				if c == '\\' && at(p+1) == '\'' {
					p++
					line[w] = '\''
					w++
				} else if c == '\'' {
					if next := at(p + 1); next != 0 && !isSpace(next) {
						return nil, false
					}
					done = true
				} else if c == 0 {
					return nil, false
				} else {
					line[w] = c
					w++
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					// No write: outside quotes w == p, because a
					// token ends at its closing quote.
					w++
				}
			}
			if c != 0 {
				p++
			}
		}
		args = append(args, line[start:w:w])
	}
}
