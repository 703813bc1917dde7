package shard

// stack is a LIFO of free slots (record indexes, body references) that grows
// without copying what it holds. A plain slice doubles by copying every
// entry into fresh memory: with millions of jobs acknowledged, the free
// lists reach millions of entries, and a doubling stalled the shard for
// 40-155 ms (ACKJOBs in the slow log while `disq-bench consume` drained 3
// million jobs; BENCHMARKS.md). The first chunk grows as a slice up to
// stackChunk entries; past that the stack adds chunks of stackChunk
// entries, keeping one emptied chunk as a spare so that pushes and pops
// around a chunk boundary do not allocate.
type stack[T any] struct {
	chunks [][]T // every chunk but the last holds exactly stackChunk entries
	spare  []T
}

const stackChunk = 8192

func (s *stack[T]) len() int {
	n := len(s.chunks)
	if n == 0 {
		return 0
	}
	return (n-1)*stackChunk + len(s.chunks[n-1])
}

func (s *stack[T]) push(v T) {
	n := len(s.chunks)
	if n == 0 || len(s.chunks[n-1]) == stackChunk {
		c := s.spare
		s.spare = nil
		if c == nil && n > 0 {
			c = make([]T, 0, stackChunk)
		}
		s.chunks = append(s.chunks, c)
		n++
	}
	s.chunks[n-1] = append(s.chunks[n-1], v)
}

// pop removes and returns the newest entry; ok is false when empty.
func (s *stack[T]) pop() (v T, ok bool) {
	n := len(s.chunks)
	if n == 0 {
		return v, false
	}
	c := s.chunks[n-1]
	if len(c) == 0 {
		return v, false // only the first chunk can be empty
	}
	v = c[len(c)-1]
	c = c[:len(c)-1]
	s.chunks[n-1] = c
	if len(c) == 0 && n > 1 {
		s.spare = c
		s.chunks[n-1] = nil
		s.chunks = s.chunks[:n-1]
	}
	return v, true
}

// capBytes is the memory the stack holds, at elem bytes per entry. Every
// chunk but the first, and the spare (never the first), was made with
// stackChunk capacity.
func (s *stack[T]) capBytes(elem int) int64 {
	n := cap(s.spare)
	if len(s.chunks) > 0 {
		n += cap(s.chunks[0]) + (len(s.chunks)-1)*stackChunk
	}
	return int64(n) * int64(elem)
}
