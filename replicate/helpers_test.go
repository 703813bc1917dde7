package replicate

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freePort returns a client port below 55535 whose port and port+10000 are
// both free on 127.0.0.1 (spec: bus = client + 10000; port 0 is reserved).
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		p := 20000 + rand.IntN(25000)
		ok := true
		for _, q := range []int{p, p + BusPortOffset} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				ok = false
				break
			}
			_ = ln.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DISQ_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// recorder is a Handler that copies what it receives.
type recorder struct {
	mu    sync.Mutex
	msgs  []recvMsg
	views int
	ch    chan struct{}
}

type recvMsg struct {
	from NodeID
	enc  []byte // the message's received bytes (Msg.Raw, copied)
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) OnMessages(from NodeID, msgs []Msg) {
	r.mu.Lock()
	for i := range msgs {
		// Keep Raw, not a re-encoding: the tests comparing enc with what
		// was sent then also check that Raw is the message's encoding.
		r.msgs = append(r.msgs, recvMsg{from: from, enc: bytes.Clone(msgs[i].Raw)})
	}
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) OnMembership(v *View) {
	r.mu.Lock()
	r.views++
	r.mu.Unlock()
}

func (r *recorder) snapshot() []recvMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recvMsg(nil), r.msgs...)
}

// testNode is one Cluster of a test with its options (to restart it).
type testNode struct {
	c    *Cluster
	opts Options
	rec  *recorder
}

func startNode(t testing.TB, dir string, i int, timeout time.Duration, mod func(*Options)) *testNode {
	t.Helper()
	rec := newRecorder()
	opts := Options{
		Addr:        "127.0.0.1",
		Port:        freePort(t),
		NodeTimeout: timeout,
		Compression: true,
		Logger:      testLogger(t),
		Handler:     rec,
	}
	if dir != "" {
		opts.ConfigFile = filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i))
	}
	if opts.Logger != nil {
		opts.Logger = opts.Logger.With("node", i, "port", opts.Port)
	}
	if mod != nil {
		mod(&opts)
	}
	tn := &testNode{opts: opts, rec: rec}
	tn.start(t)
	return tn
}

func (tn *testNode) start(t testing.TB) {
	t.Helper()
	var err error
	for try := 0; try < 20; try++ {
		if tn.c, err = New(tn.opts); err != nil {
			t.Fatal(err)
		}
		if err = tn.c.Start(); err == nil {
			return
		}
		_ = tn.c.Close() // port taken meanwhile (or still in TIME_WAIT use): retry
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(err)
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flagsOf(c *Cluster, id NodeID) (NodeFlags, bool) {
	n, ok := c.View().Node(id)
	return n.Flags, ok
}

func helloPrio(c *Cluster, id NodeID) int {
	for _, h := range c.Hello() {
		if h.ID == id {
			return h.Priority
		}
	}
	return -1
}

func mustHex(s string) []byte {
	var out []byte
	for i := 0; i+1 < len(s); {
		if s[i] == ' ' || s[i] == '\n' || s[i] == '\t' {
			i++
			continue
		}
		out = append(out, unhex(s[i])<<4|unhex(s[i+1]))
		i += 2
	}
	return out
}

func hexOf(b []byte) string {
	var buf bytes.Buffer
	for _, c := range b {
		buf.WriteByte(hexdigits[c>>4])
		buf.WriteByte(hexdigits[c&15])
	}
	return buf.String()
}

// countHandler counts job messages.
type countHandler struct{ n atomic.Int64 }

func (h *countHandler) OnMessages(from NodeID, msgs []Msg) { h.n.Add(int64(len(msgs))) }
func (h *countHandler) OnMembership(v *View)               {}
