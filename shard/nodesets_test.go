package shard

import (
	"slices"
	"testing"

	"disq/replicate"
)

func nid(b byte) replicate.NodeID {
	var id replicate.NodeID
	id[0], id[19] = b, b
	return id
}

// TestNodeSetsIntern: a set's index does not depend on order or
// duplicates, the input is left alone, index 0 stays "this node only",
// and interning a known set allocates nothing.
func TestNodeSetsIntern(t *testing.T) {
	var ns nodeSets
	a, b, c := nid(3), nid(1), nid(2)
	in := []replicate.NodeID{a, b, c}
	orig := slices.Clone(in)
	i := ns.intern(in)
	if i == 0 {
		t.Fatal("a new set got index 0")
	}
	if !slices.Equal(in, orig) {
		t.Fatalf("intern modified its input: %v", in)
	}
	for _, perm := range [][]replicate.NodeID{{c, b, a}, {b, a, c, a}, {a, a, b, c, c}} {
		if got := ns.intern(perm); got != i {
			t.Fatalf("intern(%v) = %d, want %d", perm, got, i)
		}
	}
	if got := ns.sets[i]; !slices.Equal(got, []replicate.NodeID{b, c, a}) {
		t.Fatalf("stored set %v not sorted/deduplicated", got)
	}
	j := ns.intern([]replicate.NodeID{a, b})
	if j == i || j == 0 {
		t.Fatalf("a different set got index %d (first %d)", j, i)
	}
	if got := ns.intern([]replicate.NodeID{b, a}); got != j {
		t.Fatalf("intern(b, a) = %d, want %d", got, j)
	}
	if n := testing.AllocsPerRun(100, func() { ns.intern(in) }); n != 0 {
		t.Fatalf("interning a known set allocates %.1f times", n)
	}
}
