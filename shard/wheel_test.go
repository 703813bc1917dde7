package shard

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Differential test of the timing wheel against a dumb model: a map from
// record index to its due time, where advance(to) means "fire everything due
// <= to, in due order".
//
// Bounds asserted (see wheel.go):
//   - a record scheduled at `at` with at <= now is due at now+1;
//   - it never fires before its due time (the wheel's internal time when fire
//     is called, w.now, is >= due);
//   - it fires at most 1 ms late: w.now <= due+1. Level-0 placements fire
//     exactly at due; a record that cascades down at the very start of its
//     block (due == block start) is rescheduled at block start + 1;
//   - after advance(to) returns with fewer than max firings, everything due
//     before `to` has fired and w.now == to (a record due exactly at `to` may
//     still be pending, by the cascade rule above);
//   - the max bound may be exceeded only by the rest of the level-0 slot
//     being fired (all firings after the max-th happen in the same ms);
//   - next() is never later than the earliest pending due time, except that
//     a record due exactly now (cascade case) is reported at now+1;
//   - every schedule fires exactly once unless superseded by a later
//     schedule or unlink of the same record.

type wheelModel struct {
	t   *testing.T
	rng *rand.Rand
	st  store
	w   wheel

	recs []uint32
	due  map[uint32]int64 // what the due callback returns: the last scheduled time
	eff  map[uint32]int64 // pending firings: due time after the at<=now clamp

	// advance in progress
	to        int64
	max       int
	fired     int
	lastT     int64
	tAtMax    int64
	noResched bool
}

func newWheelModel(t *testing.T, seed uint64, nrec int) *wheelModel {
	m := &wheelModel{
		t:   t,
		rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		due: map[uint32]int64{},
		eff: map[uint32]int64{},
	}
	m.w.st = &m.st
	m.w.now = int64(testT0) + m.rng.Int64N(1<<30)
	if seed%2 == 1 {
		m.w.cascMax = 1 + m.rng.IntN(4) // cascades spread over several calls
	}
	for k := 0; k < nrec; k++ {
		i, _ := m.st.alloc()
		m.recs = append(m.recs, i)
	}
	return m
}

func (m *wheelModel) dueOf(i uint32) int64 {
	d, ok := m.due[i]
	if !ok {
		m.t.Fatalf("due(%d) asked for a record that is not scheduled", i)
	}
	return d
}

func (m *wheelModel) sched(i uint32, at int64) {
	m.w.schedule(i, at)
	m.due[i] = at
	e := at
	if e <= m.w.now {
		e = m.w.now + 1
	}
	m.eff[i] = e
}

func (m *wheelModel) unlink(i uint32) {
	m.w.unlink(i)
	delete(m.due, i)
	delete(m.eff, i)
}

// delta draws a scheduling offset from now: the past, every level of the
// wheel, beyond its span, and exact block boundaries.
func (m *wheelModel) delta() int64 {
	r := m.rng
	switch p := r.IntN(100); {
	case p < 8:
		return -r.Int64N(100) // past or now: due at now+1
	case p < 35:
		return 1 + r.Int64N(63) // level 0
	case p < 50:
		return 64 + r.Int64N(4096-64) // level 1
	case p < 60:
		return 4096 + r.Int64N(1<<18-4096) // level 2
	case p < 70:
		return r.Int64N(1 << 24) // up to 4.6 hours
	case p < 78:
		return r.Int64N(1 << 36) // up to 2.2 years
	case p < 83:
		return r.Int64N(1 << 41) // up to ~70 years
	case p < 84:
		return wheelSpan + r.Int64N(wheelSpan) // beyond the wheel's span
	default: // around a block boundary of some level
		l := r.IntN(wheelLevels)
		shift := uint(6 * l)
		at := ((m.w.now>>shift)+1+r.Int64N(64))<<shift + r.Int64N(3) - 1
		return at - m.w.now
	}
}

