package shard

import (
	"syscall"
	"unsafe"

	"disq/engine/job"
)

// hugeMem hands out the shard's big pointer-free blocks (job record pages,
// body chunks) from 64 MiB anonymous mappings outside the Go heap, advised
// for transparent huge pages. Growing a store by millions of jobs then
// faults in 2 MiB pages instead of 4 KiB ones (the page faults of a growing
// slab were about 15% of ADDJOB's CPU on a 2-core VM), and the collector
// neither sees nor paces on these bytes (the engine adds them to "used
// memory" from the shard's stats). Blocks are only returned all at once
// (release: DEBUG FLUSHALL, shutdown). Only the shard goroutine uses it.
type hugeMem struct {
	segs   [][]byte
	off    int // next free byte in the last segment
	mapped int64
}

const hugeSeg = 64 << 20

// alloc returns n zeroed bytes (n <= hugeSeg), 64-byte aligned.
func (h *hugeMem) alloc(n int) []byte {
	n = (n + 63) &^ 63
	if len(h.segs) == 0 || h.off+n > len(h.segs[len(h.segs)-1]) {
		size := hugeSeg
		if n > size {
			size = n
		}
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return make([]byte, n) // no mapping: the Go heap will do
		}
		_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE
		h.segs = append(h.segs, b)
		h.off = 0
		h.mapped += int64(size)
	}
	seg := h.segs[len(h.segs)-1]
	b := seg[h.off : h.off+n : h.off+n]
	h.off += n
	return b
}

// jobs returns a page of n zeroed job records.
func (h *hugeMem) jobs(n int) []job.Job {
	size := n * int(unsafe.Sizeof(job.Job{}))
	b := h.alloc(size)
	return unsafe.Slice((*job.Job)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// release unmaps everything. Nothing handed out may be used afterwards.
func (h *hugeMem) release() {
	for _, s := range h.segs {
		_ = syscall.Munmap(s)
	}
	h.segs, h.off, h.mapped = nil, 0, 0
}
