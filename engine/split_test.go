package engine

import (
	"testing"

	"disq/engine/job"
	"disq/shard"
)

// TestSplitByShard: GOTJOBS IDs of one shard stay whole; mixed ones are
// split by shard, in order, none lost.
func TestSplitByShard(t *testing.T) {
	const n = 4
	idIn := func(slot uint16, k byte) [24]byte {
		var id [24]byte
		id[4], id[5] = byte(slot>>4), byte(slot&0xf)<<4
		id[10] = k
		return id
	}
	// Find slots of different shards.
	var slots []uint16
	seen := map[int]bool{}
	for s := uint16(0); len(slots) < n && s < 4096; s++ {
		if i := shard.Of(s, n); !seen[i] {
			seen[i] = true
			slots = append(slots, s)
		}
	}
	if len(slots) < 2 {
		t.Fatal("could not find slots of two shards")
	}
	one := [][24]byte{idIn(slots[0], 1), idIn(slots[0], 2), idIn(slots[0], 3)}
	first, per := splitByShard(one, n)
	if per != nil || first != shard.Of(slots[0], n) {
		t.Fatalf("one shard's IDs: first %d, per %v", first, per)
	}
	mixed := [][24]byte{idIn(slots[0], 1), idIn(slots[0], 2), idIn(slots[1], 3), idIn(slots[0], 4), idIn(slots[1], 5)}
	_, per = splitByShard(mixed, n)
	if per == nil {
		t.Fatal("mixed IDs were not split")
	}
	total := 0
	for i, ids := range per {
		last := byte(0)
		for _, id := range ids {
			jid := job.ID(id)
			if shard.Of(jid.Slot(), n) != i || id[10] <= last {
				t.Fatalf("shard %d got %v (wrong shard or order)", i, ids)
			}
			last = id[10]
			total++
		}
	}
	if total != len(mixed) || len(per[shard.Of(slots[0], n)]) != 3 || len(per[shard.Of(slots[1], n)]) != 2 {
		t.Fatalf("split %v", per)
	}
}