func (m *wheelModel) fire(i uint32) {
	t := m.w.now
	e, ok := m.eff[i]
	if !ok {
		m.t.Fatalf("record %d fired at %d but is not scheduled (double firing, or fired after unlink)", i, t)
	}
	if t < e {
		m.t.Fatalf("record %d fired at %d, %d ms before its due time %d", i, t, e-t, e)
	}
	if t > e+1 {
		m.t.Fatalf("record %d fired at %d, %d ms after its due time %d (bound: 1 ms)", i, t, t-e, e)
	}
	if t < m.lastT {
		m.t.Fatalf("record %d fired at %d after a firing at %d: not in due order", i, t, m.lastT)
	}
	if t > m.to {
		m.t.Fatalf("record %d fired at %d, after advance's target %d", i, t, m.to)
	}
	m.lastT = t
	delete(m.eff, i)
	delete(m.due, i)
	m.fired++
	if m.fired == m.max {
		m.tAtMax = t
	} else if m.fired > m.max && t != m.tAtMax {
		m.t.Fatalf("firing #%d (max %d) at %d: the bound may only be exceeded within the ms %d", m.fired, m.max, t, m.tAtMax)
	}
	if m.noResched {
		return
	}
	// Re-schedule the fired record from inside fire (the shard does this on
	// every requeue and early timer).
	if m.rng.IntN(4) == 0 {
		m.sched(i, t+m.delta())
	}
	// Re-schedule or unlink another record, as serving a blocked client from
	// inside fire does. Records sharing this firing ms may already be
	// detached for firing; the main test leaves them alone (they are
	// covered by TestWheelRescheduleOtherInsideFire).
	if m.rng.IntN(8) == 0 {
		o := m.recs[m.rng.IntN(len(m.recs))]
		if oe, pending := m.eff[o]; o != i && (!pending || oe > t) {
			if m.rng.IntN(2) == 0 {
				m.unlink(o)
			} else {
				m.sched(o, t+m.delta())
			}
		}
	}
}

func (m *wheelModel) advance(to int64, max int) {
	before := m.w.now
	m.to, m.max, m.fired, m.lastT = to, max, 0, before
	n := m.w.advance(to, max, m.dueOf, m.fire)
	if n != m.fired {
		m.t.Fatalf("advance(%d, %d) returned %d; fire was called %d times", to, max, n, m.fired)
	}
	if n < max && !m.w.casc {
		want := before
		if to > want {
			want = to
		}
		if m.w.now != want {
			m.t.Fatalf("advance(%d) from %d with %d < max firings left now at %d; want %d", to, before, n, m.w.now, want)
		}
		for i, e := range m.eff {
			if e < to {
				m.t.Fatalf("after advance(%d): record %d due at %d has not fired", to, i, e)
			}
		}
	}
	m.check()
}

// check compares the wheel's bookkeeping with the model.
func (m *wheelModel) check() {
	if m.w.n != len(m.eff) {
		m.t.Fatalf("wheel holds %d records; model %d", m.w.n, len(m.eff))
	}
	minEff := int64(math.MaxInt64)
	for _, i := range m.recs {
		e, pending := m.eff[i]
		slot := m.st.get(i).TSlot
		if pending != (slot != 0) {
			m.t.Fatalf("record %d: pending %v but TSlot %d", i, pending, slot)
		}
		if pending {
			if e < m.w.now {
				m.t.Fatalf("record %d due at %d is overdue at wheel time %d", i, e, m.w.now)
			}
			minEff = min(minEff, e)
		}
	}
	nx := m.w.next()
	if len(m.eff) == 0 {
		if nx != math.MaxInt64 {
			m.t.Fatalf("empty wheel: next() = %d; want MaxInt64", nx)
		}
		return
	}
	if m.w.casc {
		if nx != m.w.now {
			m.t.Fatalf("next() = %d with a cascade to resume at now %d", nx, m.w.now)
		}
	} else if nx <= m.w.now {
		m.t.Fatalf("next() = %d; not after now %d", nx, m.w.now)
	}
	if limit := max(minEff, m.w.now+1); nx > limit {
		m.t.Fatalf("next() = %d is later than the earliest due item (%d, now %d)", nx, minEff, m.w.now)
	}
}

