package job

// Job IDs keep Disque's 40-byte shape so every Disque client works unchanged,
// and carry disq's routing slot inside the random part:
//
//	offset  0 1 | 2 ........ 9 | 10 | 11 12 | 13 .............. 34 | 35 | 36 . 39
//	        D - | node prefix  | -  | slot  | random (22 chars)     | -  | TTL
//	              8 lowercase     12 bits    132 random bits            4 hex: minutes,
//	              hex of the      in two     (standard base64           odd = RETRY > 0
//	              creating node   base64     alphabet, no padding)
//
// The 24 base64 characters encode exactly 18 bytes; the first 12 bits of those
// bytes are the slot (shard.Slot of the job's tenant and queue), so a node can
// route ACKJOB, SHOW, a bus message... to the owning shard without a lookup,
// whatever its core count. The TTL field is Disque's: floor(TTL/60) capped to
// 65535, lowest bit forced to 1 for at-least-once jobs (RETRY > 0) and to 0
// for at-most-once jobs. A node that receives ACKJOB for a job it does not
// hold reads it to decide whether to create a dummy ACK and when it expires.
//
// The binary form (ID) is 24 bytes: node prefix (4), random part (18), TTL
// field (2, big-endian). Records store it; the text form is rebuilt on output.
//
// The creating shard may also store a 32-bit hint in the last 4 bytes of the
// random part (SetHint): the index of the job's record, so that commands on
// jobs created by this node find the record without a hash table. 100 random
// bits remain (plus the slot), ample for uniqueness (the spec asks for about
// 144 bits of which IDs must never repeat; the hint only repeats for records
// reused after their job ended, and the random bits still differ). A hint
// is never trusted: the record's full ID is compared.

// IDLen is the length of a job ID in text form.
const IDLen = 40

// ID is the binary form of a job ID. The zero ID is not a valid job ID.
type ID [24]byte

const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const hexdigits = "0123456789abcdef"

// b64val maps a byte to its base64 value, or 0xff when it is not in the
// standard alphabet.
var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b64); i++ {
		t[b64[i]] = byte(i)
	}
	return
}()

// hexval maps a lowercase hex digit to its value, anything else to 0xff.
var hexval = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < 16; i++ {
		t[hexdigits[i]] = byte(i)
	}
	return
}()

// ValidID reports whether b passes the spec's validation of a job ID
// argument: exactly 40 bytes, 'D' at 0, '-' at 1, 10 and 35. Nothing else is
// checked (commands answer -BADID otherwise).
func ValidID(b []byte) bool {
	return len(b) == IDLen && b[0] == 'D' && b[1] == '-' && b[10] == '-' && b[35] == '-'
}

// ParseID decodes a valid-looking ID into its binary form. It is strict: the
// node prefix and TTL must be lowercase hex and the random part standard
// base64, as this package writes them. IDs that fail (but pass ValidID) can
// never name a stored job; commands treat them as unknown.
func ParseID(b []byte) (id ID, ok bool) {
	if !ValidID(b) {
		return id, false
	}
	for i := 0; i < 4; i++ {
		hi, lo := hexval[b[2+2*i]], hexval[b[3+2*i]]
		if hi|lo == 0xff || hi > 15 || lo > 15 {
			return id, false
		}
		id[i] = hi<<4 | lo
	}
	for g := 0; g < 6; g++ {
		c0, c1, c2, c3 := b64val[b[11+4*g]], b64val[b[12+4*g]], b64val[b[13+4*g]], b64val[b[14+4*g]]
		if c0 == 0xff || c1 == 0xff || c2 == 0xff || c3 == 0xff {
			return id, false
		}
		id[4+3*g] = c0<<2 | c1>>4
		id[5+3*g] = c1<<4 | c2>>2
		id[6+3*g] = c2<<6 | c3
	}
	for i := 0; i < 2; i++ {
		hi, lo := hexval[b[36+2*i]], hexval[b[37+2*i]]
		if hi > 15 || lo > 15 {
			return id, false
		}
		id[22+i] = hi<<4 | lo
	}
	return id, true
}

