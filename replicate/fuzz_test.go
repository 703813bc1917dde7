package replicate

import (
	"bytes"
	"reflect"
	"testing"
)

func sampleGossip() *gossipMsg {
	return &gossipMsg{
		typ: MsgPing, sender: testNodeID(1), port: 7711, flags: NodeLeaving,
		entries: []gossipEntry{
			{id: testNodeID(2), ip: []byte("127.0.0.1"), port: 7712, flags: NodePFail, pingSent: 1700000000000, pongRecv: 1699999999000},
			{id: testNodeID(3), ip: []byte("::1"), port: 7713, flags: 0},
		},
	}
}

func TestGossipRoundTrip(t *testing.T) {
	g := sampleGossip()
	enc := appendGossip(nil, g)
	var d gossipMsg
	n, err := d.decode(enc)
	if err != nil || n != len(enc) {
		t.Fatalf("decode: %d/%d %v", n, len(enc), err)
	}
	if !reflect.DeepEqual(&d, g) {
		t.Fatalf("round trip\n got %+v\nwant %+v", d, *g)
	}
	for i := 0; i < len(enc); i++ {
		if _, err := d.decode(enc[:i]); err == nil {
			t.Fatalf("truncated gossip at %d accepted", i)
		}
	}
	f := appendFail(nil, testNodeID(9))
	id, n, err := decodeFail(f)
	if err != nil || n != len(f) || id != testNodeID(9) {
		t.Fatal("FAIL round trip")
	}
}

// seedFrames returns valid frames: plain, compressed, membership.
func seedFrames() [][]byte {
	var out [][]byte
	var payload []byte
	for _, m := range sampleMsgs() {
		payload = appendRecord(payload, AppendMsg(nil, &m))
	}
	fw := frameWriter{}
	out = append(out, fw.appendFrame(nil, payload, len(sampleMsgs())))
	fw.compress = true
	big := payload
	for i := 0; i < 3; i++ {
		big = append(big, payload...)
	}
	out = append(out, fw.appendFrame(nil, big, 4*len(sampleMsgs())))
	gp := appendRecord(nil, appendGossip(nil, sampleGossip()))
	gp = appendRecord(gp, appendFail(nil, testNodeID(4)))
	out = append(out, fw.appendFrame(nil, gp, 2))
	return out
}

// decodeAll runs every decoder the reader runs on a frame's records.
func decodeAll(payload []byte, count int) error {
	if err := checkRecords(payload, count); err != nil {
		return err
	}
	var m Msg
	var g gossipMsg
	rest := payload
	for i := 0; i < count; i++ {
		var rec []byte
		rec, rest, _ = nextRecord(rest)
		switch t := MsgType(rec[0]); {
		case t.IsJob():
			if _, err := m.Decode(rec); err != nil {
				return err
			}
		case t == MsgFail:
			if _, _, err := decodeFail(rec); err != nil {
				return err
			}
		default:
			if _, err := g.decode(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr)
	}
	f.Add([]byte{0, 0, 0, 4, 1, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 20
		payload, count, n, _, err := decodeFrame(data, nil, max)
		if err != nil {
			return
		}
		if n > len(data) || len(payload) > max {
			t.Fatalf("n=%d len=%d payload=%d", n, len(data), len(payload))
		}
		if decodeAll(payload, count) != nil {
			return
		}
		// A valid frame's payload re-frames (with or without S2) to the same payload.
		for _, comp := range []bool{false, true} {
			fw := frameWriter{compress: comp}
			fr := fw.appendFrame(nil, payload, count)
			p2, c2, n2, _, err := decodeFrame(fr, nil, max+frameHeaderLen)
			if err != nil || c2 != count || n2 != len(fr) || !bytes.Equal(p2, payload) {
				t.Fatalf("re-frame (s2 %v): %v", comp, err)
			}
		}
	})
}

func FuzzDecodeMsg(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(AppendMsg(nil, &m))
	}
	f.Add([]byte{byte(MsgYourJobs), 0, 0})
	f.Add([]byte{byte(MsgGotJobs), 0, 1})
	f.Add([]byte{byte(MsgGotJobs), 0, 0})
	d := sampleDigest()
	f.Add(AppendMsg(nil, &d))
	f.Add([]byte{byte(MsgTenant), byte(MsgDigest | MsgDigestEnd), 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, n, err := DecodeMsg(data)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		if n < 2 || n > len(data) {
			t.Fatalf("n=%d len=%d", n, len(data))
		}
		// Re-encode and decode again: same message.
		enc := AppendMsg(nil, &m)
		if len(enc) > n {
			t.Fatalf("canonical encoding longer (%d) than input (%d)", len(enc), n)
		}
		m2, n2, err := DecodeMsg(enc)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip\n got %+v\nwant %+v", m2, m)
		}
		// Decoding into a reused Msg gives the same result.
		var r Msg
		_, _ = r.Decode(AppendMsg(nil, &sampleMsgs()[9]))
		if _, err := r.Decode(data); err != nil || !reflect.DeepEqual(normalize(r), normalize(m)) {
			t.Fatalf("reused decode differs: %v", err)
		}
	})
}