func (m *wheelModel) run(ops int) {
	r := m.rng
	for k := 0; k < ops; k++ {
		i := m.recs[r.IntN(len(m.recs))]
		switch p := r.IntN(100); {
		case p < 45: // schedule or reschedule
			m.sched(i, m.w.now+m.delta())
			m.check()
		case p < 55:
			m.unlink(i)
			m.check()
		default:
			to := m.w.now
			switch q := r.IntN(10); {
			case q < 4:
				to += r.Int64N(64)
			case q < 7:
				to += r.Int64N(1 << 13)
			case q < 9:
				to += m.delta() // anything, including far jumps and the past
			default:
				to += r.Int64N(1 << 42) // a huge jump
			}
			max := 1 << 30
			if r.IntN(3) == 0 {
				max = 1 + r.IntN(5)
			}
			m.advance(to, max)
		}
	}
	// Drain: every pending record fires exactly once.
	m.noResched = true
	end := m.w.now + 4*wheelSpan
	m.advance(end, 1<<30)
	for k := 0; m.w.casc && k < 1<<20; k++ {
		m.advance(end, 1<<30)
	}
	if len(m.eff) != 0 {
		m.t.Fatalf("after draining, %d records never fired", len(m.eff))
	}
}

func TestWheelDifferential(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 5
	}
	for seed := 0; seed < seeds; seed++ {
		nrec := 8 + seed*7
		m := newWheelModel(t, uint64(seed), nrec)
		m.run(2500)
	}
}

// TestWheelRescheduleOtherInsideFire: records due in the same millisecond are
// detached together before the first of them fires; if that firing
// re-schedules or unlinks one of the others (the shard does: a requeue serves
// a blocked client, which delivers the queue head and re-arms its timer), the
// other must not fire now.
func TestWheelRescheduleOtherInsideFire(t *testing.T) {
	f := func(name string, act func(w *wheel, other uint32) (wantFire bool)) {
		t.Helper()
		var st store
		w := wheel{st: &st, now: 1000}
		a, _ := st.alloc()
		b, _ := st.alloc()
		due := map[uint32]int64{a: 1010, b: 1010}
		w.schedule(a, 1010)
		w.schedule(b, 1010)
		firedAt := map[uint32][]int64{}
		first := uint32(0)
		var wantOther bool
		fire := func(i uint32) {
			firedAt[i] = append(firedAt[i], w.now)
			if first == 0 {
				first = i
				other := a + b - i
				wantOther = act(&w, other)
				if wantOther {
					due[other] = 1500
				}
			}
		}
		w.advance(2000, 1<<30, func(i uint32) int64 { return due[i] }, fire)
		other := a + b - first
		if got := firedAt[first]; len(got) != 1 || got[0] != 1010 {
			t.Errorf("%s: first record fired at %v; want [1010]", name, got)
		}
		want := []int64(nil)
		if wantOther {
			want = []int64{1500}
		}
		if got := firedAt[other]; len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) {
			t.Errorf("%s: the other record fired at %v; want %v", name, got, want)
		}
	}
	f("reschedule", func(w *wheel, other uint32) bool { w.schedule(other, 1500); return true })
	f("unlink", func(w *wheel, other uint32) bool { w.unlink(other); return false })
}

// TestWheelMaxBound: advance fires the earliest records first and stops after
// max firings (finishing the current ms).
func TestWheelMaxBound(t *testing.T) {
	var st store
	w := wheel{st: &st, now: 0}
	due := map[uint32]int64{}
	var order []int64
	// 100 distinct due times, scheduled in reverse order; multiples of 64
	// are skipped so that no record is due at a level-1 block start (those
	// fire 1 ms late, see TestWheelCascadeBoundary).
	var dues []int64
	for d := int64(1); len(dues) < 100; d++ {
		if d%64 != 0 {
			dues = append(dues, d)
		}
	}
	for k := len(dues) - 1; k >= 0; k-- {
		i, _ := st.alloc()
		due[i] = dues[k]
		w.schedule(i, dues[k])
	}
	for k := 0; k < 5; k++ {
		i, _ := st.alloc()
		due[i] = 500 // five records sharing one ms
		w.schedule(i, 500)
	}
	dueOf := func(i uint32) int64 { return due[i] }
	fire := func(i uint32) { order = append(order, due[i]) }
	for round := 0; round < 10; round++ {
		order = order[:0]
		if n := w.advance(1000, 10, dueOf, fire); n != 10 {
			t.Fatalf("round %d: fired %d; want 10", round, n)
		}
		for k, d := range order {
			if want := dues[round*10+k]; d != want {
				t.Fatalf("round %d: firing %d was due at %d; want %d", round, k, d, want)
			}
		}
		if w.now != dues[round*10+9] {
			t.Fatalf("round %d: wheel time %d; want %d (stopped at the last firing)", round, w.now, dues[round*10+9])
		}
	}
	order = order[:0]
	if n := w.advance(1000, 2, dueOf, fire); n != 5 || len(order) != 5 {
		t.Fatalf("same-ms slot with max 2: fired %d; want the whole slot (5)", n)
	}
	if w.n != 0 || w.next() != math.MaxInt64 {
		t.Fatalf("wheel not empty: n %d next %d", w.n, w.next())
	}
}

