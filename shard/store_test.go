package shard

import (
	"math/rand/v2"
	"testing"

	"disq/engine/job"
)

// storeModel checks the store's ID index and slab against a Go map.
type storeModel struct {
	t     *testing.T
	rng   *rand.Rand
	st    store
	model map[job.ID]uint32 // indexed ID -> record
	live  []job.ID
	hints int // live records found by their ID hint (not in the table)
}

// makeID returns a random ID whose index home, Hash()&mask, is mask-back for
// every table size up to 2^16: the low 16 bits of Hash are 0xffff-back. With
// small backs, entries crowd the end of the table and their probe chains wrap
// to its start. Its hash's top byte is 0 or 1, so the IDs share two of the
// index's tables.
func makeID(rng *rand.Rand, back uint16) job.ID {
	var id job.ID
	for k := range id {
		id[k] = byte(rng.Uint32())
	}
	low := 0xffff - back
	id[12], id[13] = byte(low>>8), byte(low)
	id[6] = byte(rng.IntN(2)) // Hash's top byte: two of the index's tables, crowded
	return id
}

func (m *storeModel) insert(back uint16) {
	id := makeID(m.rng, back)
	if _, dup := m.model[id]; dup {
		return
	}
	i, j := m.st.alloc()
	if m.rng.IntN(3) == 0 {
		// A job created here: the ID carries the record index and is found
		// without the table.
		id.SetHint(i)
		j.ID = id
		m.st.index(i)
		m.hints++
	} else {
		j.ID = id
		m.st.insert(i)
	}
	j.State = job.Queued
	m.model[id] = i
	m.live = append(m.live, id)
}

func (m *storeModel) remove(k int) {
	id := m.live[k]
	i := m.model[id]
	if id.Hint() == i {
		m.hints--
	}
	m.st.remove(i)
	j := m.st.get(i)
	j.State = job.Free
	m.st.release(i)
	delete(m.model, id)
	m.live[k] = m.live[len(m.live)-1]
	m.live = m.live[:len(m.live)-1]
}

// checkSome looks up a few live IDs.
func (m *storeModel) checkSome() {
	for k := 0; k < 3 && len(m.live) > 0; k++ {
		id := m.live[m.rng.IntN(len(m.live))]
		if got, want := m.st.lookup(&id), m.model[id]; got != want {
			m.t.Fatalf("lookup(%v) = %d; want %d", id, got, want)
		}
	}
}

// check verifies every indexed ID, some absent ones, and the table's shape:
// exactly the live records, each reachable from its home without crossing an
// empty slot (what backward-shift deletion must preserve).
func (m *storeModel) check() {
	for id, i := range m.model {
		id := id
		if got := m.st.lookup(&id); got != i {
			m.t.Fatalf("lookup(%v) = %d; want %d (%d index slots)", id, got, i, m.st.tabSlots)
		}
	}
	for k := 0; k < 4; k++ {
		id := makeID(m.rng, uint16(m.rng.IntN(4)))
		if _, ok := m.model[id]; !ok {
			if got := m.st.lookup(&id); got != 0 {
				m.t.Fatalf("lookup of an absent ID = %d; want 0", got)
			}
		}
	}
	n := 0
	for ti := range m.st.tabs {
		t := &m.st.tabs[ti]
		tn := 0
		for p, i := range t.slots {
			if i == 0 {
				continue
			}
			tn++
			h := m.st.get(i).ID.Hash()
			if int(h>>56) != ti {
				m.t.Fatalf("record %d in table %d; its hash's top byte is %d", i, ti, h>>56)
			}
			home := h & t.mask
			for q := home; q != uint64(p); q = (q + 1) & t.mask {
				if t.slots[q] == 0 {
					m.t.Fatalf("record %d at %d is cut off from its home %d by an empty slot at %d", i, p, home, q)
				}
			}
		}
		if tn != t.n {
			m.t.Fatalf("table %d holds %d entries; counts %d", ti, tn, t.n)
		}
		if tn*4 >= len(t.slots)*3 && tn > 0 {
			m.t.Fatalf("%d entries in table %d of %d slots: load above 3/4", tn, ti, len(t.slots))
		}
		n += tn
	}
	if n != len(m.model)-m.hints {
		m.t.Fatalf("index holds %d entries; model %d of which %d by hint", n, len(m.model), m.hints)
	}
	if m.st.n != len(m.model) {
		m.t.Fatalf("store.n = %d; model %d", m.st.n, len(m.model))
	}
}

