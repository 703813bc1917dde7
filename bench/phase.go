package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// budget hands out units of work (jobs to produce, fetches to send) to
// the connections, a batch at a time, up to a limit that may change.
type budget struct {
	claimed atomic.Int64
	limit   atomic.Int64
	slack   int64 // claims allowed past limit (set before the phase starts)
}

// claim takes up to want units and returns how many it got, numbered
// from start. (After unclaim, numbers can repeat: only the producer
// budget's numbers are used, as job sequence numbers, and it is never
// given back.)
func (b *budget) claim(want int64) (start, k int64) {
	for {
		c, l := b.claimed.Load(), b.limit.Load()
		if l <= math.MaxInt64-b.slack {
			l += b.slack
		} else {
			l = math.MaxInt64
		}
		avail := l - c
		if avail <= 0 || want <= 0 {
			return 0, 0
		}
		k := min(want, avail)
		if b.claimed.CompareAndSwap(c, c+k) {
			return c, k
		}
	}
}

// unclaim gives back n units (a fetch that found nothing).
func (b *budget) unclaim(n int64) { b.claimed.Add(-n) }

func (b *budget) exhausted() bool { return b.claimed.Load() >= b.limit.Load() }

// phaseSpec says which connections a phase runs and what they must do.
type phaseSpec struct {
	producers, consumers, mixed int
	pipeline                    int
	openRole                    role    // the role that follows --rate
	rate                        float64 // 0: closed loop
	jobs                        int64   // producer / mixed budget; <= 0: unlimited (duration)
	consLimit                   int64   // consumer budget; math.MaxInt64 until producers end
	consFinal                   bool    // consLimit is known from the start
	duration                    time.Duration
	measured                    bool // record latencies, show progress
	track                       bool // e2e tracking
	label                       string
}

// phase is the state shared by the connections of one phase.
type phase struct {
	cfg      *Config
	spec     phaseSpec
	workload Workload
	measured bool
	pipeline int
	nonce    uint16
	start    time.Time
	deadline int64 // ns since start after which no new job is produced; 0: none

	prod, cons    budget
	consFinal     atomic.Bool
	produced      atomic.Int64
	completed     atomic.Int64
	errors        atomic.Int64
	producersLeft atomic.Int32
	finished      atomic.Bool
	aborted       atomic.Bool
	abortMu       sync.Mutex
	abortErr      error
	tracker       *tracker
	workers       []*worker
}

// phaseResult is what a phase measured.
type phaseResult struct {
	elapsed                               time.Duration
	wall                                  time.Duration
	hist                                  [numOps]*Hist
	e2e, e2eTx                            *Hist
	cmds                                  [numOps]int64
	errs                                  map[string]int64
	errSample                             map[string]string
	errors                                int64
	produced, delivered, acked, completed int64
	empty, early, untracked               int64
	cpuUser, cpuSys                       time.Duration
	abortErr                              error
}

// checkFinished marks the phase finished once every job the consumers
// must complete is complete, and wakes the consumers blocked in a read.
func (r *phase) checkFinished() {
	if !r.consFinal.Load() || r.completed.Load() < r.cons.limit.Load() {
		return
	}
	if r.finished.CompareAndSwap(false, true) {
		past := time.Unix(1, 0)
		for _, w := range r.workers {
			if w.role == roleConsumer {
				_ = w.conn.SetReadDeadline(past)
			}
		}
	}
}

// abort stops every connection; err (if not nil) is the reason reported.
func (r *phase) abort(err error) {
	r.abortMu.Lock()
	if r.abortErr == nil && err != nil {
		r.abortErr = err
	}
	r.abortMu.Unlock()
	if r.aborted.CompareAndSwap(false, true) {
		past := time.Unix(1, 0)
		for _, w := range r.workers {
			_ = w.conn.SetDeadline(past)
		}
	}
}

// producerDone is called when a producer has no more work; the last one
// fixes the number of jobs the consumers must complete.
func (r *phase) producerDone() {
	if r.producersLeft.Add(-1) == 0 && !r.consFinal.Load() {
		r.cons.limit.Store(r.produced.Load())
		r.consFinal.Store(true)
		r.checkFinished()
	}
}

