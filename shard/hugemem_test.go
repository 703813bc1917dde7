package shard

import (
	"syscall"
	"testing"
	"unsafe"
)

// resident reports, per 4 KiB page of b, whether it is in memory
// (mincore(2)). b must start on a page boundary.
func resident(t *testing.T, b []byte) []bool {
	t.Helper()
	const page = 4096
	n := (len(b) + page - 1) / page
	vec := make([]byte, n)
	_, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		t.Fatalf("mincore: %v", e)
	}
	out := make([]bool, n)
	for i, v := range vec {
		out[i] = v&1 != 0
	}
	return out
}

func countResident(t *testing.T, b []byte) int {
	n := 0
	for _, r := range resident(t, b) {
		if r {
			n++
		}
	}
	return n * 4096
}

// allocUntouched hands out step-byte blocks until used reaches total,
// waiting for each populate so the outcome does not depend on timing. The
// blocks are never written: whatever is resident was prefaulted.
func allocUntouched(h *hugeMem, total int64, step int) {
	for h.used < total {
		h.alloc(step)
		h.busy.Wait()
	}
}

// TestHugeMemPrefault: a growing shard finds the pages ahead of its next
// allocation resident, a small one has nothing prefaulted, and what is
// resident but unused stays bounded.
func TestHugeMemPrefault(t *testing.T) {
	var h hugeMem
	defer h.release()

	allocUntouched(&h, prefaultMin-64<<10, 64<<10)
	seg := h.segs[0]
	if got := countResident(t, seg); got != 0 || h.faulted != 0 {
		t.Fatalf("below prefaultMin (%d bytes used): %d bytes resident, faulted %d; want none", h.used, got, h.faulted)
	}

	allocUntouched(&h, 40<<20, 64<<10)
	if h.noPopulate {
		t.Skip("MADV_POPULATE_WRITE not supported by this kernel")
	}
	ahead := min(int(h.used/8), prefaultAhead)
	if h.faulted < h.off+ahead {
		t.Fatalf("populated up to %d, want at least off %d + %d", h.faulted, h.off, ahead)
	}
	// Pages from the next allocation on, up to the window, are resident.
	from := h.off &^ 4095
	for i, r := range resident(t, seg[from:h.off+ahead]) {
		if !r {
			t.Fatalf("page at %d (next allocation at %d, window %d) not resident", from+i*4096, h.off, ahead)
		}
	}
	// Resident beyond what was handed out: at most the window plus one step
	// (and a huge page of rounding).
	if extra := countResident(t, seg[from:]); extra > prefaultAhead+prefaultStep+hugePage {
		t.Fatalf("%d bytes resident past the next allocation, want at most %d", extra, prefaultAhead+prefaultStep+hugePage)
	}
}

// TestHugeMemSpareSegment: near the end of a segment the next one is
// mapped and its start prefaulted, and the switch uses it instead of
// mapping another.
func TestHugeMemSpareSegment(t *testing.T) {
	var h hugeMem
	defer h.release()
	allocUntouched(&h, hugeSeg-1<<20, 64<<10)
	if h.noPopulate {
		t.Skip("MADV_POPULATE_WRITE not supported by this kernel")
	}
	if h.spare == nil {
		t.Fatalf("1 MiB before the end of the segment: no spare segment mapped")
	}
	if h.spareFaulted == 0 || countResident(t, h.spare[:h.spareFaulted]) < h.spareFaulted/2 {
		t.Fatalf("spare segment: faulted %d, resident %d", h.spareFaulted, countResident(t, h.spare[:h.spareFaulted]))
	}
	spare := unsafe.SliceData(h.spare)
	if h.mapped != 2*hugeSeg {
		t.Fatalf("mapped %d, want %d", h.mapped, 2*hugeSeg)
	}
	allocUntouched(&h, hugeSeg+4<<20, 64<<10)
	if len(h.segs) != 2 || unsafe.SliceData(h.segs[1]) != spare {
		t.Fatalf("the second segment is not the spare one")
	}
	if h.spare != nil || h.mapped != 2*hugeSeg {
		t.Fatalf("after the switch: spare %v, mapped %d; want none and %d", h.spare != nil, h.mapped, 2*hugeSeg)
	}
	// Blocks handed out across the switch are distinct and zeroed.
	b := h.alloc(64)
	if unsafe.SliceData(b) != unsafe.SliceData(h.segs[1][h.off-64:]) {
		t.Fatalf("allocation not from the current segment")
	}
	for _, c := range b {
		if c != 0 {
			t.Fatalf("prefaulted memory not zero")
		}
	}
}

// TestHugeMemReleaseWaits: release waits for a populate in flight and
// starts over.
func TestHugeMemReleaseWaits(t *testing.T) {
	var h hugeMem
	for i := 0; i < 3; i++ {
		for h.used < prefaultMin+8<<20 {
			h.alloc(64 << 10) // populates run while this goes on
		}
		h.release()
		if h.running.Load() || h.segs != nil || h.spare != nil || h.used != 0 || h.mapped != 0 || h.faulted != 0 {
			t.Fatalf("after release: %+v", h.segs)
		}
	}
}
