// Package respread reads RESP replies one at a time from a connection, for
// the small synchronous clients of the tests (internal/testclient) and of
// disq-bench.
package respread

import (
	"io"
	"slices"

	"disq/netpoll/resp"
)

// Reader buffers what arrives from a stream past the reply it returns. The
// zero value is ready to use.
type Reader struct {
	buf []byte
	off int
}

// Read returns the next reply, a copy safe to keep: it parses what is
// buffered and reads from src while that holds no whole reply. Deadlines
// are the caller's, set on src.
func (r *Reader) Read(src io.Reader) (resp.Reply, error) {
	for {
		if r.off < len(r.buf) {
			rep, n, err := resp.ReadReply(r.buf[r.off:])
			if err != nil {
				return resp.Reply{}, err
			}
			if n > 0 {
				// Copy: later reads reuse the buffer.
				rep = Clone(rep)
				r.off += n
				if r.off == len(r.buf) {
					r.buf, r.off = r.buf[:0], 0
				}
				return rep, nil
			}
		}
		r.buf = slices.Grow(r.buf, 32<<10)
		n, err := src.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n]
		if n == 0 && err != nil {
			return resp.Reply{}, err
		}
	}
}

// Take returns a copy of the bytes buffered past the replies read so far
// and empties the buffer.
func (r *Reader) Take() []byte {
	b := slices.Clone(r.buf[r.off:])
	r.buf, r.off = r.buf[:0], 0
	return b
}

// Clone returns a deep copy of r, sharing no memory with the buffer it was
// parsed from.
func Clone(r resp.Reply) resp.Reply {
	if r.Str != nil {
		r.Str = append([]byte{}, r.Str...)
	}
	if r.Elems != nil {
		e := make([]resp.Reply, len(r.Elems))
		for i := range r.Elems {
			e[i] = Clone(r.Elems[i])
		}
		r.Elems = e
	}
	return r
}
