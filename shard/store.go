package shard

import (
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

	tabs     [idxTables]idxTable // the ID index, split by the hash's top byte
	tabSlots int                 // slots of all tabs (memory accounting)
	inIdx    []uint64            // bit i: record i is in the index
	mem      *hugeMem            // where pages come from (nil: the Go heap)
}

// The ID index holds the records whose ID does not carry their index
// (copies from other nodes, imports, reloads): on a replica that can be
// millions. It is split into idxTables open-addressing tables by the top
// byte of the ID's hash, each doubling on its own, so a growth re-places
// 1/256 of the entries: one table of 3 million entries stalled its shard
// for 259 ms when it doubled (BENCHMARKS.md).
const idxTables = 256

// idxTable is one open-addressing table with linear probing: 0 = empty,
// else a record index; at most 3/4 full.
type idxTable struct {
	slots []uint32
	mask  uint64
	n     int
}

func (s *store) tab(h uint64) *idxTable { return &s.tabs[h>>56] }

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
	h := id.Hash()
	t := s.tab(h)
	if t.slots == nil {
		return 0
	}
	for p := h & t.mask; ; p = (p + 1) & t.mask {
		i := t.slots[p]
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
	h := s.get(i).ID.Hash()
	t := s.tab(h)
	if uint64(t.n+1)*4 >= uint64(len(t.slots))*3 || t.slots == nil {
		s.grow(t)
	}
	t.place(i, h)
	t.n++
	for int(i>>6) >= len(s.inIdx) {
		s.inIdx = append(s.inIdx, 0)
	}
	s.inIdx[i>>6] |= 1 << (i & 63)
}

func (t *idxTable) place(i uint32, h uint64) {
	p := h & t.mask
	for t.slots[p] != 0 {
		p = (p + 1) & t.mask
	}
	t.slots[p] = i
}

// grow doubles table t, re-placing its own entries.
func (s *store) grow(t *idxTable) {
	old := t.slots
	size := 16
	if len(old) > 0 {
		size = len(old) * 2
	}
	t.slots = make([]uint32, size)
	t.mask = uint64(size - 1)
	s.tabSlots += size - len(old)
	for _, k := range old {
		if k != 0 {
			t.place(k, s.get(k).ID.Hash())
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
	h := s.get(i).ID.Hash()
	t := s.tab(h)
	t.n--
	p := h & t.mask
	for t.slots[p] != i {
		p = (p + 1) & t.mask
	}
	for {
		t.slots[p] = 0
		q := p
		for {
			q = (q + 1) & t.mask
			k := t.slots[q]
			if k == 0 {
				return
			}
			home := s.get(k).ID.Hash() & t.mask
			// Move k back into the hole at p unless its home lies
			// cyclically in (p, q].
			if (q > p && (home <= p || home > q)) || (q < p && home <= p && home > q) {
				t.slots[p] = k
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
	idx := int64(s.tabSlots)*4 + s.free.capBytes(4) + int64(len(s.inIdx))*8
	return int64(s.n)*rec + idx, int64(len(s.pages))*pageSize*rec + idx
}
