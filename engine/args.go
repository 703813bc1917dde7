package engine

import "math"

// parseInt parses a decimal integer as Redis's string2ll does: an optional
// '-', digits, no '+', no spaces, no leading zeros, must fit in int64.
// (The spec notes C strtoll accepts the empty string as 0; disq rejects it.)
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := false
	i := 0
	if b[0] == '-' {
		neg = true
		i = 1
		if len(b) == 1 {
			return 0, false
		}
	}
	if b[i] == '0' && len(b) > i+1 {
		return 0, false
	}
	var v uint64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
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
