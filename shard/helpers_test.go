package shard

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
	"testing"

	"disq/engine/job"
	"disq/netpoll/resp"
)

// Test harness: one shard driven synchronously through Step with a fake
// clock, ops built the way the engine builds them, replies collected from a
// ReplyQueue whose Wake is a no-op. No goroutines, no sockets.

const (
	testNodeID = "0123456789abcdef0123456789abcdef01234567"
	testT0     = job.Millis(1_700_000_000_000)
	testSlot   = uint16(1234)
)

// token is an opaque session: the shard only compares Sess values.
type token struct{ name string }

type harness struct {
	tb    testing.TB
	s     *Shard
	now   job.Millis
	rq    *ReplyQueue
	wakes int
	me    *token
	seq   uint32
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	h := &harness{tb: tb, now: testT0, me: &token{"me"}}
	h.rq = &ReplyQueue{}
	h.rq.Wake = func() { h.wakes++ }
	h.s = New(Config{Index: 0, Shards: 1, NodeID: testNodeID, Clock: func() job.Millis { return h.now }})
	return h
}

// call is one op with its arguments.
type call struct {
	op   Op
	args []string
}

// got is one reply item, copied out of its ReplyBatch.
type got struct {
	Sess any
	Seq  uint32
	Tag  uint32
	Code Code
	N    int64
	Raw  []byte
	R    resp.Reply // parsed Raw when Code == OK and Raw is not empty
}

func (g got) String() string {
	if g.Code == OK {
		return g.R.String()
	}
	return "code " + itoa(int(g.Code)) + " N " + itoa(int(g.N))
}

// add appends op with its args to b the way the engine does.
func (h *harness) add(b *Batch, o Op, args ...string) {
	o.A = b.NumArgs()
	for _, a := range args {
		b.Arg([]byte(a))
	}
	o.B = b.NumArgs()
	if o.RQ == nil {
		o.RQ = h.rq
	}
	if o.Sess == nil {
		o.Sess = h.me
	}
	if o.Seq == 0 {
		h.seq++
		o.Seq = h.seq
	}
	b.Ops = append(b.Ops, o)
}

// step runs the calls as one batch at the current time and returns the
// replies queued on h.rq (ops aimed at another ReplyQueue: drain it with
// take).
func (h *harness) step(calls ...call) []got {
	h.tb.Helper()
	var bs []*Batch
	if len(calls) > 0 {
		b := GetBatch()
		for _, c := range calls {
			h.add(b, c.op, c.args...)
		}
		bs = append(bs, b)
	}
	h.s.Step(bs, h.now)
	return h.take(h.rq)
}

// take drains rq.
func (h *harness) take(rq *ReplyQueue) []got {
	h.tb.Helper()
	var out []got
	for _, rb := range rq.Take(nil) {
		for k := range rb.Items {
			it := &rb.Items[k]
			g := got{Sess: it.Sess, Seq: it.Seq, Tag: it.Tag, Code: it.Code, N: it.N}
			g.Raw = append([]byte(nil), rb.Bytes(it)...)
			if it.Code == OK && len(g.Raw) > 0 {
				r, n, err := resp.ReadReply(g.Raw)
				if err != nil || n != len(g.Raw) {
					h.tb.Fatalf("reply %q: parsed %d of %d bytes, err %v", g.Raw, n, len(g.Raw), err)
				}
				g.R = r
			}
			out = append(out, g)
		}
		rb.Release()
	}
	return out
}

// do runs one op and returns its only reply.
func (h *harness) do(o Op, args ...string) got {
	h.tb.Helper()
	rs := h.step(call{o, args})
	if len(rs) != 1 {
		h.tb.Fatalf("op kind %d %q: got %d replies %v; want 1", o.Kind, args, len(rs), rs)
	}
	return rs[0]
}

// advance moves the clock by d ms and runs an empty Step.
func (h *harness) advance(d job.Millis) []got {
	h.tb.Helper()
	h.now += d
	return h.step()
}

// ---- op builders -----------------------------------------------------------

// addJobOpts runs ADDJOB with REPLICATE 1 and the given delay, retry and
// ttl (seconds), and returns the ID.
func (h *harness) addJobOpts(tenant uint16, queue, body string, delay, retry, ttl int64) string {
	h.tb.Helper()
	r := h.do(Op{Kind: OpAddJob, Tenant: tenant, Slot: testSlot, N: [6]int64{1, delay, retry, ttl}}, queue, body)
	if r.Code != OK || r.R.Kind != resp.KindSimple || len(r.R.Str) != job.IDLen {
		h.tb.Fatalf("ADDJOB %s %s: got %v; want +<id>", queue, body, r)
	}
	return string(r.R.Str)
}

