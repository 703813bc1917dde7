package replicate

import (
	"encoding/binary"
)

// Membership messages (internal to the package):
//
//	PING/PONG/MEET := u8 type | u8 0 | sender id[20] | port | flags | count | entry*
//	entry          := id[20] | ip (uvarint len + bytes, <= 64) | port | flags | ping-sent-ms | pong-received-ms
//	FAIL           := u8 3 | u8 0 | id[20]
//
// port and flags are uvarints (port <= 65535, flags within wireNodeFlags),
// the timestamps zigzag varints (unix ms, 0 = none).

const (
	maxGossipIP      = 64
	maxGossipEntries = 4096
	minGossipEntry   = 20 + 1 + 1 + 1 + 1 + 1
)

type gossipEntry struct {
	id       NodeID
	ip       []byte // aliases the decoded buffer
	port     int
	flags    NodeFlags
	pingSent int64
	pongRecv int64
}

type gossipMsg struct {
	typ     MsgType // MsgPing, MsgPong or MsgMeet
	sender  NodeID
	port    int
	flags   NodeFlags // the sender's own flags (leaving)
	entries []gossipEntry
}

func appendGossip(dst []byte, g *gossipMsg) []byte {
	dst = append(dst, byte(g.typ), 0)
	dst = append(dst, g.sender[:]...)
	dst = binary.AppendUvarint(dst, uint64(g.port))
	dst = binary.AppendUvarint(dst, uint64(g.flags&wireNodeFlags))
	dst = binary.AppendUvarint(dst, uint64(len(g.entries)))
	for i := range g.entries {
		e := &g.entries[i]
		dst = append(dst, e.id[:]...)
		dst = appendBytes(dst, e.ip)
		dst = binary.AppendUvarint(dst, uint64(e.port))
		dst = binary.AppendUvarint(dst, uint64(e.flags&wireNodeFlags))
		dst = binary.AppendVarint(dst, e.pingSent)
		dst = binary.AppendVarint(dst, e.pongRecv)
	}
	return dst
}

func (d *dec) port() int {
	p := d.uvarint()
	if p > 65535 {
		d.fail(ErrBadMsg)
		return 0
	}
	return int(p)
}

func (d *dec) nodeFlags() NodeFlags {
	f := d.uvarint()
	if f&^uint64(wireNodeFlags) != 0 {
		d.fail(ErrBadMsg)
		return 0
	}
	return NodeFlags(f)
}

// decode decodes a PING, PONG or MEET from the start of b, reusing
// g.entries; ip slices alias b.
func (g *gossipMsg) decode(b []byte) (int, error) {
	entries := g.entries[:0]
	*g = gossipMsg{}
	d := dec{b: b}
	t := MsgType(d.u8())
	if f := d.u8(); d.err == nil && f != 0 {
		return 0, ErrBadMsg
	}
	if d.err != nil {
		return 0, d.err
	}
	if t != MsgPing && t != MsgPong && t != MsgMeet {
		return 0, ErrBadMsg
	}
	g.typ = t
	g.sender = d.nodeID()
	g.port = d.port()
	g.flags = d.nodeFlags()
	n := d.uvarint()
	if d.err == nil && (n > maxGossipEntries || n*minGossipEntry > uint64(d.rest())) {
		d.fail(ErrBadMsg)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e gossipEntry
		e.id = d.nodeID()
		e.ip = d.bytes()
		if len(e.ip) > maxGossipIP {
			d.fail(ErrBadMsg)
		}
		e.port = d.port()
		e.flags = d.nodeFlags()
		e.pingSent = d.varint()
		e.pongRecv = d.varint()
		entries = append(entries, e)
	}
	g.entries = entries
	if d.err != nil {
		g.entries = entries[:0]
		return 0, d.err
	}
	return d.off, nil
}

func appendFail(dst []byte, id NodeID) []byte {
	dst = append(dst, byte(MsgFail), 0)
	return append(dst, id[:]...)
}

func decodeFail(b []byte) (NodeID, int, error) {
	d := dec{b: b}
	t, f := d.u8(), d.u8()
	if d.err == nil && (MsgType(t) != MsgFail || f != 0) {
		return NodeID{}, 0, ErrBadMsg
	}
	id := d.nodeID()
	if d.err != nil {
		return NodeID{}, 0, d.err
	}
	return id, d.off, nil
}
