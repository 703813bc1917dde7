package job

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// specIDText is the example of semantics.md section 2 and commands.md 2.1.
const specIDText = "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1"

func TestValidID(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := ValidID([]byte(s)); got != want {
			t.Errorf("ValidID(%q) = %v; want %v", s, got, want)
		}
	}
	f(specIDText, true)
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-0000", true)
	// Only the length and the four fixed bytes are checked (commands 1.3):
	// anything goes elsewhere.
	f("D-XXXXXXXX-!!!!!!!!!!!!!!!!!!!!!!!!-ZZZZ", true)
	f("D-"+strings.Repeat("\x00", 8)+"-"+strings.Repeat("=", 24)+"-\xff\xff\xff\xff", true)
	f("D---------------------------------------", true)
	f("", false)
	f(specIDText[:39], false)
	f(specIDText+"0", false)
	f("d"+specIDText[1:], false)
	f("X"+specIDText[1:], false)
	f("D_"+specIDText[2:], false)
	f(specIDText[:10]+"_"+specIDText[11:], false)
	f(specIDText[:35]+"_"+specIDText[36:], false)
	// Dashes one position off.
	f("D-dcb833c-f8YL1NT17e9+wsA/09NqxscQI-05a1", false)
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQ-I05a1", false)
	if ValidID(nil) {
		t.Errorf("ValidID(nil) = true; want false")
	}
}

func TestParseIDSpecExample(t *testing.T) {
	id, ok := ParseID([]byte(specIDText))
	if !ok {
		t.Fatalf("ParseID(%q) failed", specIDText)
	}
	if got, want := id.NodePrefix(), [4]byte{0xdc, 0xb8, 0x33, 0xcf}; got != want {
		t.Errorf("NodePrefix = %x; want %x", got, want)
	}
	if got := id.TTLField(); got != 0x05a1 {
		t.Errorf("TTLField = %#04x; want 0x05a1", got)
	}
	// '8' is 60 and 'Y' 24 in the base64 alphabet: slot 60<<6 | 24.
	if got := id.Slot(); got != 60<<6|24 {
		t.Errorf("Slot = %d; want %d", got, 60<<6|24)
	}
	if got := SlotOfText([]byte(specIDText)); got != id.Slot() {
		t.Errorf("SlotOfText = %d; want %d", got, id.Slot())
	}
	if got := id.String(); got != specIDText {
		t.Errorf("String = %q; want %q", got, specIDText)
	}
	if got := string(id.AppendText([]byte("id:"))); got != "id:"+specIDText {
		t.Errorf("AppendText(\"id:\") = %q; want %q", got, "id:"+specIDText)
	}
}

// TestParseIDStrict changes every byte of a valid ID to every possible value
// and checks that ParseID accepts exactly what this package writes: 'D' and
// the three dashes, lowercase hex for the node prefix and the TTL field, the
// standard base64 alphabet for the random part.
func TestParseIDStrict(t *testing.T) {
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
	isB64 := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
	}
	allowed := func(pos int, c byte) bool {
		switch {
		case pos == 0:
			return c == 'D'
		case pos == 1 || pos == 10 || pos == 35:
			return c == '-'
		case pos >= 2 && pos <= 9 || pos >= 36:
			return isHex(c)
		default:
			return isB64(c)
		}
	}
	b := []byte(specIDText)
	for pos := 0; pos < IDLen; pos++ {
		orig := b[pos]
		for c := 0; c < 256; c++ {
			b[pos] = byte(c)
			id, ok := ParseID(b)
			if want := allowed(pos, byte(c)); ok != want {
				t.Errorf("ParseID with byte %d = %q: ok = %v; want %v", pos, rune(c), ok, want)
			} else if ok && !bytes.Equal(id.AppendText(nil), b) {
				t.Errorf("ParseID(%q) round trip gave %q", b, id.AppendText(nil))
			}
		}
		b[pos] = orig
	}
	f := func(s, why string) {
		t.Helper()
		if _, ok := ParseID([]byte(s)); ok {
			t.Errorf("ParseID(%q) succeeded; want a failure (%s)", s, why)
		}
	}
	f("D-DCB833CF-8YL1NT17e9+wsA/09NqxscQI-05a1", "uppercase node prefix")
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05A1", "uppercase TTL field")
	f("D-dcb833cg-8YL1NT17e9+wsA/09NqxscQI-05a1", "non-hex node prefix")
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05ag", "non-hex TTL field")
	f("D-dcb833cf-8YL1NT17e9-wsA/09NqxscQI-05a1", "URL-safe base64 '-'")
	f("D-dcb833cf-8YL1NT17e9_wsA/09NqxscQI-05a1", "URL-safe base64 '_'")
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQ=-05a1", "base64 padding")
	f("D-dcb833cf-8YL1NT17e9 wsA/09NqxscQI-05a1", "space")
	f("D_dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1", "wrong dash at 1")
	f("D-dcb833cf_8YL1NT17e9+wsA/09NqxscQI-05a1", "wrong dash at 10")
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI_05a1", "wrong dash at 35")
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a", "39 bytes")
	f("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a10", "41 bytes")
}

func TestIDRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 0, IDLen)
	for i := 0; i < 20_000; i++ {
		var id ID
		for k := range id {
			id[k] = byte(rng.Uint32())
		}
		if i == 0 {
			id = ID{}
		} else if i == 1 {
			for k := range id {
				id[k] = 0xff
			}
		}
		text := id.AppendText(buf[:0])
		if len(text) != IDLen || !ValidID(text) {
			t.Fatalf("AppendText(%x) = %q: not a valid 40-byte ID", id[:], text)
		}
		// encoding/base64 and encoding/hex as an independent oracle.
		if want := "D-" + hex.EncodeToString(id[0:4]) + "-" + base64.StdEncoding.EncodeToString(id[4:22]) + "-" + hex.EncodeToString(id[22:24]); string(text) != want {
			t.Fatalf("AppendText(%x) = %s; want %s", id[:], text, want)
		}
		back, ok := ParseID(text)
		if !ok || back != id {
			t.Fatalf("ParseID(AppendText(%x)) = %x, %v; want %x, true", id[:], back[:], ok, id[:])
		}
		if SlotOfText(text) != id.Slot() {
			t.Fatalf("%s: SlotOfText = %d; want Slot() = %d", text, SlotOfText(text), id.Slot())
		}
		if TTLFieldOfText(text) != id.TTLField() {
			t.Fatalf("%s: TTLFieldOfText = %#x; want TTLField() = %#x", text, TTLFieldOfText(text), id.TTLField())
		}
		if id.String() != string(text) {
			t.Fatalf("String() = %q; want %q", id.String(), text)
		}
		if got, want := id.Hash(), binary.BigEndian.Uint64(id[6:14]); got != want {
			t.Fatalf("Hash() = %#x; want %#x", got, want)
		}
	}
}

// TestSlots checks, for every one of the 4096 slots, that MakeID stores it
// where Slot and SlotOfText read it, whatever the random bits around it, and
// that the randomness outside the slot is kept.
func TestSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var zeros, ones, random [18]byte
	for i := range ones {
		ones[i] = 0xff
	}
	node := [4]byte{0xdc, 0xb8, 0x33, 0xcf}
	seen := map[uint16]bool{}
	for slot := uint16(0); slot < 4096; slot++ {
		for k := range random {
			random[k] = byte(rng.Uint32())
		}
		for _, rnd := range []*[18]byte{&zeros, &ones, &random} {
			id := MakeID(node, slot, rnd, 86400, 300)
			text := id.AppendText(nil)
			if got := id.Slot(); got != slot {
				t.Fatalf("MakeID(slot %d, rnd %x).Slot() = %d; want %d", slot, rnd[:2], got, slot)
			}
			if got := SlotOfText(text); got != slot {
				t.Fatalf("SlotOfText(%s) = %d; want %d", text, got, slot)
			}
			parsed, ok := ParseID(text)
			if !ok || parsed.Slot() != slot {
				t.Fatalf("ParseID(%s).Slot() = %d, %v; want %d, true", text, parsed.Slot(), ok, slot)
			}
			if id[5]&15 != rnd[1]&15 || !bytes.Equal(id[6:22], rnd[2:]) {
				t.Fatalf("MakeID(slot %d): random bits outside the slot not kept: %x; rnd %x", slot, id[4:22], rnd[:])
			}
			if id.NodePrefix() != node || id.TTLField() != 0x05a1 {
				t.Fatalf("MakeID(slot %d): prefix %x, TTL field %#x; want %x, 0x05a1", slot, id.NodePrefix(), id.TTLField(), node)
			}
			// The hash does not depend on the slot.
			if other := MakeID(node, slot^0xfff, rnd, 86400, 300); other.Hash() != id.Hash() {
				t.Fatalf("Hash depends on the slot: %#x vs %#x", other.Hash(), id.Hash())
			}
		}
		// The slot is the first two characters of the random part.
		seen[uint16(b64val[b64[slot>>6]])<<6|uint16(b64val[b64[slot&63]])] = true
	}
	if len(seen) != 4096 {
		t.Errorf("distinct slots: got %d; want 4096", len(seen))
	}
}

