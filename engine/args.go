package engine

import "math"

// parseInt parses a decimal integer as the spec's numeric options are
// parsed (commands.md 1.3, C strtoll): an optional leading '+' or '-',
// digits (leading zeros allowed), no spaces, nothing after, and it must
// fit in int64. The empty string, which strtoll reads as 0, is rejected.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<63)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(v), true // -(1<<63) wraps to MinInt64, as wanted
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// parseUint parses an unsigned decimal (scan cursors).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// parseTimeout parses a millisecond timeout (GETJOB, ADDJOB, CLIENT PAUSE).
func parseTimeout(b []byte) (int64, string) {
	v, ok := parseInt(b)
	if !ok {
		return 0, errTimeoutInt
	}
	if v < 0 {
		return 0, errTimeoutNeg
	}
	return v, ""
}

// maxSeconds bounds TTL, DELAY and RETRY: Disque keeps them in 32 bits and
// does not check (a quirk); disq clamps larger values to this.
const maxSeconds = math.MaxInt32
