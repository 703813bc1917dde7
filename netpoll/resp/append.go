package resp

import "strconv"

// The Append* functions append one RESP2 value to dst and return the
// extended slice, like strconv.AppendInt. They allocate only when dst has
// to grow.

const crlf = "\r\n"

// smallHeaders is the number of precomputed headers ("$0\r\n" ...) per type.
const smallHeaders = 1024

// headerTable holds prefix+decimal(i)+"\r\n" for i in [0, smallHeaders),
// concatenated in s; entry i is s[off[i]:off[i+1]].
type headerTable struct {
	s   string
	off [smallHeaders + 1]uint16
}

func newHeaderTable(prefix byte) *headerTable {
	t := new(headerTable)
	b := make([]byte, 0, 7*smallHeaders)
	for i := range smallHeaders {
		t.off[i] = uint16(len(b))
		b = append(b, prefix)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, crlf...)
	}
	t.off[smallHeaders] = uint16(len(b))
	t.s = string(b)
	return t
}

var (
	bulkHeaders  = newHeaderTable('$')
	arrayHeaders = newHeaderTable('*')
	intReplies   = newHeaderTable(':')
)

// appendHeader appends prefix, the decimal v and CRLF.
func appendHeader(dst []byte, t *headerTable, prefix byte, v int64) []byte {
	if uint64(v) < smallHeaders {
		return append(dst, t.s[t.off[v]:t.off[v+1]]...)
	}
	dst = append(dst, prefix)
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, crlf...)
}

// blankNewlines replaces CR and LF by spaces in b, so that a line reply
// cannot break the framing (Redis does this for error replies).
func blankNewlines(b []byte) {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
}

// AppendSimple appends the simple string reply +s\r\n. CR and LF in s are
// replaced by spaces.
func AppendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	start := len(dst)
	dst = append(dst, s...)
	blankNewlines(dst[start:])
	return append(dst, crlf...)
}

// AppendSimpleBytes is AppendSimple for a byte slice.
func AppendSimpleBytes(dst []byte, s []byte) []byte {
	dst = append(dst, '+')
	start := len(dst)
	dst = append(dst, s...)
	blankNewlines(dst[start:])
	return append(dst, crlf...)
}

// AppendError appends the error reply "-" + msg + "\r\n". msg includes its
// prefix, e.g. "ERR syntax error". CR and LF in msg are replaced by spaces,
// as Redis does.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	start := len(dst)
	dst = append(dst, msg...)
	blankNewlines(dst[start:])
	return append(dst, crlf...)
}

// AppendInt appends the integer reply :v\r\n.
func AppendInt(dst []byte, v int64) []byte {
	return appendHeader(dst, intReplies, ':', v)
}

// AppendBulk appends the bulk string $len\r\nb\r\n. A nil b is an empty
// bulk string, not a null one (see AppendNullBulk).
func AppendBulk(dst []byte, b []byte) []byte {
	dst = appendHeader(dst, bulkHeaders, '$', int64(len(b)))
	dst = append(dst, b...)
	return append(dst, crlf...)
}

// AppendBulkString is AppendBulk for a string.
func AppendBulkString(dst []byte, s string) []byte {
	dst = appendHeader(dst, bulkHeaders, '$', int64(len(s)))
	dst = append(dst, s...)
	return append(dst, crlf...)
}

// AppendBulkInt appends a bulk string holding the decimal text of v.
func AppendBulkInt(dst []byte, v int64) []byte {
	dst = appendHeader(dst, bulkHeaders, '$', int64(decimalLen(v)))
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, crlf...)
}

// decimalLen is len(strconv.FormatInt(v, 10)).
func decimalLen(v int64) int {
	n, u := 1, uint64(v)
	if v < 0 {
		n, u = 2, -u
	}
	for u >= 10 {
		u /= 10
		n++
	}
	return n
}

// AppendNullBulk appends the null bulk string $-1\r\n.
func AppendNullBulk(dst []byte) []byte { return append(dst, "$-1\r\n"...) }

// AppendNullArray appends the null array *-1\r\n.
func AppendNullArray(dst []byte) []byte { return append(dst, "*-1\r\n"...) }

// AppendArray appends the header *n\r\n of an array of n elements; the
// caller appends the n elements next.
func AppendArray(dst []byte, n int) []byte {
	return appendHeader(dst, arrayHeaders, '*', int64(n))
}

// AppendCommand appends args as a multibulk request, the form clients send:
// *N\r\n then one bulk string per argument.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = AppendArray(dst, len(args))
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// AppendCommandStrings is AppendCommand for string arguments.
func AppendCommandStrings(dst []byte, args ...string) []byte {
	dst = AppendArray(dst, len(args))
	for _, a := range args {
		dst = AppendBulkString(dst, a)
	}
	return dst
}