func TestStoreDifferential(t *testing.T) {
	for seed := uint64(0); seed < 15; seed++ {
		m := &storeModel{t: t, rng: rand.New(rand.NewPCG(seed, 7)), model: map[job.ID]uint32{}}
		// Force a tiny table (it still grows at 3/4 load by doubling).
		size := 8 << (seed % 3)
		for ti := 0; ti < 2; ti++ {
			m.st.tabs[ti].slots = make([]uint32, size)
			m.st.tabs[ti].mask = uint64(size - 1)
			m.st.tabSlots += size
		}
		target := 4 + int(seed%5)*12 // live records hover around target
		for op := 0; op < 2000; op++ {
			// Homes: mostly the last few slots (wraparound), sometimes
			// anywhere.
			back := uint16(m.rng.IntN(4))
			if m.rng.IntN(4) == 0 {
				back = uint16(m.rng.Uint32())
			}
			grow := len(m.live) < target || m.rng.IntN(2) == 0
			if len(m.live) == 0 || (grow && len(m.live) < 2*target) {
				m.insert(back)
			} else {
				m.remove(m.rng.IntN(len(m.live)))
			}
			if op%8 == 0 || len(m.live) < 8 {
				m.check()
			} else {
				m.checkSome()
			}
		}
		for len(m.live) > 0 {
			m.remove(m.rng.IntN(len(m.live)))
		}
		m.check()
		for ti := range m.st.tabs {
			for p, i := range m.st.tabs[ti].slots {
				if i != 0 {
					t.Fatalf("seed %d: empty store still indexes record %d at %d of table %d", seed, i, p, ti)
				}
			}
		}
	}
}

// TestStoreHint: records of jobs created here are found through the ID's
// hint; a hint is never trusted without comparing the full ID.
func TestStoreHint(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	var st store
	mk := func() (uint32, job.ID) {
		i, j := st.alloc()
		id := makeID(rng, uint16(rng.Uint32()))
		id.SetHint(i)
		j.ID = id
		j.State = job.Queued
		st.index(i)
		return i, id
	}
	a, ida := mk()
	b, idb := mk()
	if ta := st.tab(ida.Hash()); len(ta.slots) != 0 && ta.slots[ida.Hash()&ta.mask] == a {
		t.Fatal("a hinted record went into the hash table")
	}
	for _, c := range []struct {
		id   job.ID
		want uint32
	}{{ida, a}, {idb, b}} {
		id := c.id
		if got := st.lookup(&id); got != c.want {
			t.Fatalf("hint lookup = %d; want %d", got, c.want)
		}
	}
	// A forged hint naming another live record: not that record.
	forged := ida
	forged.SetHint(b)
	if got := st.lookup(&forged); got != 0 {
		t.Fatalf("lookup of an ID whose hint names another record = %d; want 0", got)
	}
	// Hints out of range, or 0.
	for _, h := range []uint32{0, st.next, st.next + 1000, 1<<32 - 1} {
		id := ida
		id.SetHint(h)
		if got := st.lookup(&id); got != 0 {
			t.Fatalf("lookup with hint %d = %d; want 0", h, got)
		}
	}
	// The old ID of a freed and reused record is unknown.
	st.get(a).State = job.Free
	st.release(a)
	if got := st.lookup(&ida); got != 0 {
		t.Fatalf("lookup of a freed record's ID = %d; want 0", got)
	}
	c, idc := mk()
	if c != a {
		t.Fatalf("record not reused")
	}
	if got := st.lookup(&ida); got != 0 {
		t.Fatalf("lookup of the previous job's ID after reuse = %d; want 0", got)
	}
	if got := st.lookup(&idc); got != c {
		t.Fatalf("lookup of the new job = %d; want %d", got, c)
	}
	// A copy from elsewhere whose hint happens to name a live record still
	// goes through the table.
	i, j := st.alloc()
	other := makeID(rng, 3)
	other.SetHint(b)
	j.ID = other
	j.State = job.Queued
	st.index(i)
	if got := st.lookup(&other); got != i {
		t.Fatalf("lookup of a foreign ID with a colliding hint = %d; want %d", got, i)
	}
	st.remove(i)
	if got := st.lookup(&other); got != 0 {
		t.Fatalf("after remove: %d", got)
	}
	st.remove(b) // hinted: not in the table, a no-op
	if got := st.lookup(&idb); got != b {
		t.Fatal("remove of a hinted record broke its lookup")
	}
}

