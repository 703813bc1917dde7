package bench

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"disq/netpoll/resp"
)

type role uint8

const (
	roleProducer role = iota
	roleConsumer
	roleMixed
)

// pending is one request awaiting its reply.
type pending struct {
	t       int64 // send time (intended send time in open loop), ns since the phase start
	tok     uint64
	op      opKind
	claimed bool // holds one unit of a budget (fetches, mixed commands)
	qi      int32
}

// pendRing is a FIFO of pending requests: replies come back in order.
type pendRing struct {
	buf        []pending
	head, size int
}

func (r *pendRing) push(p pending) {
	if r.size == len(r.buf) {
		nb := make([]pending, max(16, 2*len(r.buf)))
		for i := 0; i < r.size; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = p
	r.size++
}

func (r *pendRing) pop() pending {
	p := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return p
}

// staged is an acknowledgement to send with the next batch: ACKJOB or
// FASTACK of a job ID, or LREM of a body (lmove), held in worker.arena.
type staged struct {
	off, n int
	qi     int32
}

// worker drives one connection: it is the only goroutine touching it.
type worker struct {
	r     *phase
	id    int // index among all connections of the phase
	role  role
	addr  string
	conn  net.Conn
	open  bool // open loop (--rate)
	sched Schedule

	add, fetch, qlen []tmpl
	fetchRest        []tmpl // if set: fetches after the first of a batch (NOHANG)
	addI, fetchI     int
	ping             tmpl
	procLists        [][]byte // lmove: processing list of each queue
	ackOp            opKind
	mix              []opKind // mixed: weighted choice table
	rng              *rand.Rand

	wbuf    []byte
	rbuf    []byte
	rp, rn  int
	pend    pendRing
	seq     uint64 // sequence number of the next job (claimed from the producer budget)
	arena   []byte
	stage   []staged
	jobs    []jobSpan
	stageOp opKind // op of staged entries

	// Counters and histograms: written by the worker under mu (taken once
	// per read), read by the progress line and at the end.
	mu         sync.Mutex
	hist       [numOps]*Hist
	e2e, e2eTx *Hist
	cmds       [numOps]int64
	errs       map[string]int64
	errSample  map[string]string
	empty      int64
	produced   int64
	delivered  int64
	acked      int64
	completed  int64
	early      int64
	untracked  int64
	lastDone   int64
	inflight   atomic.Int64 // requests in flight, for the progress line
	fatal      error
	fatalKind  string
	localProd  int64 // not yet flushed to phase.produced
	localDone  int64 // not yet flushed to phase.completed
	unclaimCnt int64 // not yet returned to the consumer budget
}

var errStop = errors.New("stopped")

// now returns nanoseconds since the phase started.
func (w *worker) now() int64 { return int64(time.Since(w.r.start)) }

// loop runs the connection until its share of the work is done.
func (w *worker) loop() {
	defer w.conn.Close()
	r := w.r
	for {
		if r.aborted.Load() || (w.role == roleConsumer && r.finished.Load()) {
			return
		}
		now := w.now()
		w.wbuf = w.wbuf[:0]
		if w.open || w.pend.size == 0 {
			w.appendStaged(now)
			w.appendSends(now)
		}
		if len(w.wbuf) > 0 {
			if _, err := w.conn.Write(w.wbuf); err != nil {
				w.ioError(err)
				return
			}
		}
		w.inflight.Store(int64(w.pend.size))
		if w.pend.size == 0 {
			if len(w.stage) == 0 && w.done(now) {
				return
			}
			w.idle(now)
			continue
		}
		if w.open {
			d := now + int64(100*time.Millisecond)
			if nx := w.sched.Next(); w.pend.size < r.pipeline && nx > now {
				d = min(d, nx)
			}
			_ = w.conn.SetReadDeadline(r.start.Add(time.Duration(d)))
		}
		if err := w.read(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if r.aborted.Load() || (w.role == roleConsumer && r.finished.Load()) {
					return
				}
				if !w.open {
					_ = w.conn.SetReadDeadline(time.Time{})
				}
				continue
			}
			if err != errStop {
				w.ioError(err)
			}
			return
		}
	}
}