func TestSlotOfTextLenient(t *testing.T) {
	f := func(s string, want uint16) {
		t.Helper()
		if !ValidID([]byte(s)) {
			t.Fatalf("bad test: %q is not valid", s)
		}
		if got := SlotOfText([]byte(s)); got != want {
			t.Errorf("SlotOfText(%q) = %d; want %d", s, got, want)
		}
	}
	f(specIDText, 60<<6|24)
	f("D-dcb833cf-AAL1NT17e9+wsA/09NqxscQI-05a1", 0)
	f("D-dcb833cf-//L1NT17e9+wsA/09NqxscQI-05a1", 4095)
	// Bytes outside the alphabet count as 0.
	f("D-dcb833cf-!YL1NT17e9+wsA/09NqxscQI-05a1", 24)
	f("D-dcb833cf-8-L1NT17e9+wsA/09NqxscQI-05a1", 60<<6)
	f("D-dcb833cf-\xff\x00L1NT17e9+wsA/09NqxscQI-05a1", 0)
	f("D-XXXXXXXX-!!!!!!!!!!!!!!!!!!!!!!!!-ZZZZ", 0)
}

func TestTTLFieldOf(t *testing.T) {
	f := func(ttl, retry int64, want uint16) {
		t.Helper()
		if got := TTLFieldOf(ttl, retry); got != want {
			t.Errorf("TTLFieldOf(ttl %d, retry %d) = %#04x; want %#04x", ttl, retry, got, want)
		}
	}
	// The examples of semantics.md section 2.
	f(86400, 300, 0x05a1)
	f(5, 1, 0x0001)
	f(5, 0, 0x0000)
	f(3600, 0, 0x003c)
	// Parity: odd for at-least-once, even for at-most-once.
	f(86400, 0, 0x05a0)
	f(3600, 1, 0x003d)
	f(3660, 0, 0x003c) // 61 minutes, forced even
	f(3660, 7, 0x003d)
	f(59, 0, 0)
	f(60, 0, 0)
	f(119, 1, 1)
	f(120, 0, 2)
	f(120, 1, 3)
	// Capped at 65535 minutes, then the parity rule.
	f(65535*60, 1, 0xffff)
	f(65535*60, 0, 0xfffe)
	f(65536*60, 1, 0xffff)
	f(65536*60, 0, 0xfffe)
	f(1<<62, 1, 0xffff)
	f(1<<62, 0, 0xfffe)
	f(65534*60, 0, 0xfffe)
	f(65534*60, 1, 0xffff)
	// Out of range inputs do not wrap.
	f(-1, 0, 0)
	f(-1<<62, 1, 1)
	f(86400, -5, 0x05a0) // a negative retry is not at-least-once
}

func TestTTLFieldOfText(t *testing.T) {
	f := func(field string, want uint16) {
		t.Helper()
		s := "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-" + field
		if got := TTLFieldOfText([]byte(s)); got != want {
			t.Errorf("TTLFieldOfText(...-%s) = %#04x; want %#04x", field, got, want)
		}
	}
	f("05a1", 0x05a1)
	f("0001", 1)
	f("0000", 0)
	f("003c", 0x3c)
	f("ffff", 0xffff)
	// Case-insensitive, as Disque reads it.
	f("05A1", 0x05a1)
	f("FFFF", 0xffff)
	f("aBcD", 0xabcd)
	// A non-hex digit counts as 0.
	f("0x5a", 0x005a)
	f("zzzz", 0)
	f("g00f", 0x000f)
	f("-1--", 0x0100)
	f("\xff\x00\x80a", 0x000a)
}

func TestMakeID(t *testing.T) {
	rnd := [18]byte{0xff, 0xff, 0x42, 0xfb, 0xb7, 0x92, 0x4d, 0x92, 0x33, 0x5f, 0xf6, 0xd6, 0x7d, 0x3c, 0xea, 0x6e, 0x3d, 0x01}
	id := MakeID([4]byte{0xdc, 0xb8, 0x33, 0xcf}, 0, &rnd, 5, 0)
	if got, want := id.String(), "D-dcb833cf-AA9C+7eSTZIzX/bWfTzqbj0B-0000"; got != want {
		t.Errorf("MakeID(slot 0) = %s; want %s", got, want)
	}
	if rnd[0] != 0xff || rnd[1] != 0xff {
		t.Errorf("MakeID modified its rnd argument: %x", rnd[:2])
	}
	id = MakeID([4]byte{0xdc, 0xb8, 0x33, 0xcf}, 4095, &rnd, 86400, 300)
	if got, want := id.String(), "D-dcb833cf-//9C+7eSTZIzX/bWfTzqbj0B-05a1"; got != want {
		t.Errorf("MakeID(slot 4095) = %s; want %s", got, want)
	}
}