// TestStoreBackwardShiftWrap pins backward-shift deletion on a wrapping
// cluster: entries homed at the last slots spill to the start of the table;
// deleting the head of the cluster must pull the right ones back across the
// table end, and leave an entry homed after the hole in place.
func TestStoreBackwardShiftWrap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var st store
	tb := &st.tabs[0]
	tb.slots = make([]uint32, 16)
	tb.mask = 15
	put := func(home uint64) (uint32, job.ID) {
		id := makeID(rng, uint16(15-home)) // Hash&15 == home
		id[6] = 0                          // all in table 0
		i, j := st.alloc()
		j.ID = id
		j.State = job.Queued
		st.insert(i)
		if got := id.Hash() & 15; got != home {
			t.Fatalf("made ID with home %d; want %d", got, home)
		}
		return i, id
	}
	a, ida := put(14) // slot 14
	b, idb := put(14) // slot 15
	c, idc := put(15) // slot 0 (wraps)
	d, idd := put(1)  // slot 1: its own home
	e, ide := put(14) // slot 2 (wraps), homed at 14
	want := map[int]uint32{14: a, 15: b, 0: c, 1: d, 2: e}
	for p, i := range want {
		if tb.slots[p] != i {
			t.Fatalf("before removal: slot %d holds %d; want %d (table %v)", p, tb.slots[p], i, tb.slots)
		}
	}
	st.remove(a)
	// b moves 15 -> 14, c moves 0 -> 15, d stays (home 1), e moves 2 -> 0.
	want = map[int]uint32{14: b, 15: c, 0: e, 1: d, 2: 0}
	for p, i := range want {
		if tb.slots[p] != i {
			t.Fatalf("after removal: slot %d holds %d; want %d (table %v)", p, tb.slots[p], i, tb.slots)
		}
	}
	for _, c := range []struct {
		id   job.ID
		want uint32
	}{{ida, 0}, {idb, b}, {idc, c}, {idd, d}, {ide, e}} {
		id := c.id
		if got := st.lookup(&id); got != c.want {
			t.Fatalf("lookup = %d; want %d", got, c.want)
		}
	}
	// Removing an entry that is not indexed is a no-op.
	st.remove(a)
	if tb.slots[14] != b {
		t.Fatalf("removing an unindexed record changed the table: %v", tb.slots)
	}
}

// TestStoreAllocReuse: released records are reused LIFO, cleared, with a
// QVer that keeps increasing across lives (stale queue entries stay stale).
func TestStoreAllocReuse(t *testing.T) {
	var st store
	i1, j1 := st.alloc()
	if i1 == 0 {
		t.Fatal("alloc returned record 0 (reserved for none)")
	}
	i2, _ := st.alloc()
	if i2 == i1 {
		t.Fatal("two live records share an index")
	}
	j1.QVer += 5 // queue pushes and pops during its life
	j1.Body, j1.BodyLen, j1.Nacks, j1.TSlot = 99, 3, 7, 12
	qv := j1.QVer
	j1.State = job.Free
	st.release(i1)
	i3, j3 := st.alloc()
	if i3 != i1 {
		t.Fatalf("alloc after release = %d; want the released %d", i3, i1)
	}
	if j3.QVer <= qv {
		t.Fatalf("QVer after reuse = %d; want > %d", j3.QVer, qv)
	}
	if j3.Body != 0 || j3.BodyLen != 0 || j3.Nacks != 0 || j3.TSlot != 0 || j3.State != job.Free {
		t.Fatalf("reused record not cleared: %+v", *j3)
	}
	// LIFO among several released records; QVer grows on every reuse.
	var idx []uint32
	vers := map[uint32]uint32{}
	for k := 0; k < 5; k++ {
		i, j := st.alloc()
		idx = append(idx, i)
		vers[i] = j.QVer
	}
	for _, i := range idx {
		st.release(i)
	}
	for k := len(idx) - 1; k >= 0; k-- {
		i, j := st.alloc()
		if i != idx[k] {
			t.Fatalf("reuse order: got %d; want %d", i, idx[k])
		}
		if j.QVer <= vers[i] {
			t.Fatalf("record %d QVer %d after reuse; want > %d", i, j.QVer, vers[i])
		}
	}
	// Crossing a page boundary allocates a new page and keeps earlier
	// records addressable.
	first, fj := st.alloc()
	fj.Nacks = 42
	for k := 0; k < pageSize+10; k++ {
		st.alloc()
	}
	if len(st.pages) < 2 {
		t.Fatalf("pages = %d after %d records; want >= 2", len(st.pages), st.n)
	}
	if st.get(first).Nacks != 42 {
		t.Fatal("record moved when the slab grew")
	}
}