// FuzzMsgRoundTrip builds messages from fuzzed fields: encode -> decode
// gives them back.
func FuzzMsgRoundTrip(f *testing.F) {
	f.Add(uint8(4), uint8(1), []byte("default"), []byte("q"), []byte("body"), int64(5), int64(-3), uint32(7), uint8(2))
	f.Add(uint8(12), uint8(MsgDigest|MsgDigestEnd), []byte("acme"), []byte("a"), []byte(`"name":"acme"}`), int64(3), int64(-1), uint32(0), uint8(0))
	f.Add(uint8(12), uint8(0), []byte("acme"), []byte(""), []byte(`"name":"acme"}`), int64(3), int64(9), uint32(0), uint8(0))
	f.Fuzz(func(t *testing.T, typ, flags uint8, tenant, queue, body []byte, a, b int64, u uint32, nh uint8) {
		tp := MsgType(4 + typ%14)
		j := Job{ID: testJobID(typ), Tenant: tenant, Queue: queue, Body: body, CTime: a, TTL: b, Delay: -a, Retry: a ^ b,
			Repl: u, Nacks: u >> 3, AddDeliveries: u + 1}
		for i := 0; i < int(nh%5); i++ {
			j.Holders = append(j.Holders, testNodeID(byte(i)+typ))
		}
		m := Msg{Type: tp, Flags: MsgFlags(flags) & allowedFlags[tp]}
		switch tp {
		case MsgReplJob:
			m.Job, m.ID = j, j.ID
		case MsgYourJobs:
			m.Jobs = []Job{j, j}
		case MsgGotJobs:
			m.ID, m.IDs = j.ID, [][24]byte{j.ID, testJobID(typ + 1)}
		case MsgNeedJobs:
			m.Tenant, m.Queue, m.Count = tenant, queue, a
		case MsgPause:
			m.Tenant, m.Queue, m.State = tenant, queue, uint8(u)
		case MsgEnqueue:
			m.ID, m.Delay = j.ID, b
		case MsgSetAck:
			m.ID, m.Count = j.ID, b
		case MsgTenant:
			// Name and definition from the fuzzed strings, made valid.
			name := append([]byte("t"), tenant[:min(len(tenant), MaxTenantName-2)]...) // room for the digest's second name
			e := TenantDef{Name: name, Version: uint64(a), Sum: uint64(b), Def: append([]byte("{"), body[:min(len(body), MaxTenantDef-1)]...)}
			if m.Flags&MsgDigest != 0 {
				e.Def = nil
				if bytes.Compare(queue, name) < 0 && len(queue) <= MaxTenantName {
					m.Tenant = queue
				}
			} else {
				m.Flags = 0
			}
			m.Tenants = []TenantDef{e, e}
			if m.Flags&MsgDigest != 0 {
				m.Tenants[1].Name = append(append([]byte(nil), name...), 'z')
			}
		default:
			m.ID = j.ID
		}
		enc := AppendMsg(nil, &m)
		got, n, err := DecodeMsg(enc)
		if err != nil || n != len(enc) {
			t.Fatalf("decode %v: %v", tp, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Fatalf("round trip %v\n got %+v\nwant %+v", tp, got, m)
		}
	})
}
