package resp

import "strconv"

// Kind is the type byte of a RESP2 reply.
type Kind byte

// Reply kinds.
const (
	KindSimple Kind = '+'
	KindError  Kind = '-'
	KindInt    Kind = ':'
	KindBulk   Kind = '$'
	KindArray  Kind = '*'
)

// String returns "simple", "error", "int", "bulk", "array", or "Kind(0xNN)"
// for anything else.
func (k Kind) String() string {
	switch k {
	case KindSimple:
		return "simple"
	case KindError:
		return "error"
	case KindInt:
		return "int"
	case KindBulk:
		return "bulk"
	case KindArray:
		return "array"
	}
	return "Kind(0x" + strconv.FormatUint(uint64(k), 16) + ")"
}

// Reply is one parsed server reply.
type Reply struct {
	Kind  Kind
	Str   []byte  // payload of simple/error/bulk (aliases buf); nil for a null bulk
	Int   int64   // integer value; for arrays the element count; for bulks the length; -1 for null bulk / null array
	Elems []Reply // array elements; nil for a null array, empty (not nil) for an empty one
}

// IsNull reports whether r is a null bulk string ($-1) or a null array (*-1).
func (r Reply) IsNull() bool {
	switch r.Kind {
	case KindBulk:
		return r.Str == nil
	case KindArray:
		return r.Int < 0
	}
	return false
}

// String returns a representation for tests and debugging: `+OK`,
// `-ERR msg`, `:3`, `"abc"` (Go-quoted), `(nil)` for a null bulk,
// `(nil array)` for a null array, and `[e1 e2 ...]` for arrays.
func (r Reply) String() string { return string(r.appendString(nil)) }

func (r Reply) appendString(b []byte) []byte {
	switch r.Kind {
	case KindSimple, KindError:
		b = append(b, byte(r.Kind))
		return append(b, r.Str...)
	case KindInt:
		b = append(b, ':')
		return strconv.AppendInt(b, r.Int, 10)
	case KindBulk:
		if r.IsNull() {
			return append(b, "(nil)"...)
		}
		return strconv.AppendQuote(b, string(r.Str))
	case KindArray:
		if r.IsNull() {
			return append(b, "(nil array)"...)
		}
		b = append(b, '[')
		for i, e := range r.Elems {
			if i > 0 {
				b = append(b, ' ')
			}
			b = e.appendString(b)
		}
		return append(b, ']')
	}
	return append(b, "(invalid "+r.Kind.String()+")"...)
}

// item is one reply header (and payload) as found at some position.
type item struct {
	kind   Kind
	v      int64 // integer; bulk length or array count, -1 for null
	p0, p1 int   // payload buf[p0:p1] of simple/error/bulk
}

func (it *item) reply(buf []byte) Reply {
	r := Reply{Kind: it.kind, Int: it.v}
	switch it.kind {
	case KindSimple, KindError:
		r.Str = buf[it.p0:it.p1:it.p1]
	case KindBulk:
		if it.v >= 0 {
			r.Str = buf[it.p0:it.p1:it.p1]
		}
	case KindArray:
		if it.v == 0 {
			r.Elems = []Reply{}
		}
	}
	return r
}

// parseItem parses the reply header at buf[pos] and, for simple, error,
// integer and bulk replies, the whole reply. next == 0 means incomplete.
func parseItem(buf []byte, pos int) (it item, next int, err error) {
	if pos >= len(buf) {
		return it, 0, nil
	}
	it.kind = Kind(buf[pos])
	limit := MaxInlineLen
	switch it.kind {
	case KindSimple, KindError:
		limit = maxReplyLine
	case KindInt, KindBulk, KindArray:
	default:
		return it, 0, protoErr("invalid reply type byte '" + string([]byte{buf[pos]}) + "'")
	}
	cr, st := scanLine(buf, pos, '\r', limit) // buf[pos] is not '\r'
	if st == lineTooBig {
		return it, 0, protoErr("too big reply line")
	}
	if st == lineShort || cr == len(buf)-1 {
		return it, 0, nil
	}
	if buf[cr+1] != '\n' {
		return it, 0, protoErr("invalid reply line terminator")
	}
	next = cr + 2
	if it.kind == KindSimple || it.kind == KindError {
		it.p0, it.p1 = pos+1, cr
		return it, next, nil
	}
	v, ok := parseInt(buf[pos+1 : cr])
	it.v = v
	switch it.kind {
	case KindInt:
		if !ok {
			return it, 0, protoErr("invalid integer reply")
		}
	case KindArray:
		if !ok || v < -1 || v > maxReplyElems {
			return it, 0, protoErr("invalid multibulk length")
		}
	case KindBulk:
		if !ok || v < -1 || v > DefaultMaxBulkLen {
			return it, 0, protoErr("invalid bulk length")
		}
		if v >= 0 {
			if v > int64(len(buf)-next)-2 {
				return it, 0, nil
			}
			end := next + int(v)
			if buf[end] != '\r' || buf[end+1] != '\n' {
				return it, 0, protoErr("invalid bulk terminator")
			}
			it.p0, it.p1 = next, end
			next = end + 2
		}
	}
	return it, next, nil
}

// walk finds the end of the reply at the start of buf, visiting nested
// arrays without recursion: RESP is prefix-encoded, so counting the items
// still expected is enough. elems is the total number of array elements at
// all levels. n == 0 means incomplete.
func walk(buf []byte) (n int, kind Kind, elems int, err error) {
	pos := 0
	pending, total := int64(1), int64(0)
	for pending > 0 {
		it, next, err := parseItem(buf, pos)
		if err != nil || next == 0 {
			return 0, 0, 0, err
		}
		if pos == 0 {
			kind = it.kind
		}
		pending--
		if it.kind == KindArray && it.v > 0 {
			pending += it.v
			total += it.v
		}
		pos = next
	}
	// Every element was parsed, so total < len(buf) fits an int.
	return pos, kind, int(total), nil
}

// SkipReply returns the length of the next complete reply in buf and its
// kind, without allocating. n == 0 with a nil error means incomplete.
func SkipReply(buf []byte) (n int, kind Kind, err error) {
	n, kind, _, err = walk(buf)
	return n, kind, err
}

// ReadReply parses one complete reply at the start of buf. Incomplete:
// n == 0, err == nil. Str fields alias buf. It allocates only for a
// non-empty array: one block holding the elements of all nesting levels,
// once the whole reply is known to be present. A malformed reply returns a
// *ProtocolError.
func ReadReply(buf []byte) (r Reply, n int, err error) {
	n, kind, elems, err := walk(buf)
	if err != nil || n == 0 {
		return Reply{}, 0, err
	}
	it, pos, _ := parseItem(buf, 0)
	r = it.reply(buf)
	if kind != KindArray || it.v <= 0 {
		return r, n, nil
	}
	block := make([]Reply, elems)
	type frame struct {
		elems []Reply
		i     int
	}
	var stackBuf [16]frame
	used := int(it.v)
	r.Elems = block[:used:used]
	stack := append(stackBuf[:0], frame{elems: r.Elems})
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.i == len(top.elems) {
			stack = stack[:len(stack)-1]
			continue
		}
		it, next, _ := parseItem(buf, pos)
		pos = next
		e := it.reply(buf)
		if it.kind == KindArray && it.v > 0 {
			c := int(it.v)
			e.Elems = block[used : used+c : used+c]
			used += c
		}
		top.elems[top.i] = e
		top.i++
		if len(e.Elems) > 0 {
			stack = append(stack, frame{elems: e.Elems})
		}
	}
	return r, n, nil
}
