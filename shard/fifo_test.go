package shard

import (
	"math/rand/v2"
	"testing"
)

// fifoModel checks a fifo against a slice through random runs of pushes,
// pops and resets that cross the small ring's
// limit and several segment boundaries in both directions.
func TestFifoModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var f fifo
		var model []qentry
		next := uint32(1)
		check := func(op string) {
			t.Helper()
			if f.len() != len(model) {
				t.Fatalf("seed %d after %s: len %d, model %d", seed, op, f.len(), len(model))
			}
			if f.capacity() < f.len() {
				t.Fatalf("seed %d after %s: capacity %d < len %d", seed, op, f.capacity(), f.len())
			}
			for k := range model {
				if got := f.at(k); got != model[k] {
					t.Fatalf("seed %d after %s: at(%d) = %v, model %v", seed, op, k, got, model[k])
				}
			}
		}
		for round := 0; round < 40; round++ {
			switch r := rng.IntN(10); {
			case r < 5: // a burst of pushes, up to a few segments
				for n := rng.IntN(3 * fifoSeg); n > 0; n-- {
					e := qentry{next, next * 3}
					next++
					f.pushBack(e)
					model = append(model, e)
				}
				check("push")
			case r < 9: // a burst of pops
				for n := min(len(model), rng.IntN(2*fifoSeg)); n > 0; n-- {
					if f.front() != model[0] {
						t.Fatalf("seed %d: front %v, model %v", seed, f.front(), model[0])
					}
					f.popFront()
					model = model[1:]
				}
				check("pop")
			default:
				f.reset(1024)
				model = model[:0]
				check("reset")
				if f.segs != nil || f.capacity() > 1024 {
					t.Fatalf("seed %d: reset kept capacity %d", seed, f.capacity())
				}
			}
		}
	}
}

// TestFifoDrainFreesSegments: popping releases the segments the head has
// passed, keeping one spare.
func TestFifoDrainFreesSegments(t *testing.T) {
	var f fifo
	for i := 0; i < 10*fifoSeg; i++ {
		f.pushBack(qentry{uint32(i), 0})
	}
	if f.nseg != 10 {
		t.Fatalf("%d segments for %d entries", f.nseg, 10*fifoSeg)
	}
	for i := 0; i < 9*fifoSeg; i++ {
		f.popFront()
	}
	if f.nseg != 1 || f.spare == nil {
		t.Fatalf("after draining 9 segments: %d in use, spare %v", f.nseg, f.spare != nil)
	}
	live := 0
	for _, s := range f.segs {
		if s != nil {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d segments still referenced; want 1", live)
	}
	if e := f.front(); e.idx != uint32(9*fifoSeg) {
		t.Fatalf("front %d; want %d", e.idx, 9*fifoSeg)
	}
}
