package resp

import "bytes"

// Defaults inherited from the Redis core (Disque spec).
const (
	DefaultMaxArgs    = 1024 * 1024 // arguments per request
	DefaultMaxBulkLen = 512 << 20   // bytes per argument (proto-max-bulk-len)
	MaxInlineLen      = 64 << 10    // inline request line, and any *N / $N header line
)

// Limits bounds what ReadCommand accepts. The zero value is not valid; use
// DefaultLimits (or a copy of it with smaller values). A nil *Limits passed
// to ReadCommand means DefaultLimits.
//
// MaxArgs bounds the count of a multibulk request (`*N`). MaxBulkLen bounds
// every `$len` of a multibulk request. Inline requests are bounded only by
// MaxInlineLen, which also bounds every `*N` and `$len` header line.
type Limits struct {
	MaxArgs    int
	MaxBulkLen int64
}

// DefaultLimits are the limits of Redis 3.x / Disque.
var DefaultLimits = Limits{MaxArgs: DefaultMaxArgs, MaxBulkLen: DefaultMaxBulkLen}

// Bounds of ReadReply and SkipReply (client side).
const (
	// maxReplyLine bounds a +simple or -error reply line. Servers of the
	// Redis 3.x era echo user input (e.g. an unknown command name, which
	// may be as long as a bulk argument) in error replies, so this is the
	// bulk limit, not MaxInlineLen.
	maxReplyLine = DefaultMaxBulkLen
	// maxReplyElems bounds the count of one array reply. It is only a
	// sanity bound: nothing is allocated before the whole reply is present.
	maxReplyElems = 1 << 24
)

// Line scan results of scanLine.
const (
	lineFound  = iota // the byte was found within the window
	lineShort         // not found, and the window is not full yet: incomplete
	lineTooBig        // not found within limit+1 bytes: protocol error
)

// scanLine looks for c in buf[from:], looking at most limit+1 bytes ahead,
// i.e. a line of up to limit bytes followed by c is accepted. Bounding the
// window (rather than checking len(buf) like Redis does on whatever chunk
// it happens to have read) makes the result a function of the line only,
// independent of how the bytes were split into reads.
func scanLine(buf []byte, from int, c byte, limit int) (int, int) {
	end := len(buf)
	if end-from > limit+1 {
		end = from + limit + 1
	}
	if i := bytes.IndexByte(buf[from:end], c); i >= 0 {
		return from + i, lineFound
	}
	if len(buf)-from > limit {
		return 0, lineTooBig
	}
	return 0, lineShort
}

// parseInt parses b with the rules of Redis string2ll: an optional '-',
// then digits without leading zeros (except "0" itself, and not "-0"), no
// '+', no spaces, and the value must fit an int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	i := 0
	if neg {
		i = 1
		if len(b) == 1 {
			return 0, false
		}
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	v := uint64(b[i] - '0')
	i++
	if len(b)-i <= 17 { // at most 18 digits: cannot overflow
		for ; i < len(b); i++ {
			d := b[i] - '0'
			if d > 9 {
				return 0, false
			}
			v = v*10 + uint64(d)
		}
	} else {
		for ; i < len(b); i++ {
			d := b[i] - '0'
			if d > 9 {
				return 0, false
			}
			if v > (1<<64-1)/10 {
				return 0, false
			}
			v *= 10
			if v > 1<<64-1-uint64(d) {
				return 0, false
			}
			v += uint64(d)
		}
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true // -int64(1<<63) wraps to MinInt64, as wanted
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