// AppendText appends the 40-byte text form of id to dst.
func (id *ID) AppendText(dst []byte) []byte {
	dst = append(dst, 'D', '-')
	for i := 0; i < 4; i++ {
		dst = append(dst, hexdigits[id[i]>>4], hexdigits[id[i]&15])
	}
	dst = append(dst, '-')
	for g := 0; g < 6; g++ {
		b0, b1, b2 := id[4+3*g], id[5+3*g], id[6+3*g]
		dst = append(dst, b64[b0>>2], b64[(b0&3)<<4|b1>>4], b64[(b1&15)<<2|b2>>6], b64[b2&63])
	}
	dst = append(dst, '-')
	for i := 22; i < 24; i++ {
		dst = append(dst, hexdigits[id[i]>>4], hexdigits[id[i]&15])
	}
	return dst
}

// String returns the text form; for tests and logs (it allocates).
func (id ID) String() string { return string(id.AppendText(make([]byte, 0, IDLen))) }

// Slot returns the 12-bit routing slot carried by the ID.
func (id *ID) Slot() uint16 { return uint16(id[4])<<4 | uint16(id[5]>>4) }

// TTLField returns the 16-bit TTL field (minutes, parity = at-least-once).
func (id *ID) TTLField() uint16 { return uint16(id[22])<<8 | uint16(id[23]) }

// NodePrefix returns the 4 bytes decoded from the creating node's prefix.
func (id *ID) NodePrefix() [4]byte { return [4]byte{id[0], id[1], id[2], id[3]} }

// Hash returns 64 random bits of the ID (the random part after the slot),
// suitable for a hash table without hashing.
func (id *ID) Hash() uint64 {
	var h uint64
	for i := 6; i < 14; i++ {
		h = h<<8 | uint64(id[i])
	}
	return h
}

// Hint returns the 32-bit record hint carried in the random part.
func (id *ID) Hint() uint32 {
	return uint32(id[18])<<24 | uint32(id[19])<<16 | uint32(id[20])<<8 | uint32(id[21])
}

// SetHint stores a 32-bit record hint in the random part (see above).
func (id *ID) SetHint(h uint32) {
	id[18], id[19], id[20], id[21] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
}

// MakeID builds an ID from the creating node's prefix, the slot, 18 bytes of
// randomness (its first 12 bits are replaced by the slot) and the job's TTL
// and RETRY in seconds.
func MakeID(node [4]byte, slot uint16, rnd *[18]byte, ttlSec, retrySec int64) ID {
	var id ID
	copy(id[0:4], node[:])
	copy(id[4:22], rnd[:])
	id[4] = byte(slot >> 4)
	id[5] = byte(slot&15)<<4 | id[5]&15
	f := TTLFieldOf(ttlSec, retrySec)
	id[22], id[23] = byte(f>>8), byte(f)
	return id
}

// TTLFieldOf computes the ID's TTL field: floor(ttl/60) capped to 65535, the
// lowest bit forced to 1 when retry > 0 and to 0 otherwise.
func TTLFieldOf(ttlSec, retrySec int64) uint16 {
	m := ttlSec / 60
	if m > 65535 {
		m = 65535
	}
	if m < 0 {
		m = 0
	}
	f := uint16(m)
	if retrySec > 0 {
		f |= 1
	} else {
		f &^= 1
	}
	return f
}

// SlotOfText returns the routing slot of a text ID that passed ValidID,
// leniently: bytes outside the base64 alphabet count as 0, so any valid-looking
// ID maps to a deterministic shard.
func SlotOfText(b []byte) uint16 {
	c0, c1 := b64val[b[11]], b64val[b[12]]
	if c0 == 0xff {
		c0 = 0
	}
	if c1 == 0xff {
		c1 = 0
	}
	return uint16(c0)<<6 | uint16(c1)
}

// TTLFieldOfText reads the TTL field of a text ID that passed ValidID, as
// Disque does: hex digits case-insensitively, a non-hex digit counts as 0.
func TTLFieldOfText(b []byte) uint16 {
	var f uint16
	for _, c := range b[36:40] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		}
		f = f<<4 | uint16(v)
	}
	return f
}