func newPhase(cfg *Config, spec phaseSpec, nonce uint16) *phase {
	r := &phase{cfg: cfg, spec: spec, workload: cfg.Workload, measured: spec.measured, pipeline: spec.pipeline, nonce: nonce}
	if spec.jobs > 0 {
		r.prod.limit.Store(spec.jobs)
	} else {
		r.prod.limit.Store(math.MaxInt64)
	}
	r.cons.limit.Store(spec.consLimit)
	r.consFinal.Store(spec.consFinal)
	if len(cfg.Nodes) > 1 {
		// Over several nodes a consumer's claims can strand: its fetches
		// block on a node whose queue is empty while the last jobs sit on
		// another node, whose consumers have nothing left to claim, and
		// the run's tail becomes the federation's back-off (seconds). Let
		// every consumer keep a full pipeline to the end; the phase ends
		// on completed jobs, not claims, and wakes the fetches still
		// blocked.
		r.cons.slack = int64(spec.consumers * spec.pipeline)
	}
	if spec.duration > 0 {
		r.deadline = int64(spec.duration)
	}
	if spec.track {
		n := int64(1 << 20)
		if spec.jobs > 0 {
			n = spec.jobs
		}
		r.tracker = newTracker(nonce, n)
	}
	return r
}

// connect dials every connection of the phase and prepares its requests.
func (r *phase) connect(ctx context.Context) error {
	cfg := r.cfg
	queues := cfg.QueueNames()
	body := makeBody(cfg.BodyBytes, cfg.Seed)
	add := addTemplates(cfg, queues, body)
	n := r.spec.producers + r.spec.consumers + r.spec.mixed
	var mix []opKind
	if r.spec.mixed > 0 {
		for _, m := range cfg.Mix {
			op := map[string]opKind{"addjob": opAdd, "getjob": opGet, "qlen": opQlen, "ping": opPing}[m.Op]
			for range m.Weight {
				mix = append(mix, op)
			}
		}
	}
	ping := encode(opPing, []string{"PING"}, -1, nil)
	d := net.Dialer{Timeout: cfg.DialTimeout}
	for i := range n {
		w := &worker{r: r, id: i, addr: cfg.Nodes[i%len(cfg.Nodes)], ping: ping}
		switch {
		case i < r.spec.producers:
			w.role = roleProducer
		case i < r.spec.producers+r.spec.consumers:
			w.role = roleConsumer
		default:
			w.role = roleMixed
		}
		k := i // rotation start: spreads connections over the queues
		if w.role == roleConsumer {
			k = i - r.spec.producers
		}
		if w.role != roleConsumer {
			w.add = append([]tmpl{}, add[k%len(add):]...)
			w.add = append(w.add, add[:k%len(add)]...)
		}
		if w.role != roleProducer {
			w.fetch = fetchTemplates(cfg, queues, k, w.role == roleConsumer)
			if w.role == roleConsumer && len(cfg.Nodes) > 1 && cfg.Target == Disque {
				// Over several nodes one node's queue runs dry before the
				// others: -P blocking GETJOBs in a row would hold the jobs
				// the first ones delivered (their ACKs go with the next
				// batch) for up to -P fetch timeouts. Only the first fetch
				// of a batch blocks, as with GETJOB COUNT.
				w.fetchRest = fetchTemplates(cfg, queues, k, false)
			}
			rot := rotate(queues, k)
			w.procLists = make([][]byte, len(rot))
			for j, q := range rot {
				w.procLists[j] = []byte(processingList(q))
			}
			w.qlen = lenTemplates(cfg, rot)
			w.stageOp = opAck
			switch {
			case cfg.Target == Redis:
				w.stageOp = opLrem
			case cfg.FastAck:
				w.stageOp = opFastAck
			}
		}
		w.mix = mix
		w.rng = rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
		if r.spec.rate > 0 && w.role == r.spec.openRole {
			w.open = true
		}
		w.rbuf = make([]byte, 64<<10)
		c, err := d.DialContext(ctx, "tcp", w.addr)
		if err != nil {
			r.closeAll()
			return fmt.Errorf("connect to %s: %w", w.addr, err)
		}
		w.conn = c
		r.workers = append(r.workers, w)
		if cfg.Pass != "" {
			if err := auth(c, cfg.User, cfg.Pass, cfg.DialTimeout); err != nil {
				r.closeAll()
				return fmt.Errorf("%s: %w", w.addr, err)
			}
		}
	}
	// Open-loop schedules: the rate is shared by the connections of the
	// paced role.
	var paced []*worker
	for _, w := range r.workers {
		if w.open {
			paced = append(paced, w)
		}
	}
	for i, w := range paced {
		w.sched = NewSchedule(r.spec.rate, len(paced), i)
	}
	return nil
}

