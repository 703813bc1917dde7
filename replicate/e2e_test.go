package replicate

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

// pair starts two nodes that MEET and waits until each can send to the
// other.
func pair(t *testing.T, mod func(*Options)) (a, b *testNode) {
	t.Helper()
	a = startNode(t, t.TempDir(), 0, time.Second, mod)
	b = startNode(t, t.TempDir(), 1, time.Second, mod)
	t.Cleanup(func() { _ = a.c.Close(); _ = b.c.Close() })
	if err := a.c.Meet("127.0.0.1", b.opts.Port); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a and b connected", func() bool {
		return len(a.c.View().Reachable) == 1 && len(b.c.View().Reachable) == 1
	})
	return a, b
}

func TestMessagesEndToEnd(t *testing.T) {
	a, b := pair(t, nil)
	aid, bid := a.c.Self(), b.c.Self()

	// One of each job message type, A -> B, in order.
	ms := sampleMsgs()
	for i := range ms {
		if !a.c.Send(bid, AppendMsg(nil, &ms[i])) {
			t.Fatalf("Send %v refused", ms[i].Type)
		}
	}
	waitFor(t, 5*time.Second, "B got all messages", func() bool { return len(b.rec.snapshot()) >= len(ms) })
	got := b.rec.snapshot()
	for i := range ms {
		if got[i].from != aid {
			t.Fatalf("message %d from %v, want %v", i, got[i].from, aid)
		}
		if want := AppendMsg(nil, &ms[i]); !bytes.Equal(got[i].enc, want) {
			t.Fatalf("message %d (%v) differs", i, ms[i].Type)
		}
	}

	// Many senders, large compressible bodies: everything arrives, per-sender order kept.
	const senders, per = 4, 500
	var wg sync.WaitGroup
	body := bytes.Repeat([]byte(`{"event":"page_view","user":12345,"path":"/products/42"} `), 8)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var buf []byte
			for i := 0; i < per; i++ {
				m := Msg{Type: MsgReplJob, Job: Job{ID: testJobID(byte(g)), Queue: []byte("q"), Body: body, CTime: int64(i), Holders: []NodeID{aid, bid}}}
				buf = AppendMsg(buf[:0], &m)
				if !b.c.Send(aid, buf) {
					t.Error("Send refused")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "A got all messages", func() bool { return len(a.rec.snapshot()) == senders*per })
	next := make([]int64, senders)
	for _, r := range a.rec.snapshot() {
		m, _, err := DecodeMsg(r.enc)
		if err != nil {
			t.Fatal(err)
		}
		g := m.Job.ID[0]
		if m.Job.CTime != next[g] {
			t.Fatalf("sender %d: seq %d want %d", g, m.Job.CTime, next[g])
		}
		next[g]++
	}
	st := b.c.Stats()
	if len(st.Peers) != 1 || st.Peers[0].ID != aid {
		t.Fatalf("stats peers %+v", st.Peers)
	}
	ps := st.Peers[0]
	t.Logf("B->A: %d messages in %d frames (%d compressed), payload %d B, wire %d B (ratio %.2f), rtt %v",
		ps.MessagesSent, ps.FramesSent, ps.FramesCompressed, ps.PayloadBytesSent, ps.BytesSent,
		float64(ps.PayloadBytesSent)/float64(ps.BytesSent), ps.LastRTT)
	if ps.FramesCompressed == 0 || ps.BytesSent >= ps.PayloadBytesSent {
		t.Fatalf("compressible traffic not compressed: %+v", ps)
	}
	// Replication latency (the shards report it per confirmation message):
	// a mean over every copy per peer and node-wide, a histogram of one
	// sample per message; unknown peers count only in the totals.
	b.c.ObserveReplLatency(aid, 6*time.Millisecond, 2)
	b.c.ObserveReplLatency(aid, time.Millisecond, 1)
	b.c.ObserveReplLatency(NodeID{7}, time.Second, 1)
	b.c.ObserveReplLatency(aid, time.Hour, 0) // nothing confirmed: ignored
	st = b.c.Stats()
	if p := st.Peers[0]; p.ReplConfirms != 3 || p.ReplLatency != 7*time.Millisecond/3 {
		t.Fatalf("peer repl latency: %d confirms, mean %v; want 3, %v", p.ReplConfirms, p.ReplLatency, 7*time.Millisecond/3)
	}
	if st.Total.ReplConfirms != 4 || st.Total.ReplLatency != (7*time.Millisecond+time.Second)/4 {
		t.Fatalf("total repl latency: %d confirms, mean %v", st.Total.ReplConfirms, st.Total.ReplLatency)
	}
	var prom bytes.Buffer
	b.c.WritePrometheus(&prom)
	if !bytes.Contains(prom.Bytes(), []byte(`disq_bus_frames_sent_total{peer="`+aid.String()+`"}`)) {
		t.Fatalf("prometheus output lacks per-peer frames:\n%s", prom.String())
	}
	if !bytes.Contains(prom.Bytes(), []byte(`disq_bus_repl_latency_seconds_count{peer="`+aid.String()+`"} 2`)) {
		t.Fatalf("prometheus output lacks the replication latency histogram (2 samples):\n%s", prom.String())
	}
	if !bytes.Contains(prom.Bytes(), []byte(`disq_bus_repl_latency_seconds_sum{peer="`+aid.String()+`"} 0.004`)) {
		t.Fatalf("replication latency histogram: want the messages' means, 3 ms + 1 ms:\n%s", prom.String())
	}

	// Broadcast reaches the peer.
	n0 := len(b.rec.snapshot())
	if k := a.c.Broadcast(AppendMsg(nil, &Msg{Type: MsgDelJob, ID: testJobID(9)})); k != 1 {
		t.Fatalf("Broadcast queued for %d peers", k)
	}
	waitFor(t, 5*time.Second, "broadcast delivered", func() bool { return len(b.rec.snapshot()) == n0+1 })

	// B goes away: A stops queueing for it (dropped, reported).
	_ = b.c.Close()
	waitFor(t, 5*time.Second, "A sees B disconnected", func() bool { return !a.c.Connected(bid) })
	if a.c.Send(bid, AppendMsg(nil, &ms[1])) {
		t.Fatal("Send to a disconnected peer queued")
	}
	if a.c.Stats().Total.MessagesDropped == 0 {
		t.Fatal("drop not counted")
	}
}

func TestCompressionOff(t *testing.T) {
	a, b := pair(t, func(o *Options) { o.Compression = false })
	body := bytes.Repeat([]byte("aaaa"), 1000)
	m := Msg{Type: MsgReplJob, Job: Job{ID: testJobID(1), Body: body}}
	if !a.c.Send(b.c.Self(), AppendMsg(nil, &m)) {
		t.Fatal("Send refused")
	}
	waitFor(t, 5*time.Second, "delivered", func() bool { return len(b.rec.snapshot()) == 1 })
	if a.c.Stats().Total.FramesCompressed != 0 {
		t.Fatal("compressed with Compression off")
	}
}

// TestCloseStopsEverything: after Close, no goroutine of the package is
// left (links, readers, writers, watchers, cron, saver, notifier).
func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	a := startNode(t, dir, 0, time.Second, nil)
	b := startNode(t, dir, 1, time.Second, nil)
	if err := a.c.Meet("127.0.0.1", b.opts.Port); err != nil {
		t.Fatal(err)
	}
	// A handshake that will never complete (nothing listens there).
	if err := a.c.Meet("127.0.0.1", freePort(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "linked", func() bool {
		return len(a.c.View().Reachable) == 1 && len(b.c.View().Reachable) == 1
	})
	a.c.Send(b.c.Self(), AppendMsg(nil, &Msg{Type: MsgGotJob}))
	start := time.Now()
	_ = a.c.Close()
	_ = b.c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	waitFor(t, 5*time.Second, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
	if err := a.c.Start(); err == nil {
		t.Fatal("Start after Close")
	}
	if a.c.Send(b.c.Self(), []byte{1, 2}) {
		t.Fatal("Send after Close queued")
	}
}

func outLinkOf(c *Cluster, id NodeID) *outLink {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		return n.out
	}
	return nil
}

// TestMeetKnownNode: MEETing a node already linked (both ways) completes
// the handshake, drops the duplicate entry and does not disturb the links.
func TestMeetKnownNode(t *testing.T) {
	a, b := pair(t, nil)
	la, lb := outLinkOf(a.c, b.c.Self()), outLinkOf(b.c, a.c.Self())
	if la == nil || lb == nil {
		t.Fatal("no links")
	}
	for i := 0; i < 3; i++ {
		if err := a.c.Meet("127.0.0.1", b.opts.Port); err != nil {
			t.Fatal(err)
		}
		if err := b.c.Meet("127.0.0.1", a.opts.Port); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "handshake entries gone", func() bool {
		return len(a.c.View().Nodes) == 2 && len(b.c.View().Nodes) == 2
	})
	time.Sleep(300 * time.Millisecond)
	if outLinkOf(a.c, b.c.Self()) != la || outLinkOf(b.c, a.c.Self()) != lb {
		t.Fatal("a redundant MEET replaced a working link")
	}
	// Messages still flow.
	if !a.c.Send(b.c.Self(), AppendMsg(nil, &Msg{Type: MsgWorking})) {
		t.Fatal("Send refused")
	}
	waitFor(t, 5*time.Second, "delivered", func() bool { return len(b.rec.snapshot()) == 1 })
}

// TestSimultaneousMeet: two fresh nodes MEET each other at once.
func TestSimultaneousMeet(t *testing.T) {
	a := startNode(t, t.TempDir(), 0, time.Second, nil)
	b := startNode(t, t.TempDir(), 1, time.Second, nil)
	defer a.c.Close()
	defer b.c.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.c.Meet("127.0.0.1", b.opts.Port) }()
	go func() { defer wg.Done(); _ = b.c.Meet("127.0.0.1", a.opts.Port) }()
	wg.Wait()
	waitFor(t, 5*time.Second, "one link each way, no leftover entries", func() bool {
		va, vb := a.c.View(), b.c.View()
		return len(va.Nodes) == 2 && len(vb.Nodes) == 2 && len(va.Reachable) == 1 && len(vb.Reachable) == 1
	})
}
