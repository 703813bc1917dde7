package replicate

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// pipeWriter runs a link writer over net.Pipe (synchronous: a Write blocks
// until the other end reads it), so the test controls how busy the writer
// is.
type pipeWriter struct {
	c      *Cluster
	p      *peer
	l      *outLink
	remote net.Conn
	done   chan error
}

func newPipeWriter(t *testing.T, opts Options) *pipeWriter {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 7711
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	local, remote := net.Pipe()
	p := &peer{id: testNodeID(0x77), box: newOutbox(1 << 30), m: newPeerMetrics(c.set, testNodeID(0x77))}
	p.box.setOpen(true)
	pw := &pipeWriter{c: c, p: p, l: &outLink{conn: local, closed: make(chan struct{})}, remote: remote, done: make(chan error, 1)}
	fw := &frameWriter{compress: opts.Compression}
	go func() { pw.done <- c.writeLoop(pw.l, p, fw) }()
	t.Cleanup(func() {
		pw.l.close()
		_ = remote.Close()
		<-pw.done
		_ = c.Close()
	})
	return pw
}

type readFrame struct {
	count      int
	compressed bool
	wire       int
	payload    []byte
}

// readFrames reads frames from r until it has seen want records.
func readFrames(t *testing.T, r io.Reader, want int, maxFrame int) []readFrame {
	t.Helper()
	br := bufio.NewReader(r)
	var out []readFrame
	got := 0
	for got < want {
		var lb [4]byte
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			t.Fatalf("after %d records: %v", got, err)
		}
		l := binary.BigEndian.Uint32(lb[:])
		body := make([]byte, l)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		if int(l)+4 > maxFrame {
			t.Fatalf("frame of %d bytes > max %d", l+4, maxFrame)
		}
		p, count, _, err := decodeFrameBody(body, nil, maxFrame)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRecords(p, count); err != nil {
			t.Fatal(err)
		}
		out = append(out, readFrame{count: count, compressed: body[1]&frameFlagS2 != 0, wire: int(l) + 4, payload: append([]byte(nil), p...)})
		got += count
	}
	return out
}

func TestBatchingUnderLoad(t *testing.T) {
	pw := newPipeWriter(t, Options{Compression: true})
	const senders, per = 8, 2000
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				m := Msg{Type: MsgEnqueue, ID: testJobID(byte(g)), Delay: int64(i)}
				var buf [64]byte
				if !pw.p.box.push(AppendMsg(buf[:0], &m)) {
					t.Error("push refused")
					return
				}
			}
		}(g)
	}
	// The reader starts late: the writer blocks on its first frame while
	// the senders keep queueing.
	time.Sleep(50 * time.Millisecond)
	frames := readFrames(t, pw.remote, senders*per, DefaultMaxFrameSize)
	wg.Wait()
	next := make([]int64, senders)
	compressed := 0
	for _, f := range frames {
		if f.compressed {
			compressed++
		}
		rest := f.payload
		for i := 0; i < f.count; i++ {
			var rec []byte
			rec, rest, _ = nextRecord(rest)
			m, _, err := DecodeMsg(rec)
			if err != nil {
				t.Fatal(err)
			}
			g := m.ID[0]
			if m.Delay != next[g] {
				t.Fatalf("sender %d: got seq %d want %d (order broken)", g, m.Delay, next[g])
			}
			next[g]++
		}
	}
	t.Logf("%d messages from %d goroutines in %d frames (%d compressed)", senders*per, senders, len(frames), compressed)
	if len(frames) > 200 {
		t.Fatalf("%d frames for %d messages: batching does not work", len(frames), senders*per)
	}
	st := pw.p.m.stats(pw.p.id)
	if st.FramesSent != uint64(len(frames)) || st.MessagesSent != senders*per || st.FramesCompressed != uint64(compressed) {
		t.Fatalf("stats %+v", st)
	}
	if st.PayloadBytesSent <= st.BytesSent && compressed > 0 {
		t.Logf("note: compression did not pay overall: %d -> %d", st.PayloadBytesSent, st.BytesSent)
	}
}

func TestBatchSplitAtMaxFrame(t *testing.T) {
	const maxFrame = 64 << 10
	pw := newPipeWriter(t, Options{MaxFrameSize: maxFrame})
	body := bytes.Repeat([]byte("x"), 10000)
	const n = 40 // 400 KB queued at once
	for i := 0; i < n; i++ {
		m := Msg{Type: MsgReplJob, Job: Job{ID: testJobID(byte(i)), Body: body}}
		if !pw.p.box.push(AppendMsg(nil, &m)) {
			t.Fatal("push refused")
		}
	}
	frames := readFrames(t, pw.remote, n, maxFrame)
	if len(frames) < 400000/maxFrame {
		t.Fatalf("%d frames: not split", len(frames))
	}
	i := 0
	for _, f := range frames {
		rest := f.payload
		for k := 0; k < f.count; k++ {
			var rec []byte
			rec, rest, _ = nextRecord(rest)
			m, _, err := DecodeMsg(rec)
			if err != nil || m.Job.ID != testJobID(byte(i)) || len(m.Job.Body) != len(body) {
				t.Fatalf("message %d: %v", i, err)
			}
			i++
		}
	}
}

func TestSendLimits(t *testing.T) {
	c, err := New(Options{Port: 7711, MaxFrameSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Send(testNodeID(1), []byte{byte(MsgGotJob), 0}) {
		t.Fatal("Send to an unknown node queued")
	}
	if c.Broadcast(nil) != 0 {
		t.Fatal("Broadcast of an empty message")
	}
	if c.MaxMessageSize() >= 64<<10 || c.MaxMessageSize() < 60<<10 {
		t.Fatalf("MaxMessageSize %d", c.MaxMessageSize())
	}
}
