package shard

import (
	"math"
	"math/bits"
)

// wheel is the shard's job scheduler (Disque's "awakeme" list): every job
// with a pending action (requeue, end of DELAY, expiry) sits in exactly one
// slot of a hierarchical timing wheel with 1 ms resolution.
//
//	level:      0      1        2        3       4        5        6
//	slot width: 1 ms   64 ms    4.1 s    4.4 min 4.7 h    12.4 d   2.2 y   (64 slots each)
//
// A job due at time t with d = t-now lands on the lowest level whose span
// covers d, in slot (t >> 6·level) & 63. When time enters a level-L block the
// jobs of that slot cascade down (their due time is recomputed from the
// record with job.Awake), and level-0 slots fire. Slots are intrusive
// doubly-linked lists threaded through the records (TNext/TPrev/TSlot), so
// scheduling, rescheduling and cancelling are O(1) and cost no memory beyond
// the record; a 64-bit occupancy mask per level finds the next event without
// walking empty slots. Only the shard goroutine touches a wheel.
type wheel struct {
	st    *store
	now   int64 // all jobs due at or before now have fired
	heads [wheelLevels][64]uint32
	occ   [wheelLevels]uint64
	n     int
	tmp   []uint32

	// A cascade moves at most cascMax records (0: cascadeMax) per advance
	// call. Time entering a high-level block used to move that slot's
	// records down all at once: 3 million jobs sharing a TTL window stalled
	// the shard for 240 ms (BENCHMARKS.md). When the budget runs out with
	// the slot not empty, casc is set and time stays at the block start:
	// the next call resumes the cascade before anything due then fires, so
	// firings stay in due order, only later by the calls it took.
	cascMax int
	casc    bool
}

const cascadeMax = 1 << 15

// slotFiring marks a record taken out of its slot to fire: rescheduling or
// unlinking it from inside another record's fire callback cancels the
// pending firing.
const slotFiring = 0xFFFF

const (
	wheelLevels = 7
	wheelSpan   = int64(1) << (6 * wheelLevels) // farthest schedulable delta, ms
)

// schedule (re)places record i to fire at time at (ms). Times not after now
// fire at the next advance.
func (w *wheel) schedule(i uint32, at int64) {
	j := w.st.get(i)
	if j.TSlot != 0 {
		w.unlink(i)
	}
	if at <= w.now {
		at = w.now + 1
	}
	d := at - w.now
	if d >= wheelSpan {
		at = w.now + wheelSpan - 1
		d = wheelSpan - 1
	}
	l := 0
	for d >= int64(1)<<(6*(l+1)) {
		l++
	}
	s := (at >> (6 * l)) & 63
	h := w.heads[l][s]
	j.TNext, j.TPrev = h, 0
	if h != 0 {
		w.st.get(h).TPrev = i
	}
	w.heads[l][s] = i
	w.occ[l] |= 1 << s
	j.TSlot = uint16(l*64) + uint16(s) + 1
	w.n++
}

// unlink removes record i from the wheel if it is scheduled.
func (w *wheel) unlink(i uint32) {
	j := w.st.get(i)
	if j.TSlot == 0 {
		return
	}
	if j.TSlot == slotFiring {
		j.TSlot = 0 // taken out already (and not counted in n)
		return
	}
	l, s := int(j.TSlot-1)/64, int(j.TSlot-1)%64
	if j.TPrev != 0 {
		w.st.get(j.TPrev).TNext = j.TNext
	} else {
		w.heads[l][s] = j.TNext
		if j.TNext == 0 {
			w.occ[l] &^= 1 << s
		}
	}
	if j.TNext != 0 {
		w.st.get(j.TNext).TPrev = j.TPrev
	}
	j.TSlot, j.TNext, j.TPrev = 0, 0, 0
	w.n--
}

// next returns the earliest time at which advance has work (a cascade or a
// firing), or math.MaxInt64 when the wheel is empty.
func (w *wheel) next() int64 {
	if w.casc {
		return w.now // a cascade to resume
	}
	best := int64(math.MaxInt64)
	for l := 0; l < wheelLevels; l++ {
		if w.occ[l] == 0 {
			continue
		}
		shift := uint(6 * l)
		cur := (w.now >> shift) & 63
		r := bits.RotateLeft64(w.occ[l], -int(cur+1)) // bit 0 is slot cur+1
		d := int64(bits.TrailingZeros64(r)) + 1
		if t := ((w.now >> shift) + d) << shift; t < best {
			best = t
		}
	}
	return best
}

// take detaches up to limit records of slot (l, s) into w.tmp (limit < 0:
// all of them).
func (w *wheel) take(l int, s int64, limit int) []uint32 {
	w.tmp = w.tmp[:0]
	i := w.heads[l][s]
	for i != 0 && limit != 0 {
		j := w.st.get(i)
		next := j.TNext
		j.TSlot, j.TNext, j.TPrev = slotFiring, 0, 0
		w.n--
		w.tmp = append(w.tmp, i)
		i = next
		limit--
	}
	w.heads[l][s] = i
	if i != 0 {
		w.st.get(i).TPrev = 0
	} else {
		w.occ[l] &^= 1 << s
	}
	return w.tmp
}

// advance moves time to `to`, calling fire for every record due by then, in
// due-time order across slots. due(i) returns a record's current due time
// (used when cascading). fire may schedule records again; max bounds the
// number of firings (the rest wait for the next call); advance returns the
// number fired.
func (w *wheel) advance(to int64, max int, due func(i uint32) int64, fire func(i uint32)) int {
	budget := w.cascMax
	if budget <= 0 {
		budget = cascadeMax
	}
	fired := 0
	for w.n > 0 && fired < max {
		t := w.next() // now while a cascade is to be resumed
		if t > to {
			break
		}
		w.now, w.casc = t, false
		for l := wheelLevels - 1; l >= 1; l-- {
			shift := uint(6 * l)
			if t&(int64(1)<<shift-1) != 0 {
				continue
			}
			s := (t >> shift) & 63
			if w.occ[l]&(1<<s) == 0 {
				continue
			}
			moved := w.take(l, s, budget)
			budget -= len(moved)
			for _, i := range moved {
				w.st.get(i).TSlot = 0
				w.schedule(i, due(i)) // due now or earlier lands on now+1
			}
			if w.occ[l]&(1<<s) != 0 {
				w.casc = true // out of budget: the rest on the next call
				return fired
			}
		}
		s := t & 63
		if w.occ[0]&(1<<s) != 0 {
			for _, i := range w.take(0, s, -1) {
				j := w.st.get(i)
				if j.TSlot != slotFiring {
					continue // rescheduled or cancelled by an earlier firing
				}
				j.TSlot = 0
				fire(i)
				fired++
			}
		}
	}
	if fired < max && to > w.now {
		w.now = to
	}
	return fired
}
