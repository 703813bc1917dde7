package job

import (
	"bytes"
	"testing"
)

// FuzzParseID: ParseID, SlotOfText and TTLFieldOfText never panic; what
// ParseID accepts is a valid-looking ID that AppendText writes back byte for
// byte, and whose slot and TTL field the lenient text readers agree on.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		specIDText,
		"D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-0000",
		"D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-0000",
		"D-ffffffff-////////////////////////-ffff",
		"D-DCB833CF-8YL1NT17e9+wsA/09NqxscQI-05A1",
		"D-XXXXXXXX-!!!!!!!!!!!!!!!!!!!!!!!!-ZZZZ",
		"D-dcb833cf-8YL1NT17e9-wsA/09NqxscQI-05a1",
		"D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a",
		"",
		"D-",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParseID(t, b)
		// Random bytes seldom pass ValidID: also try them laid over the
		// ID skeleton (D- at 0, dashes at 10 and 35), so that every input
		// exercises the paths of a valid-looking ID.
		c := []byte(specIDText)
		copy(c[2:], b)
		c[0], c[1], c[10], c[35] = 'D', '-', '-', '-'
		checkParseID(t, c)
	})
}

func checkParseID(t *testing.T, b []byte) {
	orig := bytes.Clone(b)
	id, ok := ParseID(b)
	valid := ValidID(b)
	if !bytes.Equal(b, orig) {
		t.Fatalf("ParseID modified its input: %q -> %q", orig, b)
	}
	if !ok {
		if valid {
			// Still routable: the lenient readers must not panic.
			_ = SlotOfText(b)
			_ = TTLFieldOfText(b)
		}
		return
	}
	if !valid {
		t.Fatalf("ParseID(%q) succeeded on an ID that fails ValidID", b)
	}
	if text := id.AppendText(nil); !bytes.Equal(text, b) {
		t.Fatalf("AppendText(ParseID(%q)) = %q", b, text)
	}
	if got, want := SlotOfText(b), id.Slot(); got != want {
		t.Fatalf("SlotOfText(%q) = %d; want Slot() = %d", b, got, want)
	}
	if got, want := TTLFieldOfText(b), id.TTLField(); got != want {
		t.Fatalf("TTLFieldOfText(%q) = %#x; want TTLField() = %#x", b, got, want)
	}
	if id.Slot() > 4095 {
		t.Fatalf("Slot() = %d: more than 12 bits", id.Slot())
	}
}

// FuzzMakeID: any ID MakeID builds survives AppendText -> ParseID, passes
// ValidID, and carries the slot, the node prefix and a TTL field whose
// parity says whether RETRY > 0.
func FuzzMakeID(f *testing.F) {
	f.Add(uint32(0xdcb833cf), uint16(3864), []byte("0123456789abcdefgh"), int64(86400), int64(300))
	f.Add(uint32(0), uint16(0), []byte{}, int64(5), int64(0))
	f.Add(uint32(0xffffffff), uint16(4095), bytes.Repeat([]byte{0xff}, 18), int64(1<<40), int64(1))
	f.Add(uint32(1), uint16(0xffff), []byte{0xff, 0xff}, int64(-60), int64(-1))
	f.Fuzz(func(t *testing.T, node uint32, slot uint16, rndIn []byte, ttl, retry int64) {
		slot &= 4095
		var rnd [18]byte
		copy(rnd[:], rndIn)
		nodeB := [4]byte{byte(node >> 24), byte(node >> 16), byte(node >> 8), byte(node)}
		id := MakeID(nodeB, slot, &rnd, ttl, retry)

		text := id.AppendText(nil)
		if len(text) != IDLen || !ValidID(text) {
			t.Fatalf("AppendText = %q: not a valid %d-byte ID", text, IDLen)
		}
		back, ok := ParseID(text)
		if !ok || back != id {
			t.Fatalf("ParseID(%q) = %x, %v; want %x, true", text, back[:], ok, id[:])
		}
		if id.Slot() != slot || SlotOfText(text) != slot {
			t.Fatalf("%s: Slot() = %d, SlotOfText = %d; want %d", text, id.Slot(), SlotOfText(text), slot)
		}
		if id.NodePrefix() != nodeB {
			t.Fatalf("%s: NodePrefix() = %x; want %x", text, id.NodePrefix(), nodeB)
		}
		field := id.TTLField()
		if field != TTLFieldOf(ttl, retry) || TTLFieldOfText(text) != field {
			t.Fatalf("%s: TTL field %#x, text %#x; want %#x", text, field, TTLFieldOfText(text), TTLFieldOf(ttl, retry))
		}
		if atLeastOnce := field&1 == 1; atLeastOnce != (retry > 0) {
			t.Fatalf("%s: TTL field %#x odd = %v with retry %d", text, field, atLeastOnce, retry)
		}
		// floor(ttl/60) capped to [0, 65535], lowest bit aside.
		m := min(max(ttl/60, 0), 65535)
		if field>>1 != uint16(m)>>1 {
			t.Fatalf("%s: TTL field %#x for ttl %d; want minutes %d up to parity", text, field, ttl, m)
		}
		if id[5]&15 != rnd[1]&15 || !bytes.Equal(id[6:22], rnd[2:]) {
			t.Fatalf("%s: random bits outside the slot not kept", text)
		}
	})
}