// TestStoreEach: every live record once, in index order, resumable at the
// returned position.
func TestStoreEach(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var st store
	live := map[uint32]bool{}
	var all []uint32
	for k := 0; k < 300; k++ {
		i, j := st.alloc()
		j.State = job.Queued
		live[i] = true
		all = append(all, i)
	}
	for _, i := range all {
		if rng.IntN(3) == 0 {
			st.get(i).State = job.Free
			st.release(i)
			delete(live, i)
		}
	}
	// One full pass.
	var seen []uint32
	if next := st.each(0, func(i uint32, j *job.Job) bool {
		if j != st.get(i) {
			t.Fatalf("each passed the wrong record for %d", i)
		}
		seen = append(seen, i)
		return true
	}); next != 0 {
		t.Fatalf("full pass returned %d; want 0", next)
	}
	checkSeen := func(seen []uint32) {
		t.Helper()
		if len(seen) != len(live) {
			t.Fatalf("each visited %d records; want %d", len(seen), len(live))
		}
		for k, i := range seen {
			if !live[i] {
				t.Fatalf("each visited free record %d", i)
			}
			if k > 0 && seen[k-1] >= i {
				t.Fatalf("each not in index order: %d after %d", i, seen[k-1])
			}
		}
	}
	checkSeen(seen)
	// Stop every 7 records and resume at the returned position.
	seen = seen[:0]
	pos, calls := uint32(0), 0
	for {
		n := 0
		pos = st.each(pos, func(i uint32, _ *job.Job) bool {
			seen = append(seen, i)
			n++
			return n < 7
		})
		calls++
		if pos == 0 {
			break
		}
		if calls > 1000 {
			t.Fatal("each never finished")
		}
	}
	checkSeen(seen)
	if calls < len(live)/7 {
		t.Fatalf("resumed pass took %d calls; want about %d", calls, len(live)/7)
	}
	// An empty store visits nothing.
	var empty store
	if next := empty.each(0, func(uint32, *job.Job) bool { t.Fatal("visited"); return true }); next != 0 {
		t.Fatalf("empty each = %d", next)
	}
}

// TestStoreGrowKeepsEntries: growth from the default size rehashes every
// entry.
func TestStoreGrowKeepsEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var st store
	ids := map[job.ID]uint32{}
	for k := 0; k < 5000; k++ {
		id := makeID(rng, uint16(rng.Uint32()))
		id[6] = byte(rng.Uint32()) // every table of the index
		i, j := st.alloc()
		j.ID = id
		j.State = job.Queued
		st.insert(i)
		ids[id] = i
	}
	n := 0
	for ti := range st.tabs {
		tb := &st.tabs[ti]
		if tb.n > 0 && len(tb.slots) < tb.n*4/3 {
			t.Fatalf("table %d: %d slots for %d entries: load above 3/4", ti, len(tb.slots), tb.n)
		}
		n += tb.n
	}
	if n != 5000 {
		t.Fatalf("index holds %d entries; want 5000", n)
	}
	for id, i := range ids {
		id := id
		if got := st.lookup(&id); got != i {
			t.Fatalf("lookup after growth = %d; want %d", got, i)
		}
	}
}
