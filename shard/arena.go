package shard

// arena stores job bodies outside the garbage-collected object graph: bodies
// live in 1 MiB chunks carved into size classes (8-byte steps up to 512 B,
// 64-byte steps up to 4 KiB, then 1 KiB and 4 KiB steps up to 64 KiB);
// bodies above 64 KiB get a chunk of their own. A body is addressed by a
// 64-bit reference, chunk<<32 | offset, so job records stay pointer-free.
// Freed slots go to their class's free list and are reused first. Only the
// shard goroutine touches an arena.
type arena struct {
	chunks     [][]byte // chunk 0 is unused so that reference 0 means "empty body"
	freeChunks []uint32 // indexes of released large-body chunks
	classes    [numClasses]sizeClass
	used       int64    // bytes handed out, rounded to class sizes
	held       int64    // bytes of chunks allocated
	mem        *hugeMem // where class chunks come from (nil: the Go heap)
}

type sizeClass struct {
	cur  uint32        // chunk being carved (0 = none)
	off  uint32        // next free offset in cur
	free stack[uint64] // released references
}

const (
	chunkSize    = 1 << 20
	maxClassSize = 64 << 10
	numClasses   = 64 + 56 + 12 + 12
)

// classOf returns the size class and its slot size for a body of n bytes
// (0 < n <= maxClassSize).
func classOf(n int) (int, int) {
	switch {
	case n <= 512:
		c := (n + 7) / 8
		return c - 1, c * 8
	case n <= 4096:
		c := (n - 512 + 63) / 64 // 1..56
		return 64 + c - 1, 512 + c*64
	case n <= 16384:
		c := (n - 4096 + 1023) / 1024 // 1..12
		return 120 + c - 1, 4096 + c*1024
	default:
		c := (n - 16384 + 4095) / 4096 // 1..12
		return 132 + c - 1, 16384 + c*4096
	}
}

func (a *arena) newChunk(size int) uint32 {
	if len(a.chunks) == 0 {
		a.chunks = append(a.chunks, nil)
	}
	a.held += int64(size)
	var buf []byte
	if a.mem != nil && size <= chunkSize {
		buf = a.mem.alloc(size)
	} else {
		buf = make([]byte, size) // large bodies: freed one by one, on the heap
	}
	if n := len(a.freeChunks); n > 0 && size > maxClassSize {
		i := a.freeChunks[n-1]
		a.freeChunks = a.freeChunks[:n-1]
		a.chunks[i] = buf
		return i
	}
	a.chunks = append(a.chunks, buf)
	return uint32(len(a.chunks) - 1)
}

// put copies body into the arena and returns its reference.
func (a *arena) put(body []byte) uint64 {
	n := len(body)
	if n == 0 {
		return 0
	}
	if n > maxClassSize {
		i := a.newChunk(n)
		copy(a.chunks[i], body)
		a.used += int64(n)
		return uint64(i) << 32
	}
	c, size := classOf(n)
	cl := &a.classes[c]
	var ref uint64
	if f, ok := cl.free.pop(); ok {
		ref = f
	} else {
		if cl.cur == 0 || int(cl.off)+size > chunkSize {
			cl.cur = a.newChunk(chunkSize)
			cl.off = 0
		}
		ref = uint64(cl.cur)<<32 | uint64(cl.off)
		cl.off += uint32(size)
	}
	a.used += int64(size)
	copy(a.chunks[ref>>32][uint32(ref):], body)
	return ref
}

// get returns the n-byte body at ref. The slice aliases the arena: it is
// valid until the body is freed, and only on the shard goroutine (copy it
// into a reply buffer before handing it to anyone).
func (a *arena) get(ref uint64, n uint32) []byte {
	if n == 0 {
		return nil
	}
	off := uint32(ref)
	return a.chunks[ref>>32][off : off+n : off+n]
}

// release frees the n-byte body at ref.
func (a *arena) release(ref uint64, n uint32) {
	if n == 0 {
		return
	}
	if n > maxClassSize {
		i := uint32(ref >> 32)
		a.held -= int64(len(a.chunks[i]))
		a.chunks[i] = nil
		a.freeChunks = append(a.freeChunks, i)
		a.used -= int64(n)
		return
	}
	c, size := classOf(int(n))
	a.classes[c].free.push(ref)
	a.used -= int64(size)
}