func (r *phase) closeAll() {
	for _, w := range r.workers {
		_ = w.conn.Close()
	}
}

// auth sends AUTH [user] pass on a fresh connection.
func auth(c net.Conn, user, pass string, timeout time.Duration) error {
	args := []string{"AUTH", pass}
	if user != "" {
		args = []string{"AUTH", user, pass}
	}
	sc := &Client{c: c, timeout: timeout}
	rep, err := sc.Do(args...)
	if err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	if rep.Kind == '-' {
		return fmt.Errorf("AUTH: %s", rep.Str)
	}
	return nil
}

// makeBody returns n filler bytes (lower-case letters drawn from seed).
func makeBody(n int, seed int64) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6469737162656e63))
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return b
}

// run runs the phase to its end and returns what it measured.
func (r *phase) run(ctx context.Context, prog *progress) phaseResult {
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	r.start = time.Now()
	r.producersLeft.Store(int32(r.spec.producers))
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop()
			if w.role == roleProducer {
				r.producerDone()
			}
		}()
	}
	if r.spec.producers == 0 {
		r.checkFinished()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()

	stall := r.cfg.StallTimeout
	if r.spec.rate > 0 {
		stall = max(stall, time.Duration(5*float64(time.Second)/r.spec.rate))
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastProgress, lastChange := r.produced.Load()+r.completed.Load(), time.Now()
	nextLine := time.Now().Add(time.Second)
loop:
	for {
		select {
		case <-all:
			break loop
		case <-ctx.Done():
			r.abort(fmt.Errorf("interrupted: %w", context.Cause(ctx)))
		case now := <-tick.C:
			if p := r.produced.Load() + r.completed.Load(); p != lastProgress {
				lastProgress, lastChange = p, now
			} else if now.Sub(lastChange) > stall && !r.aborted.Load() {
				r.abort(fmt.Errorf("stalled: nothing completed for %v (%d of the jobs completed)", stall.Round(time.Millisecond), r.completed.Load()))
			}
			if prog != nil && now.After(nextLine) {
				prog.line(r, now)
				nextLine = nextLine.Add(time.Second)
			}
		}
	}
	wall := time.Since(r.start)
	if prog != nil {
		prog.clear()
	}
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)

	res := phaseResult{wall: wall, errs: map[string]int64{}, errSample: map[string]string{}}
	res.cpuUser = time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano())
	res.cpuSys = time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano())
	var last int64
	for _, w := range r.workers {
		for op, h := range w.hist {
			if h != nil {
				if res.hist[op] == nil {
					res.hist[op] = NewHist()
				}
				res.hist[op].Merge(h)
			}
			res.cmds[op] += w.cmds[op]
		}
		if w.e2e != nil {
			if res.e2e == nil {
				res.e2e = NewHist()
			}
			res.e2e.Merge(w.e2e)
		}
		if w.e2eTx != nil {
			if res.e2eTx == nil {
				res.e2eTx = NewHist()
			}
			res.e2eTx.Merge(w.e2eTx)
		}
		for k, v := range w.errs {
			res.errs[k] += v
			res.errors += v
			if _, ok := res.errSample[k]; !ok {
				res.errSample[k] = w.errSample[k]
			}
		}
		res.produced += w.produced
		res.delivered += w.delivered
		res.acked += w.acked
		res.completed += w.completed
		res.empty += w.empty
		res.early += w.early
		res.untracked += w.untracked
		last = max(last, w.lastDone)
	}
	res.elapsed = time.Duration(last)
	if res.elapsed <= 0 {
		res.elapsed = wall
	}
	r.abortMu.Lock()
	res.abortErr = r.abortErr
	r.abortMu.Unlock()
	if res.abortErr == nil && r.aborted.Load() {
		for _, w := range r.workers {
			if w.fatal != nil {
				res.abortErr = fmt.Errorf("%s error: %w", w.fatalKind, w.fatal)
				break
			}
		}
		if res.abortErr == nil {
			res.abortErr = errors.New("aborted")
		}
	}
	return res
}
