package shard

import (
	"bytes"
	"slices"

	"disq/engine/job"
)

// qheap is a queue's min-heap of the entries that cannot be appended to its
// ring: jobs queued again with their original CTime (NACK, the retry
// timer) and copies older than the ring's tail. Usually a handful, but after
// a restart every job loaded from the log is requeued by its timer, in the
// random order of its jitter, so a backlog of millions lands here.
//
// The entries live in segments of qhSeg entries (the first one grows by
// doubling up to that), so the heap never grows by copying itself: one
// slice of 2 million entries took 0.8-0.9 s to double on this VM, with the
// garbage collector spinning on the shard goroutine stuck in the copy
// (BENCHMARKS.md, "A restart with a backlog").
type qheap struct {
	segs  [][]hentry // all full but the last
	n     int
	spare []hentry // a free segment, reused before allocating
}

// hentry is a heap entry. It carries its ordering key, frozen at push time:
// a stale entry's record may be freed and reused by another job, whose
// (CTime, ID) must not move the entry inside the heap.
type hentry struct {
	ct       uint64
	id       job.ID
	idx, ver uint32
}

func hless(a, b *hentry) bool {
	if a.ct != b.ct {
		return a.ct < b.ct
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

const (
	qhShift = 10
	qhSeg   = 1 << qhShift // entries per segment (40 KiB)
	qhMask  = qhSeg - 1
)

func (h *qheap) len() int { return h.n }

// at returns entry i of the heap's array, i < len().
func (h *qheap) at(i int) *hentry { return &h.segs[i>>qhShift][i&qhMask] }

// top returns the smallest entry, len() > 0.
func (h *qheap) top() *hentry { return &h.segs[0][0] }

func (h *qheap) push(e hentry) {
	h.appendEntry(e)
	h.up(h.n - 1)
}

// pop removes and returns the smallest entry, len() > 0.
func (h *qheap) pop() hentry {
	e := *h.top()
	last := h.n - 1
	*h.top() = *h.at(last)
	h.dropLast()
	if h.n > 0 {
		h.down(0)
	}
	return e
}

func (h *qheap) appendEntry(e hentry) {
	k := h.n >> qhShift
	if k == len(h.segs) {
		s := h.spare
		h.spare = nil
		if s == nil {
			c := qhSeg
			if k == 0 {
				c = 8 // the first segment starts small and doubles
			}
			s = make([]hentry, 0, c)
		}
		h.segs = append(h.segs, s)
	}
	if k == 0 && len(h.segs[0]) == cap(h.segs[0]) {
		h.segs[0] = slices.Grow(h.segs[0], min(len(h.segs[0]), qhSeg-len(h.segs[0])))
	}
	h.segs[k] = append(h.segs[k], e)
	h.n++
}

// dropLast removes the last entry of the array; a segment emptied past the
// first becomes the spare.
func (h *qheap) dropLast() {
	h.n--
	k := h.n >> qhShift
	h.segs[k] = h.segs[k][:len(h.segs[k])-1]
	if k > 0 && len(h.segs[k]) == 0 {
		h.spare, h.segs[k] = h.segs[k], nil
		h.segs = h.segs[:k]
	}
}

// up and down move the entry at i to its place, shifting the others
// into the hole it leaves (one 40-byte copy per level, not a swap).
func (h *qheap) up(i int) {
	e := *h.at(i)
	for i > 0 {
		p := (i - 1) / 2
		pe := h.at(p)
		if !hless(&e, pe) {
			break
		}
		*h.at(i) = *pe
		i = p
	}
	*h.at(i) = e
}

func (h *qheap) down(i int) {
	e := *h.at(i)
	for {
		l := 2*i + 1
		if l >= h.n {
			break
		}
		m, me := l, h.at(l)
		if r := l + 1; r < h.n {
			if re := h.at(r); hless(re, me) {
				m, me = r, re
			}
		}
		if !hless(me, &e) {
			break
		}
		*h.at(i) = *me
		i = m
	}
	*h.at(i) = e
}

// removeAt removes entry i, keeping the heap order: the last entry takes
// its place and moves up or down (O(log len)).
func (h *qheap) removeAt(i int) {
	last := h.n - 1
	if i != last {
		*h.at(i) = *h.at(last)
	}
	h.dropLast()
	if i < h.n {
		h.down(i)
		h.up(i)
	}
}

// reset empties the heap, keeping a first segment of up to keep entries.
func (h *qheap) reset(keep int) {
	if len(h.segs) > 1 || len(h.segs) == 1 && cap(h.segs[0]) > keep {
		*h = qheap{}
		return
	}
	if len(h.segs) == 1 {
		h.segs[0] = h.segs[0][:0]
	}
	h.n = 0
}

// smallest appends to dst the record indexes of up to max entries for
// which keep is true, smallest first. It walks the heap best-first from the
// root, so it costs O(k log k) for the k entries it visits, not the whole
// heap.
func (h *qheap) smallest(dst []uint32, max int, keep func(e *hentry) bool) []uint32 {
	if h.n == 0 || max <= 0 {
		return dst
	}
	// frontier: a min-heap of array positions still to visit.
	frontier := []int{0}
	lessPos := func(a, b int) bool { return hless(h.at(a), h.at(b)) }
	for got := 0; got < max && len(frontier) > 0; {
		p := frontier[0]
		last := len(frontier) - 1
		frontier[0] = frontier[last]
		frontier = frontier[:last]
		siftDownInts(frontier, 0, lessPos)
		if e := h.at(p); keep(e) {
			dst = append(dst, e.idx)
			got++
		}
		for c := 2*p + 1; c <= 2*p+2 && c < h.n; c++ {
			frontier = append(frontier, c)
			siftUpInts(frontier, len(frontier)-1, lessPos)
		}
	}
	return dst
}

// largest appends to dst the record indexes of up to max entries for which
// keep is true, largest first: one pass over the heap keeping the max
// largest in a bounded min-heap, O(len log max); keep is asked only of
// entries that would make the cut.
func (h *qheap) largest(dst []uint32, max int, keep func(e *hentry) bool) []uint32 {
	if h.n == 0 || max <= 0 {
		return dst
	}
	var best []int // min-heap of positions: the largest seen, smallest on top
	lessPos := func(a, b int) bool { return hless(h.at(a), h.at(b)) }
	for p := 0; p < h.n; p++ {
		// Compare before keep: the keys sit in the heap's array, keep
		// reads the job record (a cache miss), and most entries lose.
		full := len(best) == max
		if full && !lessPos(best[0], p) || !keep(h.at(p)) {
			continue
		}
		if !full {
			best = append(best, p)
			siftUpInts(best, len(best)-1, lessPos)
		} else {
			best[0] = p
			siftDownInts(best, 0, lessPos)
		}
	}
	slices.SortFunc(best, func(a, b int) int {
		if lessPos(b, a) {
			return -1
		}
		return 1
	})
	for _, p := range best {
		dst = append(dst, h.at(p).idx)
	}
	return dst
}

func siftUpInts(a []int, i int, less func(x, y int) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(a[i], a[p]) {
			return
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func siftDownInts(a []int, i int, less func(x, y int) bool) {
	for {
		l := 2*i + 1
		if l >= len(a) {
			return
		}
		m := l
		if r := l + 1; r < len(a) && less(a[r], a[l]) {
			m = r
		}
		if !less(a[m], a[i]) {
			return
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
}
