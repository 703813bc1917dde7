package shard

import (
	"sync"
	"sync/atomic"
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
//
// Prefaulting. Even a 2 MiB page costs its first writer about 0.1 ms (the
// kernel zeroes it), and up to 5 ms on a VM whose host has not backed that
// guest memory yet; the shard would stop for it while every request routed
// to it waits. Once a shard has used prefaultMin bytes, a goroutine keeps
// the pages ahead of the next allocation resident (MADV_POPULATE_WRITE,
// which faults pages in without writing them, so it may run while the
// shard writes the pages before them): up to an eighth of what the shard
// uses, at most prefaultAhead bytes, and the start of the next segment
// (mapped early, into spare) when the window reaches past the end of the
// current one. A shard that stays small prefaults nothing; a growing one
// holds at most prefaultAhead + prefaultStep resident bytes it has not
// used yet.
type hugeMem struct {
	segs   [][]byte
	off    int   // next free byte in the last segment
	used   int64 // bytes handed out since the last release
	mapped int64

	spare        []byte // the next segment, mapped ahead of need (or nil)
	faulted      int    // bytes of the last segment populated or being populated
	spareFaulted int    // the same for spare
	running      atomic.Bool
	busy         sync.WaitGroup // a populate in flight (release waits)
	noPopulate   bool           // MADV_POPULATE_WRITE refused (kernel < 5.14)
}

const hugeSeg = 64 << 20

// Prefault window (see hugeMem).
const (
	hugePage      = 2 << 20
	prefaultMin   = 16 << 20
	prefaultAhead = 8 << 20
	prefaultStep  = 4 << 20
)

// alloc returns n zeroed bytes (n <= hugeSeg), 64-byte aligned.
func (h *hugeMem) alloc(n int) []byte {
	n = (n + 63) &^ 63
	if len(h.segs) == 0 || h.off+n > len(h.segs[len(h.segs)-1]) {
		size := hugeSeg
		if n > size {
			size = n
		}
		var b []byte
		if size == hugeSeg && h.spare != nil {
			b, h.faulted = h.spare, h.spareFaulted
			h.spare, h.spareFaulted = nil, 0
		} else {
			b = h.mmap(size)
			if b == nil {
				return make([]byte, n) // no mapping: the Go heap will do
			}
			h.faulted = 0
			if size != hugeSeg {
				h.faulted = size // one oversized block, used whole at once
			}
		}
		h.segs = append(h.segs, b)
		h.off = 0
	}
	seg := h.segs[len(h.segs)-1]
	b := seg[h.off : h.off+n : h.off+n]
	h.off += n
	h.used += int64(n)
	if h.used >= prefaultMin && !h.running.Load() && !h.noPopulate {
		h.prefault(seg)
	}
	return b
}

// mmap maps size bytes advised for huge pages, or returns nil.
func (h *hugeMem) mmap(size int) []byte {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE
	h.mapped += int64(size)
	return b
}

// prefault starts populating the next part of the window ahead of h.off,
// if it is not resident yet (called with no populate running).
func (h *hugeMem) prefault(seg []byte) {
	ahead := min(int(h.used/8), prefaultAhead)
	want := h.off + ahead
	if h.faulted < len(seg) {
		if want <= h.faulted {
			return
		}
		from := max(h.faulted, h.off&^(hugePage-1))
		to := min(from+prefaultStep, len(seg))
		h.faulted = to
		if from < to {
			h.populate(seg[from:to])
		}
		return
	}
	// The rest of this segment is resident: the window reaches into the
	// next one.
	want -= len(seg)
	if want <= 0 || h.spareFaulted >= min(want, hugeSeg) {
		return
	}
	if h.spare == nil {
		if h.spare = h.mmap(hugeSeg); h.spare == nil {
			return
		}
	}
	from := h.spareFaulted
	to := min(from+prefaultStep, hugeSeg)
	h.spareFaulted = to
	h.populate(h.spare[from:to])
}

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14).
const madvPopulateWrite = 23

// populate faults b in on a goroutine of its own.
func (h *hugeMem) populate(b []byte) {
	h.running.Store(true)
	h.busy.Add(1)
	go func() {
		defer h.busy.Done()
		_, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), madvPopulateWrite)
		if e == syscall.EINVAL {
			// Read by the shard only after it sees running cleared.
			h.noPopulate = true
		}
		h.running.Store(false)
	}()
}

// jobs returns a page of n zeroed job records.
func (h *hugeMem) jobs(n int) []job.Job {
	size := n * int(unsafe.Sizeof(job.Job{}))
	b := h.alloc(size)
	return unsafe.Slice((*job.Job)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// release unmaps everything. Nothing handed out may be used afterwards.
func (h *hugeMem) release() {
	h.busy.Wait()
	for _, s := range h.segs {
		_ = syscall.Munmap(s)
	}
	if h.spare != nil {
		_ = syscall.Munmap(h.spare)
	}
	noPopulate := h.noPopulate
	*h = hugeMem{noPopulate: noPopulate}
}
