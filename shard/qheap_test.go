package shard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQHeapModel checks the segmented heap against a sorted slice through
// random runs of pushes, pops, removals and resets that cross the first
// segment's doubling and several segment boundaries both ways, and checks
// smallest and largest against the model.
func TestQHeapModel(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		var h qheap
		var model []hentry // kept sorted
		next := uint32(1)
		cmp := func(a, b hentry) int {
			switch {
			case hless(&a, &b):
				return -1
			case hless(&b, &a):
				return 1
			}
			return 0
		}
		check := func(op string) {
			t.Helper()
			if h.len() != len(model) {
				t.Fatalf("seed %d after %s: len %d, model %d", seed, op, h.len(), len(model))
			}
			for i := 1; i < h.len(); i++ {
				if hless(h.at(i), h.at((i-1)/2)) {
					t.Fatalf("seed %d after %s: entry %d below its parent", seed, op, i)
				}
			}
			segs := (h.n + qhMask) >> qhShift
			if len(h.segs) != segs && !(h.n == 0 && len(h.segs) <= 1) {
				t.Fatalf("seed %d after %s: %d segments for %d entries", seed, op, len(h.segs), h.n)
			}
			if len(model) > 0 && *h.top() != model[0] {
				t.Fatalf("seed %d after %s: top %v, model %v", seed, op, *h.top(), model[0])
			}
			// Every third entry counts as live for the ordered reads.
			keep := func(e *hentry) bool { return e.idx%3 != 0 }
			var live []uint32
			for _, e := range model {
				if e.idx%3 != 0 {
					live = append(live, e.idx)
				}
			}
			k := 1 + rng.IntN(len(live)+3)
			want := live[:min(k, len(live))]
			if got := h.smallest(nil, k, keep); !slices.Equal(got, want) {
				t.Fatalf("seed %d after %s: smallest(%d): %s", seed, op, k, firstDiff(got, want))
			}
			rev := slices.Clone(live)
			slices.Reverse(rev)
			if got := h.largest(nil, k, keep); !slices.Equal(got, rev[:min(k, len(rev))]) {
				t.Fatalf("seed %d after %s: largest(%d): %s", seed, op, k, firstDiff(got, rev[:min(k, len(rev))]))
			}
		}
		for round := 0; round < 30; round++ {
			switch r := rng.IntN(10); {
			case r < 4: // pushes, in random key order with ties broken by ID
				for n := rng.IntN(3 * qhSeg); n > 0; n-- {
					e := hentry{ct: uint64(rng.IntN(5000)), idx: next}
					e.id[0], e.id[1] = byte(next>>8), byte(next)
					next++
					h.push(e)
					i, _ := slices.BinarySearchFunc(model, e, cmp)
					model = slices.Insert(model, i, e)
				}
				check("push")
			case r < 7: // pops
				for n := min(len(model), rng.IntN(2*qhSeg)); n > 0; n-- {
					if e := h.pop(); e != model[0] {
						t.Fatalf("seed %d: pop %v, model %v", seed, e, model[0])
					}
					model = model[1:]
				}
				check("pop")
			case r < 9: // removals from anywhere (a compaction dropping stale entries)
				for n := rng.IntN(min(h.len(), 400) + 1); n > 0; n-- {
					i := rng.IntN(h.len())
					e := *h.at(i)
					h.removeAt(i)
					model = slices.DeleteFunc(model, func(x hentry) bool { return x == e })
				}
				check("removeAt")
			default:
				h.reset(1024)
				model = model[:0]
				check("reset")
				if len(h.segs) > 1 || len(h.segs) == 1 && cap(h.segs[0]) > 1024 {
					t.Fatalf("seed %d: reset kept %d segments", seed, len(h.segs))
				}
			}
		}
	}
}

// TestQHeapNeverCopies: growing the heap past many segments never moves
// the entries already stored (the first segment's address stays), and
// draining it frees the segments, one kept as a spare.
func TestQHeapNeverCopies(t *testing.T) {
	var h qheap
	for i := 0; i < qhSeg; i++ {
		h.push(hentry{ct: uint64(i), idx: uint32(i)})
	}
	first := &h.segs[0][0]
	for i := qhSeg; i < 20*qhSeg; i++ {
		h.push(hentry{ct: uint64(i), idx: uint32(i)})
	}
	if &h.segs[0][0] != first {
		t.Fatal("the first segment moved while the heap grew")
	}
	for i := 0; i < 19*qhSeg; i++ {
		if e := h.pop(); e.ct != uint64(i) {
			t.Fatalf("pop %d, want %d", e.ct, i)
		}
	}
	if len(h.segs) != 1 || h.spare == nil || cap(h.spare) != qhSeg {
		t.Fatalf("after draining: %d segments, spare %v", len(h.segs), h.spare != nil)
	}
}

// firstDiff describes where got and want part.
func firstDiff(got, want []uint32) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("entry %d is %d, want %d", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d entries, want %d", len(got), len(want))
}

// TestQHeapReadsDoNotScanRecords: QPEEK-style reads ask keep (which reads
// a job record) only of the entries they may return, not of the whole
// heap: best-first from the head, and only for entries making the cut
// from the tail.
func TestQHeapReadsDoNotScanRecords(t *testing.T) {
	const n = 5 * qhSeg
	var h qheap
	rng := rand.New(rand.NewPCG(7, 8))
	for _, ct := range rng.Perm(n) {
		h.push(hentry{ct: uint64(ct), idx: uint32(ct)})
	}
	calls := 0
	keep := func(e *hentry) bool { calls++; return true }
	if got := h.smallest(nil, 10, keep); len(got) != 10 || got[0] != 0 || got[9] != 9 {
		t.Fatalf("smallest(10) = %v", got)
	}
	if calls != 10 {
		t.Fatalf("smallest(10) asked keep %d times; want 10", calls)
	}
	calls = 0
	if got := h.largest(nil, 10, keep); len(got) != 10 || got[0] != n-1 || got[9] != n-10 {
		t.Fatalf("largest(10) = %v", got)
	}
	if calls > n/8 { // 278 with this seed; reading every record would be n
		t.Fatalf("largest(10) asked keep %d times for %d entries", calls, n)
	}
}