func (h *harness) addJob(queue, body string) string {
	h.tb.Helper()
	return h.addJobOpts(0, queue, body, 0, 30, 3600)
}

func getOp(flags uint16, count, timeout int64) Op {
	return Op{Kind: OpGetJob, Flags: flags, N: [6]int64{count, timeout}}
}

// getNoHang runs GETJOB NOHANG COUNT count FROM queues.
func (h *harness) getNoHang(count int64, queues ...string) got {
	h.tb.Helper()
	return h.do(getOp(FlagNoHang, count, 0), queues...)
}

// fetched returns (queue, id, body) of each job of a GETJOB reply.
func fetched(tb testing.TB, r got) [][3]string {
	tb.Helper()
	if r.Code != OK || r.R.Kind != resp.KindArray || r.R.IsNull() {
		tb.Fatalf("GETJOB reply %v; want a job array", r)
	}
	var out [][3]string
	for _, e := range r.R.Elems {
		if e.Kind != resp.KindArray || (len(e.Elems) != 3 && len(e.Elems) != 7) {
			tb.Fatalf("job item %v; want *3 or *7", e)
		}
		for _, f := range e.Elems[:3] {
			if f.Kind != resp.KindBulk || f.IsNull() {
				tb.Fatalf("job item %v: fields must be bulk strings", e)
			}
		}
		out = append(out, [3]string{string(e.Elems[0].Str), string(e.Elems[1].Str), string(e.Elems[2].Str)})
	}
	return out
}

func (h *harness) ids(sub uint8, tenant uint16, ids ...string) int64 {
	h.tb.Helper()
	r := h.do(Op{Kind: OpIDs, Sub: sub, Tenant: tenant}, ids...)
	if r.Code != Part || len(r.Raw) != 0 {
		h.tb.Fatalf("OpIDs sub %d: got %v; want a Part count", sub, r)
	}
	return r.N
}

func (h *harness) qlen(tenant uint16, queue string) int64 {
	h.tb.Helper()
	r := h.do(Op{Kind: OpQLen, Tenant: tenant}, queue)
	if r.R.Kind != resp.KindInt {
		h.tb.Fatalf("QLEN %s: got %v", queue, r)
	}
	return r.R.Int
}

// show returns SHOW's fields as a map (nil for $-1).
func (h *harness) show(tenant uint16, id string) map[string]resp.Reply {
	h.tb.Helper()
	r := h.do(Op{Kind: OpShow, Tenant: tenant}, id)
	return showMap(h.tb, r.R)
}

var showKeys = []string{"id", "queue", "state", "repl", "ttl", "ctime", "delay", "retry", "nacks",
	"additional-deliveries", "nodes-delivered", "nodes-confirmed", "next-requeue-within", "next-awake-within", "body"}

func showMap(tb testing.TB, r resp.Reply) map[string]resp.Reply {
	tb.Helper()
	if r.Kind == resp.KindBulk && r.IsNull() {
		return nil
	}
	if r.Kind != resp.KindArray || len(r.Elems) != 30 {
		tb.Fatalf("SHOW reply %v; want 30 elements", r)
	}
	m := map[string]resp.Reply{}
	for k := 0; k < 30; k += 2 {
		if key := string(r.Elems[k].Str); key != showKeys[k/2] {
			tb.Fatalf("SHOW key %d = %q; want %q", k/2, key, showKeys[k/2])
		}
		m[string(r.Elems[k].Str)] = r.Elems[k+1]
	}
	return m
}

func (h *harness) state(id string) string {
	h.tb.Helper()
	m := h.show(0, id)
	if m == nil {
		return "(nil)"
	}
	return string(m["state"].Str)
}

func (h *harness) pause(queue string, set bool, st uint8) string {
	h.tb.Helper()
	o := Op{Kind: OpPause, N: [6]int64{int64(st)}}
	if set {
		o.Flags = FlagSetPause
	}
	r := h.do(o, queue)
	if r.R.Kind != resp.KindSimple {
		h.tb.Fatalf("PAUSE reply %v", r)
	}
	return string(r.R.Str)
}

// qstat returns QSTAT's fields in order as "k=v" strings, or nil for *-1.
func (h *harness) qstat(tenant uint16, queue string) []string {
	h.tb.Helper()
	r := h.do(Op{Kind: OpQStat, Tenant: tenant}, queue)
	if r.R.Kind == resp.KindArray && r.R.IsNull() {
		return nil
	}
	if len(r.R.Elems) != 20 {
		h.tb.Fatalf("QSTAT reply %v; want 20 elements", r)
	}
	var out []string
	for k := 0; k < 20; k += 2 {
		v := r.R.Elems[k+1]
		val := strings.Trim(v.String(), `"`)
		if v.Kind == resp.KindInt {
			val = strconv.FormatInt(v.Int, 10)
		}
		out = append(out, string(r.R.Elems[k].Str)+"="+val)
	}
	return out
}

