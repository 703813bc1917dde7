package shard

import (
	"testing"

	"disq/engine/job"
	"disq/replicate"
)

// recBus records what a shard sends.
type recBus struct {
	view *replicate.View
	sent []sentMsg
}

type sentMsg struct {
	to  replicate.NodeID
	msg replicate.Msg
}

func (b *recBus) Send(to replicate.NodeID, msg []byte) bool {
	m, _, err := replicate.DecodeMsg(append([]byte(nil), msg...))
	if err != nil {
		panic(err)
	}
	b.sent = append(b.sent, sentMsg{to, m})
	return true
}
func (b *recBus) Broadcast([]byte) int  { return 0 }
func (b *recBus) View() *replicate.View { return b.view }

// replJobOp appends an OpBus op carrying REPLJOB for id from node from.
func replJobOp(b *Batch, from, self replicate.NodeID, id job.ID, flags replicate.MsgFlags) {
	m := replicate.Msg{Type: replicate.MsgReplJob, Flags: flags, ID: id, Job: replicate.Job{
		ID: id, Tenant: []byte("default"), Queue: []byte("q"), Body: []byte("body"),
		CTime: 1, TTL: 60_000, Retry: 5_000, Repl: 2, Holders: []replicate.NodeID{from, self},
	}}
	a := b.NumArgs()
	b.Arg(replicate.AppendMsg(nil, &m))
	b.Arg(from[:])
	b.Ops = append(b.Ops, Op{Kind: OpBus, A: a, B: b.NumArgs()})
}

// TestCopyConfirmationsBatched: the copies a replica stores in one step are
// confirmed with one GOTJOBS to their creator (IDs in order, none for a
// NOREPLY copy); a copy sent again later is confirmed again, alone.
func TestCopyConfirmationsBatched(t *testing.T) {
	self, _ := replicate.ParseNodeID(testNodeID)
	from, _ := replicate.ParseNodeID("f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0")
	bus := &recBus{view: &replicate.View{Reachable: []replicate.NodeID{from}}}
	now := testT0
	s := New(Config{Index: 0, Shards: 1, NodeID: testNodeID, Bus: bus, Clock: func() job.Millis { return now }})
	ids := make([]job.ID, 4)
	for k := range ids {
		ids[k][4], ids[k][5] = byte(testSlot>>4), byte(testSlot&0xf)<<4
		ids[k][10], ids[k][23] = byte(k+1), 0x55
	}
	b := GetBatch()
	for k := 0; k < 3; k++ {
		replJobOp(b, from, self, ids[k], 0)
	}
	replJobOp(b, from, self, ids[3], replicate.MsgNoReply)
	s.Step([]*Batch{b}, now)
	if len(bus.sent) != 1 {
		t.Fatalf("sent %d messages for one step's copies; want 1", len(bus.sent))
	}
	got := bus.sent[0]
	if got.to != from || got.msg.Type != replicate.MsgGotJobs || len(got.msg.IDs) != 3 {
		t.Fatalf("sent %v to %x with %d IDs; want GOTJOBS with 3 to the creator", got.msg.Type, got.to[:4], len(got.msg.IDs))
	}
	for k := 0; k < 3; k++ {
		if got.msg.IDs[k] != ids[k] {
			t.Fatalf("ID %d: %x, want %x", k, got.msg.IDs[k], ids[k])
		}
	}
	if s.st.n != 4 {
		t.Fatalf("stored %d copies; want 4", s.st.n)
	}

	bus.sent = nil
	b = GetBatch()
	replJobOp(b, from, self, ids[1], 0) // resent: already held
	s.Step([]*Batch{b}, now)
	if len(bus.sent) != 1 || bus.sent[0].msg.Type != replicate.MsgGotJob || bus.sent[0].msg.ID != ids[1] {
		t.Fatalf("a resent copy: sent %+v; want one GOTJOB for it", bus.sent)
	}
}
