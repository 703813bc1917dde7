package bench

// Minimal walkers over replies that resp.SkipReply has already found
// complete and well formed: they only locate the fields the workers need
// (job IDs, bodies), without allocating.

// header parses the header line at b[pos] (type byte, decimal, CRLF) and
// returns its number and the position after the line.
func header(b []byte, pos int) (v int64, next int) {
	i := pos + 1
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	for i < len(b) && b[i] != '\r' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	if neg {
		v = -v
	}
	return v, i + 2
}

// bulkAt returns the payload of the bulk string at b[pos] (nil for a null
// bulk) and the position after it.
func bulkAt(b []byte, pos int) (payload []byte, next int) {
	n, p := header(b, pos)
	if n < 0 {
		return nil, p
	}
	end := p + int(n)
	return b[p:end:end], end + 2
}

// skipAt returns the position after the reply at b[pos].
func skipAt(b []byte, pos int) int {
	pending := 1
	for pending > 0 {
		pending--
		switch b[pos] {
		case '$':
			_, pos = bulkAt(b, pos)
		case '*':
			n, p := header(b, pos)
			if n > 0 {
				pending += int(n)
			}
			pos = p
		default: // + - :
			for b[pos] != '\r' {
				pos++
			}
			pos += 2
		}
	}
	return pos
}

// jobSpan locates one job of a GETJOB reply inside the reply bytes.
type jobSpan struct {
	id, body []byte
}

// walkJobs appends to dst the jobs of a GETJOB reply:
// *N [ *3|*7 [ $queue $id $body ... ] ... ]. A null array yields none.
func walkJobs(dst []jobSpan, b []byte) []jobSpan {
	n, pos := header(b, 0)
	for ; n > 0; n-- {
		fields, p := header(b, pos)
		_, p = bulkAt(b, p) // queue
		id, p := bulkAt(b, p)
		body, p := bulkAt(b, p)
		for f := int64(3); f < fields; f++ {
			p = skipAt(b, p)
		}
		pos = p
		dst = append(dst, jobSpan{id, body})
	}
	return dst
}

// brpopBody returns the value of a BRPOP reply *2 [ $key $value ], or nil
// for a null array.
func brpopBody(b []byte) []byte {
	n, pos := header(b, 0)
	if n < 2 {
		return nil
	}
	_, pos = bulkAt(b, pos)
	v, _ := bulkAt(b, pos)
	return v
}

const hexDigits = "0123456789abcdef"

// putToken writes t as 16 lower-case hex digits into b[:16].
func putToken(b []byte, t uint64) {
	_ = b[TokenLen-1]
	for i := TokenLen - 1; i >= 0; i-- {
		b[i] = hexDigits[t&15]
		t >>= 4
	}
}

// getToken reads a token written by putToken; ok is false when b does not
// start with 16 hex digits.
func getToken(b []byte) (t uint64, ok bool) {
	if len(b) < TokenLen {
		return 0, false
	}
	for _, c := range b[:TokenLen] {
		switch {
		case c >= '0' && c <= '9':
			t = t<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			t = t<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return t, true
}