// read reads once and handles every complete reply.
func (w *worker) read() error {
	if w.rp == w.rn {
		w.rp, w.rn = 0, 0
	} else if len(w.rbuf)-w.rn < 4096 {
		n := copy(w.rbuf, w.rbuf[w.rp:w.rn])
		w.rp, w.rn = 0, n
		if len(w.rbuf)-w.rn < 4096 {
			nb := make([]byte, 2*len(w.rbuf))
			copy(nb, w.rbuf[:w.rn])
			w.rbuf = nb
		}
	}
	n, err := w.conn.Read(w.rbuf[w.rn:])
	if n > 0 {
		w.rn += n
		if perr := w.process(w.now()); perr != nil {
			return perr
		}
	}
	return err
}

// process handles the complete replies in the buffer, all read at t.
func (w *worker) process(t int64) error {
	r := w.r
	w.mu.Lock()
	for w.rp < w.rn {
		n, kind, err := resp.SkipReply(w.rbuf[w.rp:w.rn])
		if err != nil {
			w.setFatal("protocol", "bad reply: "+err.Error())
			w.mu.Unlock()
			return errStop
		}
		if n == 0 {
			break
		}
		if w.pend.size == 0 {
			w.setFatal("protocol", "reply without a request")
			w.mu.Unlock()
			return errStop
		}
		rep := w.rbuf[w.rp : w.rp+n]
		w.rp += n
		w.handle(w.pend.pop(), kind, rep, t)
	}
	w.mu.Unlock()
	if w.localProd > 0 {
		r.produced.Add(w.localProd)
		w.localProd = 0
	}
	if w.unclaimCnt > 0 {
		r.cons.unclaim(w.unclaimCnt)
		w.unclaimCnt = 0
	}
	if w.localDone > 0 {
		r.completed.Add(w.localDone)
		w.localDone = 0
		r.checkFinished()
	}
	return nil
}

func (w *worker) complete(t int64) {
	w.completed++
	w.localDone++
	w.lastDone = t
}

// handle processes one reply; called with mu held.
func (w *worker) handle(p pending, kind resp.Kind, rep []byte, t int64) {
	r := w.r
	if r.measured {
		h := w.hist[p.op]
		if h == nil {
			h = NewHist()
			w.hist[p.op] = h
		}
		h.Record(t - p.t)
	}
	w.cmds[p.op]++
	if kind == resp.KindError {
		w.errorReply(rep)
		w.failed(p, t)
		return
	}
	switch p.op {
	case opAdd, opLpush:
		want := resp.KindSimple
		if p.op == opLpush {
			want = resp.KindInt
		}
		if kind != want {
			w.unexpected(p, rep)
			w.failed(p, t)
			return
		}
		w.produced++
		w.localProd++
		if r.tracker != nil {
			if lat, ok := r.tracker.replied(p.tok, t, true); ok {
				w.recordE2E(lat)
			}
		}
		if w.role == roleMixed || r.workload == Produce {
			w.complete(t)
		}
	case opGet, opRpop, opBrpop, opLmove:
		var body []byte
		var ok bool
		switch {
		case p.op == opGet && kind == resp.KindArray:
			w.jobs = walkJobs(w.jobs[:0], rep)
			if len(w.jobs) > 0 {
				ok = true
				body = w.jobs[0].body
				w.stageBytes(w.jobs[0].id, p.qi)
			}
		case p.op == opBrpop && kind == resp.KindArray:
			body = brpopBody(rep)
			ok = body != nil
		case (p.op == opRpop || p.op == opLmove) && kind == resp.KindBulk:
			body, _ = bulkAt(rep, 0)
			ok = body != nil
			if ok && p.op == opLmove {
				w.stageBytes(body, p.qi)
			}
		default:
			w.unexpected(p, rep)
			w.failed(p, t)
			return
		}
		if !ok {
			w.empty++
			if w.role == roleMixed {
				w.complete(t)
			} else if p.claimed {
				w.unclaimCnt++
			}
			return
		}
		w.delivered++
		if r.tracker != nil {
			w.trackDelivery(body, t)
		}
		if w.role == roleMixed {
			w.complete(t)
		} else if p.op == opRpop || p.op == opBrpop {
			w.complete(t) // no acknowledgement in these patterns
		}
	case opAck, opFastAck, opLrem:
		if kind != resp.KindInt {
			w.unexpected(p, rep)
			w.failed(p, t)
			return
		}
		if v, _ := header(rep, 0); v != 1 {
			w.addErr("ack-miss", p.op.String()+" replied "+string(rep[:len(rep)-2]))
			if w.role == roleConsumer {
				w.unclaimCnt++ // let another fetch take a job this claim was spent on
			}
			return
		}
		w.acked++
		if w.role == roleConsumer {
			w.complete(t)
		}
	default: // QLEN, LLEN, PING
		if w.role == roleMixed {
			w.complete(t)
		}
	}
}

