package tenant

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// bucket is a lock-free token bucket in GCRA form (the "generic cell rate
// algorithm", a.k.a. virtual scheduling): its whole state is one int64, the
// theoretical arrival time tat (nanoseconds on the Registry's clock). With a
// rate of r units/s, one unit costs T = 1e9/r ns and a bucket of capacity c
// units holds tau = c·T ns of credit. At time now the bucket holds
// (now + tau - max(tat, now)) / T units, at most c.
//
// take admits a request of cost units when the bucket holds at least
// min(cost, c) units, and then moves tat by cost·T: a request larger than
// the bucket is admitted once the bucket is full and leaves it in debt, so a
// byte rate never refuses a body larger than one second's worth forever, and
// the long-run rate is exact. The state is updated by CompareAndSwap, so
// concurrent callers never admit more than the bucket holds.
//
// The rate and capacity are not part of the state: callers pass them from
// the tenant's current Limits. retune rescales tat when they change so that
// the debt or credit carries over in units, not in time.
type bucket struct {
	tat atomic.Int64
	_   [56]byte // own cache line: buckets of one tenant are hit by every loop
}

// nsFor returns units·1e9/rate (the time units take at rate units/s),
// saturating at maxSpan.
func nsFor(units, rate int64) int64 {
	if units <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(units), 1e9)
	if hi >= uint64(rate) {
		return maxSpan
	}
	q, _ := bits.Div64(hi, lo, uint64(rate))
	if q > uint64(maxSpan) {
		return maxSpan
	}
	return int64(q)
}

// unitsIn returns ns·rate/1e9 (the units earned in ns at rate), saturating.
func unitsIn(ns, rate int64) int64 {
	if ns <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(ns), uint64(rate))
	if hi >= 1e9 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 1e9)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// maxSpan bounds every span added to a clock value (~36 years), so tat never
// overflows.
const maxSpan = math.MaxInt64 / 8

// take tries to take cost units from a bucket of the given rate (> 0) and
// capacity (>= 0). It returns 0 when admitted, else the wait in ns after
// which the same request would be admitted.
func (b *bucket) take(now, cost, rate, capacity int64) int64 {
	inc := nsFor(cost, rate)
	tau := nsFor(capacity, rate)
	need := nsFor(min(cost, capacity), rate)
	for {
		tat := b.tat.Load()
		base := max(tat, now)
		if w := base - now + need - tau; w > 0 {
			return w
		}
		if b.tat.CompareAndSwap(tat, base+inc) {
			return 0
		}
	}
}

// grant takes between 1 and want units, as many as the bucket holds. It
// returns the units taken, or 0 and the wait in ns until one unit is there.
func (b *bucket) grant(now, want, rate, capacity int64) (int64, int64) {
	tau := nsFor(capacity, rate)
	one := nsFor(1, rate)
	for {
		tat := b.tat.Load()
		base := max(tat, now)
		credit := now + tau - base // ns of credit held
		if credit < one {
			return 0, max(one-credit, 1)
		}
		g := min(want, unitsIn(credit, rate))
		if g < 1 {
			g = 1
		}
		if b.tat.CompareAndSwap(tat, base+nsFor(g, rate)) {
			return g, 0
		}
	}
}

// refund gives back cost units taken by take or grant at rate.
func (b *bucket) refund(cost, rate int64) {
	if rate > 0 {
		b.tat.Add(-nsFor(cost, rate))
	}
}

// retune carries the bucket's debt over a change of rate: the units owed at
// the old rate are owed at the new one. A bucket that was unlimited (or 0)
// starts full.
func (b *bucket) retune(now, oldRate, newRate int64) {
	if oldRate == newRate {
		return
	}
	for {
		tat := b.tat.Load()
		var n int64
		if oldRate > 0 && newRate > 0 && tat > now {
			n = now + nsFor(unitsIn(tat-now, oldRate), newRate)
		} else {
			n = min(tat, now)
		}
		if b.tat.CompareAndSwap(tat, n) {
			return
		}
	}
}