// scanPart decodes a QSCAN/JSCAN Part: the item count and the items.
func scanPart(tb testing.TB, g got) []resp.Reply {
	tb.Helper()
	if g.Code != Part || len(g.Raw) < 4 {
		tb.Fatalf("scan reply %v; want a Part", g)
	}
	n := int(binary.LittleEndian.Uint32(g.Raw))
	data := g.Raw[4:]
	var items []resp.Reply
	for len(data) > 0 {
		r, k, err := resp.ReadReply(data)
		if err != nil || k == 0 {
			tb.Fatalf("scan item at %q: %v", data, err)
		}
		items = append(items, r)
		data = data[k:]
	}
	if len(items) != n {
		tb.Fatalf("scan Part says %d items; has %d", n, len(items))
	}
	return items
}

func sorted(a []string) []string {
	b := append([]string(nil), a...)
	sort.Strings(b)
	return b
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// idOf extracts the first 40-byte bulk ID from a raw GETJOB reply without
// allocating (used by the allocation guard and the benchmark).
func idOf(raw []byte) []byte {
	k := bytes.Index(raw, []byte("$40\r\n"))
	if k < 0 || k+5+40 > len(raw) {
		return nil
	}
	return raw[k+5 : k+5+40]
}

// cycler drives the steady state of the job path: every Step carries n
// ADDJOB, n GETJOB NOHANG and n ACKJOB ops on one existing queue, the ACKs
// naming the jobs fetched by the previous Step. The driver itself does not
// allocate once warm (pooled batches, reused slices).
type cycler struct {
	s     *Shard
	rq    *ReplyQueue
	sess  *token
	now   job.Millis
	n     int
	queue []byte
	body  []byte
	ids   [][job.IDLen]byte
	nids  int
	acked int64
	bs    [1]*Batch
	dst   []*ReplyBatch
	wait  func() // nil: replies are there after Step (no log)
}

const (
	seqAdd = 1 + iota
	seqGet
	seqAck
)

func newCycler(n int, body []byte) *cycler {
	c := &cycler{
		rq:    &ReplyQueue{Wake: func() {}},
		sess:  &token{"cycler"},
		now:   testT0,
		n:     n,
		queue: []byte("queue"),
		body:  body,
		ids:   make([][job.IDLen]byte, n),
	}
	c.s = New(Config{Index: 0, Shards: 1, NodeID: testNodeID, Clock: func() job.Millis { return c.now }})
	return c
}

func (c *cycler) step() {
	b := GetBatch()
	for k := 0; k < c.n; k++ {
		a := b.NumArgs()
		b.Arg(c.queue)
		b.Arg(c.body)
		b.Ops = append(b.Ops, Op{Kind: OpAddJob, Slot: testSlot, Seq: seqAdd, A: a, B: b.NumArgs(),
			N: [6]int64{1, 0, 30, 3600}, Sess: c.sess, RQ: c.rq})
	}
	for k := 0; k < c.n; k++ {
		a := b.NumArgs()
		b.Arg(c.queue)
		b.Ops = append(b.Ops, Op{Kind: OpGetJob, Flags: FlagNoHang, Seq: seqGet, A: a, B: b.NumArgs(),
			N: [6]int64{1}, Sess: c.sess, RQ: c.rq})
	}
	for k := 0; k < c.nids; k++ {
		a := b.NumArgs()
		b.Arg(c.ids[k][:])
		b.Ops = append(b.Ops, Op{Kind: OpIDs, Sub: IDAck, Seq: seqAck, A: a, B: b.NumArgs(), Sess: c.sess, RQ: c.rq})
	}
	c.nids = 0
	c.now++
	c.bs[0] = b
	c.s.Step(c.bs[:], c.now)
	c.bs[0] = nil
	if c.wait != nil {
		c.wait()
	}
	c.dst = c.rq.Take(c.dst[:0])
	for _, rb := range c.dst {
		for k := range rb.Items {
			it := &rb.Items[k]
			switch it.Seq {
			case seqGet:
				if id := idOf(rb.Bytes(it)); id != nil && c.nids < len(c.ids) {
					copy(c.ids[c.nids][:], id)
					c.nids++
				}
			case seqAck:
				c.acked += it.N
			}
		}
		rb.Release()
	}
	clear(c.dst)
}