// failed handles a request whose reply was an error.
func (w *worker) failed(p pending, t int64) {
	if p.op == opAdd || p.op == opLpush {
		if w.r.tracker != nil {
			w.r.tracker.replied(p.tok, t, false)
		}
		return
	}
	if p.claimed && w.role == roleConsumer {
		w.unclaimCnt++
	}
}

func (w *worker) trackDelivery(body []byte, t int64) {
	tok, ok := getToken(body)
	if !ok {
		w.untracked++
		return
	}
	fromSend, tracked, lat, record := w.r.tracker.delivered(tok, t)
	if !tracked {
		w.untracked++
		return
	}
	if w.e2eTx == nil {
		w.e2eTx = NewHist()
	}
	w.e2eTx.Record(fromSend)
	if record {
		w.recordE2E(lat)
	}
}

func (w *worker) recordE2E(lat int64) {
	if lat < 0 {
		w.early++
		lat = 0
	}
	if w.e2e == nil {
		w.e2e = NewHist()
	}
	w.e2e.Record(lat)
}

// stageBytes copies b (a job ID, or a body for LREM) for the next batch.
func (w *worker) stageBytes(b []byte, qi int32) {
	off := len(w.arena)
	w.arena = append(w.arena, b...)
	w.stage = append(w.stage, staged{off: off, n: len(b), qi: qi})
}

func (w *worker) errorReply(rep []byte) {
	line := rep[1 : len(rep)-2]
	kind := line
	for i, c := range line {
		if c == ' ' {
			kind = line[:i]
			break
		}
	}
	w.addErr(string(kind), string(line))
}

func (w *worker) unexpected(p pending, rep []byte) {
	s := rep
	if len(s) > 60 {
		s = s[:60]
	}
	w.addErr("unexpected-reply", p.op.String()+" replied "+string(s))
}

func (w *worker) addErr(kind, sample string) {
	if w.errs == nil {
		w.errs = map[string]int64{}
		w.errSample = map[string]string{}
	}
	w.errs[kind]++
	if _, ok := w.errSample[kind]; !ok {
		w.errSample[kind] = sample
	}
	w.r.errors.Add(1)
}

func (w *worker) setFatal(kind, msg string) {
	if w.fatal == nil {
		w.fatal = errors.New(msg)
		w.fatalKind = kind
		w.addErr(kind, msg)
	}
	w.r.abort(nil) // one broken connection ends the run: its jobs cannot complete
}

func (w *worker) ioError(err error) {
	if w.r.aborted.Load() || (w.role == roleConsumer && w.r.finished.Load()) {
		return // woken on purpose
	}
	w.mu.Lock()
	w.setFatal("io", w.addr+": "+err.Error())
	w.mu.Unlock()
}

// appendStaged appends the acknowledgements of the jobs delivered so far.
func (w *worker) appendStaged(now int64) {
	if len(w.stage) == 0 {
		return
	}
	for _, s := range w.stage {
		b := w.arena[s.off : s.off+s.n]
		switch w.stageOp {
		case opLrem:
			w.wbuf = append(w.wbuf, "*4\r\n$4\r\nLREM\r\n"...)
			w.wbuf = resp.AppendBulk(w.wbuf, w.procLists[s.qi])
			w.wbuf = append(w.wbuf, "$2\r\n-1\r\n"...)
			w.wbuf = resp.AppendBulk(w.wbuf, b)
		case opFastAck:
			w.wbuf = append(w.wbuf, "*2\r\n$7\r\nFASTACK\r\n"...)
			w.wbuf = resp.AppendBulk(w.wbuf, b)
		default:
			w.wbuf = append(w.wbuf, "*2\r\n$6\r\nACKJOB\r\n"...)
			w.wbuf = resp.AppendBulk(w.wbuf, b)
		}
		w.pend.push(pending{t: now, op: w.stageOp})
	}
	w.stage = w.stage[:0]
	w.arena = w.arena[:0]
}

