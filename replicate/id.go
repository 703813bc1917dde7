package replicate

import (
	"crypto/rand"
	"strings"
)

// NodeID is a node identity in binary form: the 40 lowercase hex characters
// of the spec's node ID, decoded to 20 bytes. It is comparable (a map key),
// cheap to copy, and its first 4 bytes are exactly the node prefix carried
// by the job IDs the node creates (job.ID.NodePrefix), so Prefix maps a job
// to its creator without text conversions.
type NodeID [20]byte

// NodeIDLen is the length of a node ID in text form.
const NodeIDLen = 40

const hexdigits = "0123456789abcdef"

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// ParseNodeID parses the 40-character text form. Only lowercase hex is
// accepted: that is how node IDs are written, and an ID in another spelling
// names no node.
func ParseNodeID(s string) (NodeID, bool) {
	var id NodeID
	if len(s) != NodeIDLen {
		return id, false
	}
	for i := range id {
		hi, lo := unhex(s[2*i]), unhex(s[2*i+1])
		if hi > 15 || lo > 15 {
			return NodeID{}, false
		}
		id[i] = hi<<4 | lo
	}
	return id, true
}

// ParsePrefix parses the 8-character node prefix of a text job ID (bytes
// 2-9) into the 4 bytes View.ByPrefix takes.
func ParsePrefix(b []byte) (p [4]byte, ok bool) {
	if len(b) != 8 {
		return p, false
	}
	for i := range p {
		hi, lo := unhex(b[2*i]), unhex(b[2*i+1])
		if hi > 15 || lo > 15 {
			return [4]byte{}, false
		}
		p[i] = hi<<4 | lo
	}
	return p, true
}

// AppendText appends the 40-character lowercase hex form.
func (id NodeID) AppendText(dst []byte) []byte {
	for _, b := range id {
		dst = append(dst, hexdigits[b>>4], hexdigits[b&15])
	}
	return dst
}

// String returns the 40-character lowercase hex form.
func (id NodeID) String() string {
	var b [NodeIDLen]byte
	return string(id.AppendText(b[:0]))
}

// Prefix returns the first 4 bytes: the job-ID node prefix of this node.
func (id NodeID) Prefix() [4]byte { return [4]byte{id[0], id[1], id[2], id[3]} }

// IsZero reports whether id is the zero value (never a real node).
func (id NodeID) IsZero() bool { return id == NodeID{} }

// randomID returns a fresh random node ID.
func randomID() NodeID {
	var id NodeID
	for id.IsZero() {
		_, _ = rand.Read(id[:])
	}
	return id
}

// NodeFlags are the per-node flags of CLUSTER NODES.
type NodeFlags uint16

const (
	NodeMyself    NodeFlags = 1 << iota // this node
	NodePFail                           // "fail?": our PING went unanswered for more than NodeTimeout
	NodeFail                            // "fail": a majority agreed on PFAIL (or a FAIL message said so)
	NodeHandshake                       // being met; its ID is temporary until the peer answers
	NodeNoAddr                          // address unknown
	NodeLeaving                         // CLUSTER LEAVING yes on that node

	nodeMeet // internal: the next connection starts with MEET (handshake entries)
)

// wireNodeFlags are the flags that travel in gossip.
const wireNodeFlags = NodePFail | NodeFail | NodeHandshake | NodeNoAddr | NodeLeaving

var flagNames = [...]struct {
	f    NodeFlags
	name string
}{
	{NodeMyself, "myself"},
	{NodePFail, "fail?"},
	{NodeFail, "fail"},
	{NodeHandshake, "handshake"},
	{NodeNoAddr, "noaddr"},
	{NodeLeaving, "leaving"},
}

// AppendText appends the CLUSTER NODES spelling: a comma list in the order
// myself, fail?, fail, handshake, noaddr, leaving; "noflags" if none.
func (f NodeFlags) AppendText(dst []byte) []byte {
	n := 0
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, fn.name...)
			n++
		}
	}
	if n == 0 {
		dst = append(dst, "noflags"...)
	}
	return dst
}

// String returns the CLUSTER NODES spelling of the flags.
func (f NodeFlags) String() string { return string(f.AppendText(nil)) }

// parseNodeFlags parses the CLUSTER NODES spelling (config file).
func parseNodeFlags(s string) (NodeFlags, bool) {
	if s == "noflags" {
		return 0, true
	}
	var f NodeFlags
	for _, w := range strings.Split(s, ",") {
		ok := false
		for _, fn := range flagNames {
			if w == fn.name {
				f |= fn.f
				ok = true
				break
			}
		}
		if !ok {
			return 0, false
		}
	}
	return f, true
}
