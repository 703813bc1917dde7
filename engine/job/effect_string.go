package job

import "strconv"

// effectNames are the names of the Effect bits, lowest bit first.
var effectNames = [...]string{
	"enqueue", "dequeue", "schedule", "free", "reply-add", "count-nack",
	"count-delivery", "working", "gc", "log-add", "log-del", "expired",
}

// String returns the set bits joined by '|' ("enqueue|schedule"), lowest bit
// first, or "none" for the empty set; unknown bits are printed in hex. For
// tests and logs (it allocates).
func (e Effect) String() string {
	if e == 0 {
		return "none"
	}
	var b []byte
	for i, name := range effectNames {
		if e&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, name...)
		}
	}
	if rest := e >> len(effectNames); rest != 0 {
		if len(b) > 0 {
			b = append(b, '|')
		}
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, uint64(rest)<<len(effectNames), 16)
	}
	return string(b)
}
