package shard

import (
	"testing"
	"time"

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

// latBus is a recBus that also takes replication latencies.
type latBus struct {
	recBus
	obs []latObs
}

type latObs struct {
	from replicate.NodeID
	sum  time.Duration
	n    int
}

func (b *latBus) ObserveReplLatency(from replicate.NodeID, sum time.Duration, n int) {
	b.obs = append(b.obs, latObs{from, sum, n})
}

// gotJobsOp appends an OpBus op carrying GOTJOBS for ids from node from.
func gotJobsOp(b *Batch, from replicate.NodeID, ids ...job.ID) {
	m := replicate.Msg{Type: replicate.MsgGotJobs}
	for _, id := range ids {
		m.IDs = append(m.IDs, [24]byte(id))
	}
	a := b.NumArgs()
	b.Arg(replicate.AppendMsg(nil, &m))
	b.Arg(from[:])
	b.Ops = append(b.Ops, Op{Kind: OpBus, A: a, B: b.NumArgs()})
}

// TestReplicationLatencyObserved: each GOTJOBS a creating node receives
// reports, per sending peer, how long its copies took since their REPLJOB
// (the sum and count over the message's new copies);
// confirmations of copies already confirmed, or of unknown jobs, report
// nothing.
func TestReplicationLatencyObserved(t *testing.T) {
	peerA, _ := replicate.ParseNodeID("a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0")
	peerB, _ := replicate.ParseNodeID("b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0")
	bus := &latBus{recBus: recBus{view: &replicate.View{Reachable: []replicate.NodeID{peerA, peerB}}}}
	h := newHarness(t)
	h.s = New(Config{Index: 0, Shards: 1, NodeID: testNodeID, Bus: bus, Clock: func() job.Millis { return h.now }})
	var ids []job.ID
	start := time.Now()
	for k := 0; k < 2; k++ {
		if rs := h.step(call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{3, 0, 0, 0}}, []string{"q", "body"}}); len(rs) != 0 {
			t.Fatalf("ADDJOB REPLICATE 3 answered before its copies: %v", rs)
		}
	}
	for _, m := range bus.sent {
		if m.msg.Type == replicate.MsgReplJob && (len(ids) == 0 || ids[len(ids)-1] != job.ID(m.msg.Job.ID)) {
			ids = append(ids, job.ID(m.msg.Job.ID))
		}
	}
	if len(ids) != 2 {
		t.Fatalf("REPLJOBs sent for %d jobs; want 2 (%d messages)", len(ids), len(bus.sent))
	}
	const wait = 3 * time.Millisecond
	time.Sleep(wait)
	b := GetBatch()
	gotJobsOp(b, peerA, ids...)
	gotJobsOp(b, peerA, ids[0])                  // again: already confirmed
	gotJobsOp(b, peerB, ids[1], job.ID{1, 2, 3}) // one unknown ID
	h.s.Step([]*Batch{b}, h.now)
	elapsed := time.Since(start)
	if len(bus.obs) != 2 {
		t.Fatalf("observations %+v; want one for peer A's 2 copies and one for peer B's 1", bus.obs)
	}
	a, bb := bus.obs[0], bus.obs[1]
	if a.from != peerA || a.n != 2 || a.sum < 2*wait {
		t.Errorf("peer A: %+v; want 2 copies, each at least %v", a, wait)
	}
	if bb.from != peerB || bb.n != 1 || bb.sum < wait {
		t.Errorf("peer B: %+v; want 1 copy of at least %v", bb, wait)
	}
	if a.sum > 2*elapsed || bb.sum > elapsed {
		t.Errorf("latencies %v (2 copies), %v: more than the %v since the ADDJOBs: not measured from the REPLJOB send", a.sum, bb.sum, elapsed)
	}
}
