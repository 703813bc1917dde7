package shard

import (
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestSlotGolden pins the slot function: changing it would make every job ID
// already issued route to the wrong shard.
func TestSlotGolden(t *testing.T) {
	f := func(tenant, queue string, want uint16) {
		t.Helper()
		if got := Slot(tenant, []byte(queue)); got != want {
			t.Fatalf("Slot(%q, %q) = %d; want %d", tenant, queue, got, want)
		}
		// The definition, spelled out: plain Sum64 of tenant, NUL, queue.
		if ref := uint16(xxhash.Sum64String(tenant+"\x00"+queue) & 4095); ref != want {
			t.Fatalf("reference slot of (%q, %q) = %d; want %d", tenant, queue, ref, want)
		}
	}
	f("default", "q", 242)
	f("default", "", 3408)
	f("default", "myqueue", 1771)
	f("acme", "q", 2744)
	f("default", "\x00\xff binary", 2208)
}

func TestSlotDistribution(t *testing.T) {
	const n = 100000
	counts := make([]int, 4)
	for i := 0; i < n; i++ {
		q := []byte("queue:" + itoa(i))
		counts[Of(Slot("default", q), 4)]++
	}
	for s, c := range counts {
		if c < n/4*9/10 || c > n/4*11/10 {
			t.Fatalf("shard %d got %d of %d queues; want about %d", s, c, n, n/4)
		}
	}
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	return string(b[p:])
}