// sendCount returns how many requests to send now and the budget to
// claim them from, following the closed or open loop.
func (w *worker) sendCount(now int64, b *budget) int64 {
	r := w.r
	if w.pastDeadline(now) {
		return 0
	}
	want := int64(r.pipeline)
	if w.open {
		due := now
		if w.deadlineApplies() {
			due = min(due, r.deadline-1) // nothing intended at or after the deadline
		}
		want = min(w.sched.Due(due), int64(r.pipeline-w.pend.size))
		if want <= 0 {
			return 0
		}
	}
	start, k := b.claim(want)
	w.seq = uint64(start)
	return k
}

// sendTime returns the time a send is charged from: now in the closed
// loop, its intended time in the open loop.
func (w *worker) sendTime(now int64) int64 {
	if w.open {
		return w.sched.Advance()
	}
	return now
}

func (w *worker) appendSends(now int64) {
	r := w.r
	switch w.role {
	case roleProducer:
		k := w.sendCount(now, &r.prod)
		for ; k > 0; k-- {
			w.appendAdd(w.sendTime(now), false)
		}
	case roleConsumer:
		if r.finished.Load() {
			return
		}
		k := w.sendCount(now, &r.cons)
		for first := true; k > 0; k-- {
			w.appendFetch(w.sendTime(now), true, first)
			first = false
		}
	case roleMixed:
		k := w.sendCount(now, &r.prod)
		for ; k > 0; k-- {
			t := w.sendTime(now)
			switch op := w.mix[w.rng.IntN(len(w.mix))]; op {
			case opAdd:
				w.appendAdd(t, true)
			case opGet:
				w.appendFetch(t, true, true)
			case opQlen:
				q := &w.qlen[w.addI%len(w.qlen)]
				w.wbuf = append(w.wbuf, q.b...)
				w.pend.push(pending{t: t, op: q.op, claimed: true})
			default:
				w.wbuf = append(w.wbuf, w.ping.b...)
				w.pend.push(pending{t: t, op: opPing, claimed: true})
			}
		}
	}
}

func (w *worker) appendAdd(t int64, claimed bool) {
	tp := &w.add[w.addI]
	w.addI++
	if w.addI == len(w.add) {
		w.addI = 0
	}
	tok := makeToken(w.r.nonce, w.seq)
	w.seq++
	start := len(w.wbuf)
	w.wbuf = append(w.wbuf, tp.b...)
	if tp.tok >= 0 {
		putToken(w.wbuf[start+tp.tok:], tok)
	}
	if w.r.tracker != nil {
		w.r.tracker.sent(tok, t)
	}
	w.pend.push(pending{t: t, op: tp.op, tok: tok, claimed: claimed})
}

// appendFetch appends the next fetch; first says it opens its batch (only
// that one blocks when fetchRest is set).
func (w *worker) appendFetch(t int64, claimed, first bool) {
	qi := w.fetchI
	tp := &w.fetch[qi]
	if !first && w.fetchRest != nil {
		tp = &w.fetchRest[qi]
	}
	w.fetchI++
	if w.fetchI == len(w.fetch) {
		w.fetchI = 0
	}
	w.wbuf = append(w.wbuf, tp.b...)
	w.pend.push(pending{t: t, op: tp.op, claimed: claimed, qi: int32(qi)})
}

// pastDeadline reports whether --duration is over for this connection's
// sends: producers and mixed connections stop at the deadline, consumers
// only in consume (in cycle and e2e they drain what was produced).
func (w *worker) pastDeadline(now int64) bool {
	if !w.deadlineApplies() {
		return false
	}
	if w.open {
		return w.sched.Next() >= w.r.deadline
	}
	return now >= w.r.deadline
}

func (w *worker) deadlineApplies() bool {
	return w.r.deadline > 0 && (w.role != roleConsumer || w.r.workload == Consume)
}

// done reports, with nothing in flight, whether this connection has no
// more work.
func (w *worker) done(now int64) bool {
	r := w.r
	if r.aborted.Load() {
		return true
	}
	if w.pastDeadline(now) {
		return true
	}
	switch w.role {
	case roleConsumer:
		return r.finished.Load()
	default:
		return r.prod.exhausted()
	}
}

// idle waits when there is nothing in flight and nothing to send yet.
func (w *worker) idle(now int64) {
	d := time.Millisecond
	if w.open {
		if next := w.sched.Next(); next > now {
			d = min(time.Duration(next-now), 100*time.Millisecond)
		} else {
			return
		}
	}
	time.Sleep(d)
}
