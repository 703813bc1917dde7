package shard

import (
	"math/rand/v2"
	"slices"
	"testing"

	"disq/engine/job"
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
	// The last-set fast path must respect duplicates and lengths.
	for _, tc := range []struct {
		in   []replicate.NodeID
		want uint32
	}{
		{[]replicate.NodeID{a, a, b}, j},
		{[]replicate.NodeID{a, b, c}, i}, // same length as the last input, another set
		{[]replicate.NodeID{a, b, b}, j},
		{[]replicate.NodeID{b, b, b}, 0}, // {b}: new
		{[]replicate.NodeID{c, a, b}, i},
	} {
		got := ns.intern(tc.in)
		if tc.want == 0 {
			if got == i || got == j || got == 0 {
				t.Fatalf("intern(%v) = %d: want a new index", tc.in, got)
			}
			continue
		}
		if got != tc.want {
			t.Fatalf("intern(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ns.intern(in) }); n != 0 {
		t.Fatalf("interning a known set allocates %.1f times", n)
	}
}

// TestTaskHeap: tasks pushed in random order, with pops in between, come
// out by time, none lost; pushing into a heap with room allocates nothing.
func TestTaskHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Shard
	var want []job.Millis
	var got []job.Millis
	for round := 0; round < 50; round++ {
		for k := rng.IntN(40); k > 0; k-- {
			at := job.Millis(rng.IntN(1000))
			s.addTask(task{at: at, idx: uint32(k)})
			want = append(want, at)
		}
		last := job.Millis(-1)
		for k := rng.IntN(30); k > 0 && len(s.tasks) > 0; k-- {
			if s.nextTask() != s.tasks[0].at {
				t.Fatal("nextTask is not the head")
			}
			tk := s.popTask()
			if tk.at < last {
				t.Fatalf("popped %d after %d", tk.at, last)
			}
			last = tk.at
			got = append(got, tk.at)
		}
	}
	last := job.Millis(-1)
	for len(s.tasks) > 0 {
		tk := s.popTask()
		if tk.at < last {
			t.Fatalf("popped %d after %d", tk.at, last)
		}
		last = tk.at
		got = append(got, tk.at)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("popped %d tasks, pushed %d (or different times)", len(got), len(want))
	}
	s.tasks = make(taskHeap, 0, 16)
	if n := testing.AllocsPerRun(100, func() {
		s.addTask(task{at: 5})
		s.popTask()
	}); n != 0 {
		t.Fatalf("push+pop allocates %v times", n)
	}
}

// TestPickReachable: n distinct reachable nodes, none excluded, every
// reachable node picked sometimes.
func TestPickReachable(t *testing.T) {
	var s Shard
	s.rng = rand.New(rand.NewPCG(3, 4))
	s.view = &replicate.View{Reachable: []replicate.NodeID{nid(1), nid(2), nid(3), nid(4), nid(5)}}
	seen := map[replicate.NodeID]int{}
	for k := 0; k < 500; k++ {
		got := s.pickReachable(2, []replicate.NodeID{nid(3)})
		if len(got) != 2 || got[0] == got[1] || got[0] == nid(3) || got[1] == nid(3) {
			t.Fatalf("picked %v", got)
		}
		for _, id := range got {
			seen[id]++
		}
	}
	if len(seen) != 4 {
		t.Fatalf("picked %d distinct nodes over 500 calls; want the 4 not excluded", len(seen))
	}
	if got := s.pickReachable(9, nil); len(got) != 5 {
		t.Fatalf("asked for 9 of 5: got %d", len(got))
	}
}
