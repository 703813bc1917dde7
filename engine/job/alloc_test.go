//go:build !race

package job

import "testing"

// The allocation guards run without the race detector, which allocates on
// its own (make alloc runs them: go test -run Allocs).

// TestApplyAllocs: the lifecycle of a job, errors included, allocates
// nothing.
func TestApplyAllocs(t *testing.T) {
	base := mk(Free, 10, 0, 0, 0)
	checkApplyCycle(t, base)
	var sink Effect
	allocs := testing.AllocsPerRun(1000, func() {
		j := base
		now := n
		for _, e := range applyCycle {
			eff, _ := j.Apply(e, now)
			sink |= eff
			now += 100
		}
		// Refusals return sentinel errors: no allocation either.
		eff, _ := j.Apply(Event{Kind: EvAck}, now)
		sink |= eff
		_ = j.Awake() + j.NextRequeue(now)
	})
	if allocs != 0 {
		t.Errorf("Apply cycle: got %v allocs per run; want 0", allocs)
	}
	_ = sink
}

func TestIDAllocs(t *testing.T) {
	text := []byte(specIDText)
	buf := make([]byte, 0, IDLen)
	rnd := [18]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	node := [4]byte{0xdc, 0xb8, 0x33, 0xcf}
	var id ID
	var ok bool
	var sum uint64
	f := func(name string, fn func()) {
		t.Helper()
		if allocs := testing.AllocsPerRun(1000, fn); allocs != 0 {
			t.Errorf("%s: got %v allocs per run; want 0", name, allocs)
		}
	}
	f("ParseID", func() { id, ok = ParseID(text) })
	f("AppendText into a pre-sized buffer", func() { buf = id.AppendText(buf[:0]) })
	f("MakeID", func() { id = MakeID(node, 1234, &rnd, 86400, 300) })
	f("ValidID, SlotOfText, TTLFieldOfText", func() {
		if ValidID(text) {
			sum += uint64(SlotOfText(text)) + uint64(TTLFieldOfText(text))
		}
	})
	f("Slot, TTLField, Hash", func() { sum += uint64(id.Slot()) + uint64(id.TTLField()) + id.Hash() })
	if !ok || len(buf) != IDLen || sum == 0 {
		t.Fatalf("bad test: ok %v, len %d, sum %d", ok, len(buf), sum)
	}
}