// TestWheelCascadeBoundary pins the 1 ms lateness of the cascade rule and the
// exactness of everything else.
func TestWheelCascadeBoundary(t *testing.T) {
	f := func(now, at, wantFire int64) {
		t.Helper()
		var st store
		w := wheel{st: &st, now: now}
		i, _ := st.alloc()
		var firedAt []int64
		w.schedule(i, at)
		w.advance(max(at, now)+10, 1<<30, func(uint32) int64 { return at }, func(uint32) { firedAt = append(firedAt, w.now) })
		if len(firedAt) != 1 || firedAt[0] != wantFire {
			t.Fatalf("now %d, at %d: fired at %v; want [%d]", now, at, firedAt, wantFire)
		}
	}
	f(0, 5, 5)             // level 0: exact
	f(0, 63, 63)           // last level-0 ms
	f(0, 64, 65)           // level 1, due at its block start: +1
	f(0, 65, 65)           // level 1, inside its block: exact
	f(10, 64, 64)          // level 0 across a level-1 boundary: exact
	f(0, 4096, 4097)       // level 2 block start: +1
	f(0, 4096+64, 4096+65) // cascades twice, lands on a level-1 block start: +1
	f(0, 4096+70, 4096+70) // exact
	f(100, 100, 101)       // due now: next ms
	f(100, -5, 101)        // in the past: next ms
	f(0, 1<<36, 1<<36+1)   // level 6 block start
	f(0, 1<<36+12345, 1<<36+12345)
	f(7, wheelSpan+99, wheelSpan+99) // beyond the span: clamped, re-placed on cascade
}

// TestWheelCascadeBudget: a high-level slot holding more records than the
// cascade budget is moved down over several advance calls; nothing due in
// the block fires before the slot is empty, and everything fires in due
// order, each within 1 ms of its due time.
func TestWheelCascadeBudget(t *testing.T) {
	var st store
	w := wheel{st: &st, now: 0, cascMax: 10}
	due := map[uint32]int64{}
	// 95 records in the level-2 slot of [4096, 8192), due times spread over
	// the block, scheduled in random order.
	rng := rand.New(rand.NewPCG(4, 4))
	for _, k := range rng.Perm(95) {
		i, _ := st.alloc()
		due[i] = 4096 + int64(k)*43 + 1
		w.schedule(i, due[i])
	}
	dueOf := func(i uint32) int64 { return due[i] }
	var firedAt, wantAt []int64
	fire := func(i uint32) {
		if d := w.now - due[i]; d < 0 || d > 1 {
			t.Fatalf("record due at %d fired at %d", due[i], w.now)
		}
		firedAt = append(firedAt, w.now)
		wantAt = append(wantAt, due[i])
	}
	calls := 0
	for w.n > 0 && calls < 100 {
		calls++
		w.advance(9000, 1<<30, dueOf, fire)
		if w.occ[2] != 0 && len(firedAt) > 0 {
			t.Fatalf("call %d: a firing happened before the level-2 slot was moved down", calls)
		}
	}
	if len(firedAt) != 95 {
		t.Fatalf("fired %d of 95 in %d calls", len(firedAt), calls)
	}
	if calls < 10 {
		t.Fatalf("95 records with a budget of 10 cascaded in %d calls", calls)
	}
	for k := 1; k < len(wantAt); k++ {
		if wantAt[k] < wantAt[k-1] {
			t.Fatalf("firing %d due at %d after one due at %d", k, wantAt[k], wantAt[k-1])
		}
	}
}
