package shard

import (
	"math/rand/v2"
	"testing"
)

// TestStackModel checks a stack against a slice through random bursts of
// pushes and pops that cross chunk boundaries in both directions.
func TestStackModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		var s stack[uint64]
		var model []uint64
		next := uint64(1)
		for round := 0; round < 60; round++ {
			if rng.IntN(2) == 0 {
				for n := rng.IntN(3 * stackChunk); n > 0; n-- {
					s.push(next)
					model = append(model, next)
					next++
				}
			} else {
				for n := rng.IntN(3 * stackChunk); n > 0; n-- {
					v, ok := s.pop()
					if len(model) == 0 {
						if ok {
							t.Fatalf("seed %d: pop from an empty stack gave %d", seed, v)
						}
						break
					}
					want := model[len(model)-1]
					model = model[:len(model)-1]
					if !ok || v != want {
						t.Fatalf("seed %d: pop = %d, %v; want %d", seed, v, ok, want)
					}
				}
			}
			if s.len() != len(model) {
				t.Fatalf("seed %d: len %d, model %d", seed, s.len(), len(model))
			}
			for i, c := range s.chunks {
				if i < len(s.chunks)-1 && len(c) != stackChunk {
					t.Fatalf("seed %d: chunk %d of %d holds %d entries", seed, i, len(s.chunks), len(c))
				}
			}
			held := cap(s.spare)
			for _, c := range s.chunks {
				held += cap(c)
			}
			if got := s.capBytes(8); got != int64(held)*8 || held < len(model) {
				t.Fatalf("seed %d: capBytes %d; chunks and spare hold %d entries for %d", seed, got, held, len(model))
			}
		}
	}
}

// TestStackReleasesChunks: popping everything keeps at most the first chunk
// and one spare.
func TestStackReleasesChunks(t *testing.T) {
	var s stack[uint32]
	for i := 0; i < 10*stackChunk; i++ {
		s.push(uint32(i))
	}
	for i := 10*stackChunk - 1; i >= 0; i-- {
		if v, ok := s.pop(); !ok || v != uint32(i) {
			t.Fatalf("pop = %d, %v; want %d", v, ok, i)
		}
	}
	if _, ok := s.pop(); ok {
		t.Fatal("pop from an empty stack succeeded")
	}
	if len(s.chunks) != 1 || s.capBytes(4) > 3*stackChunk*4 {
		t.Fatalf("after draining: %d chunks, %d bytes held", len(s.chunks), s.capBytes(4))
	}
}
