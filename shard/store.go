package shard

import (
	mbits "math/bits"
	"unsafe"

	"disq/engine/job"
)

// store holds a shard's job records: a slab of pointer-free job.Job records
// addressed by uint32 index (0 is "no record"), a free list, and an
// open-addressing index from job ID to record. Nothing here contains a
// pointer per job, so millions of jobs cost the garbage collector nothing to
// scan. Only the shard goroutine touches a store.
type store struct {
	pages [][]job.Job   // pageSize records each; record i is pages[i>>pageBits][i&pageMask]
	free  stack[uint32] // released record indexes, reused LIFO
	next  uint32        // next never-used index
	n     int           // records in use

	table   []uint32 // open addressing, linear probing; 0 = empty, else record index
	mask    uint64
	inIdx   []uint64 // bit i: record i is in the table
	inTable int      // records in the table
	mem     *hugeMem // where pages come from (nil: the Go heap)
}

const (
	pageBits = 12
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

func (s *store) get(i uint32) *job.Job { return &s.pages[i>>pageBits][i&pageMask] }

// alloc returns a cleared free record. Its QVer is kept from the record's
// previous life, so queue entries left by the previous job stay stale.
func (s *store) alloc() (uint32, *job.Job) {
	var i uint32
	if f, ok := s.free.pop(); ok {
		i = f
	} else {
		if s.next == 0 {
			s.next = 1 // index 0 means "none"
		}
		i = s.next
		s.next++
		if int(i>>pageBits) >= len(s.pages) {
			if s.mem != nil {
				s.pages = append(s.pages, s.mem.jobs(pageSize))
			} else {
				s.pages = append(s.pages, make([]job.Job, pageSize))
			}
		}
	}
	j := s.get(i)
	qv := j.QVer
	*j = job.Job{} // the record is Free already; this clears the rest
	j.QVer = qv + 1
	s.n++
	return i, j
}

// release returns a record (already Free) to the free list. The caller has
// removed it from the index, its queue and the timer wheel.
func (s *store) release(i uint32) {
	s.free.push(i)
	s.n--
}

// lookup returns the index of the record holding id, or 0. Jobs created by
// this shard carry their record index as the ID's hint and are found
// directly; other jobs (copies from other nodes, imports, reloads) are in
// the hash table.
func (s *store) lookup(id *job.ID) uint32 {
	if h := id.Hint(); h != 0 && h < s.next {
		if j := s.get(h); j.State != job.Free && j.ID == *id {
			return h
		}
	}
	if s.table == nil {
		return 0
	}
	for p := id.Hash() & s.mask; ; p = (p + 1) & s.mask {
		i := s.table[p]
		if i == 0 {
			return 0
		}
		if s.get(i).ID == *id {
			return i
		}
	}
}

// index makes record i findable by its ID: directly when the ID's hint is
// the record's index, else through the hash table.
func (s *store) index(i uint32) {
	if s.get(i).ID.Hint() != i {
		s.insert(i)
	}
}

// insert indexes record i under its ID (which must not be indexed yet).
func (s *store) insert(i uint32) {
	if uint64(s.inTable+1)*4 >= uint64(len(s.table))*3 || s.table == nil {
		s.grow()
	}
	s.place(i)
	s.inTable++
	for int(i>>6) >= len(s.inIdx) {
		s.inIdx = append(s.inIdx, 0)
	}
	s.inIdx[i>>6] |= 1 << (i & 63)
}

func (s *store) place(i uint32) {
	id := &s.get(i).ID
	p := id.Hash() & s.mask
	for s.table[p] != 0 {
		p = (p + 1) & s.mask
	}
	s.table[p] = i
}

// grow doubles the table. It re-places the records by walking the slab in
// order rather than the old table: reading records sequentially is far
// cheaper than one cache miss per entry (the hash lives in the record).
func (s *store) grow() {
	old := s.table
	size := 1024
	if len(old) > 0 {
		size = len(old) * 2
	}
	s.table = make([]uint32, size)
	s.mask = uint64(size - 1)
	if len(old) == 0 {
		return
	}
	for w, bits := range s.inIdx {
		for bits != 0 {
			b := uint32(mbits.TrailingZeros64(bits))
			bits &= bits - 1
			s.place(uint32(w)<<6 | b)
		}
	}
}

// remove drops record i from the index (backward-shift deletion, no
// tombstones).
func (s *store) remove(i uint32) {
	if int(i>>6) >= len(s.inIdx) || s.inIdx[i>>6]&(1<<(i&63)) == 0 {
		return // not indexed
	}
	s.inIdx[i>>6] &^= 1 << (i & 63)
	s.inTable--
	id := &s.get(i).ID
	p := id.Hash() & s.mask
	for s.table[p] != i {
		p = (p + 1) & s.mask
	}
	for {
		s.table[p] = 0
		q := p
		for {
			q = (q + 1) & s.mask
			k := s.table[q]
			if k == 0 {
				return
			}
			home := s.get(k).ID.Hash() & s.mask
			// Move k back into the hole at p unless its home lies
			// cyclically in (p, q].
			if (q > p && (home <= p || home > q)) || (q < p && home <= p && home > q) {
				s.table[p] = k
				p = q
				break
			}
		}
	}
}

// each calls fn for every record in use, in index order, until fn returns
// false. Records are visited by slab position, so a scan cursor can resume at
// an index.
func (s *store) each(from uint32, fn func(i uint32, j *job.Job) bool) uint32 {
	if from == 0 {
		from = 1
	}
	for i := from; i < s.next; i++ {
		j := s.get(i)
		if j.State == job.Free {
			continue
		}
		if !fn(i, j) {
			return i + 1
		}
	}
	return 0
}

// memory returns the bytes held by the records and the index.
func (s *store) memory() int64 { _, held := s.usage(); return held }

// usage returns the bytes of records and index in use, and the bytes held
// (slab pages include free records).
func (s *store) usage() (used, held int64) {
	const rec = int64(unsafe.Sizeof(job.Job{}))
	idx := int64(len(s.table))*4 + s.free.capBytes(4) + int64(len(s.inIdx))*8
	return int64(s.n)*rec + idx, int64(len(s.pages))*pageSize*rec + idx
}
