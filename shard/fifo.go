package shard

// fifo is the queue's ring of entries in CTime order: a deque that appends at
// the tail, takes from the head and reads any position.
//
// Up to fifoSeg entries it is one power-of-two ring that doubles (copying at
// most fifoSeg entries). Past that it becomes a ring of fixed segments of
// fifoSeg entries: growing adds a segment (and at times doubles the small
// table of segment pointers), so no push ever copies the entries already
// queued. A single ring that doubled stalled the shard for the copy, and
// on a VM for faulting in the new memory: 14, 20, 31 and 74 ms at 0.5, 1, 2
// and 4 million entries in one queue (BENCHMARKS.md, "Rewrites under
// load"). Segments the head has passed are freed as the queue drains, one
// kept as a spare for the tail.
type fifo struct {
	head int // small: index of the first entry; segmented: its offset in the first segment
	n    int // entries

	small []qentry // power-of-two ring while not segmented

	segs  [][]qentry // segmented: power-of-two ring of segments
	s0    int        // index in segs of the first segment
	nseg  int        // segments in use
	spare []qentry   // a free segment, reused before allocating
}

const (
	fifoShift = 12
	fifoSeg   = 1 << fifoShift // entries per segment (32 KiB)
	fifoMask  = fifoSeg - 1
)

func (f *fifo) len() int { return f.n }

// capacity is how many entries fit before the next allocation.
func (f *fifo) capacity() int {
	if f.segs == nil {
		return len(f.small)
	}
	return f.nseg*fifoSeg - f.head
}

func (f *fifo) slot(k int) *qentry {
	if f.segs == nil {
		return &f.small[(f.head+k)&(len(f.small)-1)]
	}
	p := f.head + k
	return &f.segs[(f.s0+p>>fifoShift)&(len(f.segs)-1)][p&fifoMask]
}

// at returns entry k (0 = head), k < len().
func (f *fifo) at(k int) qentry { return *f.slot(k) }

func (f *fifo) front() qentry { return f.at(0) }

func (f *fifo) pushBack(e qentry) {
	if f.segs == nil {
		if f.n < len(f.small) {
			f.small[(f.head+f.n)&(len(f.small)-1)] = e
			f.n++
			return
		}
		if len(f.small) < fifoSeg {
			f.growSmall()
			f.small[f.n] = e
			f.n++
			return
		}
		f.segment()
	}
	p := f.head + f.n
	if p>>fifoShift == f.nseg {
		f.addSeg()
	}
	f.segs[(f.s0+p>>fifoShift)&(len(f.segs)-1)][p&fifoMask] = e
	f.n++
}

// growSmall doubles the small ring, putting the head at index 0.
func (f *fifo) growSmall() {
	n := max(8, 2*len(f.small))
	r := make([]qentry, n)
	for i := 0; i < f.n; i++ {
		r[i] = f.small[(f.head+i)&(len(f.small)-1)]
	}
	f.small, f.head = r, 0
}

// segment turns the full small ring (fifoSeg entries) into the first
// segment, rotated so that the head is at offset 0.
func (f *fifo) segment() {
	s := make([]qentry, fifoSeg)
	for i := 0; i < f.n; i++ {
		s[i] = f.small[(f.head+i)&(len(f.small)-1)]
	}
	f.segs = make([][]qentry, 4)
	f.segs[0] = s
	f.s0, f.nseg, f.head, f.small = 0, 1, 0, nil
}

// addSeg appends a segment at the tail.
func (f *fifo) addSeg() {
	if f.nseg == len(f.segs) {
		t := make([][]qentry, 2*len(f.segs))
		for i := 0; i < f.nseg; i++ {
			t[i] = f.segs[(f.s0+i)&(len(f.segs)-1)]
		}
		f.segs, f.s0 = t, 0
	}
	s := f.spare
	if s == nil {
		s = make([]qentry, fifoSeg)
	}
	f.spare = nil
	f.segs[(f.s0+f.nseg)&(len(f.segs)-1)] = s
	f.nseg++
}

// popFront drops the head entry, len() > 0.
func (f *fifo) popFront() {
	f.n--
	if f.segs == nil {
		f.head = (f.head + 1) & (len(f.small) - 1)
		return
	}
	f.head++
	if f.head == fifoSeg {
		f.dropFirstSeg()
		f.head = 0
	}
}

func (f *fifo) dropFirstSeg() {
	i := f.s0
	f.spare, f.segs[i] = f.segs[i], nil
	f.s0 = (f.s0 + 1) & (len(f.segs) - 1)
	f.nseg--
}

// reset empties the fifo. A small ring of up to keep entries is kept for
// reuse; anything bigger is released.
func (f *fifo) reset(keep int) {
	if f.segs != nil || len(f.small) > keep {
		*f = fifo{}
		return
	}
	f.head, f.n = 0, 0
}

// cring is the queue's ring under incremental compaction: the entries in
// order are done followed by rest. Outside a compaction rest is empty and
// done holds everything. A compaction moves everything to rest, then each
// step moves a bounded number of entries from the head of rest to the tail
// of done, dropping the stale ones; pushes go to the tail of rest meanwhile.
// Compacting a 4-million-entry ring in one step stalled the shard for 45 ms
// (BENCHMARKS.md, "Removals from the middle of a backlog").
type cring struct {
	done, rest fifo
}

func (c *cring) len() int { return c.done.n + c.rest.n }

// capacity is how many entries fit before the next allocation.
func (c *cring) capacity() int { return c.done.capacity() + c.rest.capacity() }

// at returns entry k (0 = head), k < len().
func (c *cring) at(k int) qentry {
	if k < c.done.n {
		return c.done.at(k)
	}
	return c.rest.at(k - c.done.n)
}

func (c *cring) front() qentry { return c.at(0) }

func (c *cring) pushBack(e qentry) {
	if c.rest.n > 0 {
		c.rest.pushBack(e)
		return
	}
	c.done.pushBack(e)
}

// popFront drops the head entry, len() > 0.
func (c *cring) popFront() {
	if c.done.n > 0 {
		c.done.popFront()
		return
	}
	c.rest.popFront()
	c.endIfDone()
}

// compacting reports whether a compaction is under way.
func (c *cring) compacting() bool { return c.rest.n > 0 }

// startCompact begins a compaction: every entry is still to be scanned.
func (c *cring) startCompact() {
	if c.rest.n == 0 {
		c.done, c.rest = fifo{}, c.done
	}
}

// endIfDone releases rest once it has been emptied.
func (c *cring) endIfDone() {
	if c.rest.n == 0 && (c.rest.segs != nil || c.rest.small != nil) {
		c.rest = fifo{}
	}
}

// reset empties the ring, keeping a small one of up to keep entries.
func (c *cring) reset(keep int) {
	c.done.reset(keep)
	c.rest = fifo{}
}
