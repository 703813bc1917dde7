package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"disq/engine/config"
	"disq/netpoll"
	"disq/netpoll/resp"
	"disq/replicate"
	"disq/shard"
	"disq/tenant"
)

// Options are the parts of the server the engine needs besides its
// configuration.
type Options struct {
	NodeID     string // 40 lowercase hex characters
	Shards     int    // shard goroutines (0 = cfg.Shards, or GOMAXPROCS)
	Logger     *slog.Logger
	Executable string
	// Shutdown is called (on its own goroutine) by SHUTDOWN; it must stop
	// the process after a clean shutdown.
	Shutdown func(rewriteAOF bool) error
	// SetLogLevel applies CONFIG SET loglevel (debug|verbose|notice|warning).
	SetLogLevel func(level string)
	// Tenants is the tenant registry (nil: an in-memory registry with only
	// the default tenant).
	Tenants *tenant.Registry
	// Cluster is the node's cluster bus and membership (nil: a lone node,
	// e.g. with port 0). The engine hands it to the shards as their Bus.
	Cluster *replicate.Cluster
	// Restart re-executes the server after delay (DEBUG RESTART /
	// CRASH-AND-RECOVER); clean asks for a config rewrite and a clean
	// shutdown first. It returns an error if the restart cannot happen.
	Restart func(delay time.Duration, clean bool) error
}

// Engine is the command layer of one node.
type Engine struct {
	cfg    atomic.Pointer[config.Config]
	opts   Options
	reg    *tenant.Registry
	log    *slog.Logger
	shards []*shard.Shard
	nodeID string
	runID  string
	start  time.Time

	cmds    map[string]*Command
	cmdList []*Command // table order, renames applied

	loopsMu sync.Mutex
	loops   []*loopState

	clients      atomic.Int64
	nextClientID atomic.Uint64
	monitors     atomic.Int64 // MONITOR clients, node-wide
	pauseUntil   atomic.Int64 // CLIENT PAUSE deadline, unix ms
	slowlog      slowLog
	latency      latencyMonitor
	slowMicros   atomic.Int64 // slowlog-log-slower-than, for the shards
	recordMicros atomic.Int64 // smallest duration the slow log or latency monitor records
	memLevel     atomic.Int32 // 0, 1 (> 75% of maxmemory), 2 (> 95%)
	inflight     atomic.Int64 // bytes of arguments in shards, node-wide

	stats engineStats
	mem   memStats

	logw shard.Log // the log writer; nil when appendonly is off
	pers persistence

	stopCron chan struct{}
	cronDone chan struct{}

	tsync *tenantSync // tenant definitions across the cluster (nil for a lone node)
}

type cmdStat struct {
	calls atomic.Int64
	usec  atomic.Int64
}

// loopStats are counters written only by their loop (no cache-line
// ping-pong between loops) and summed by INFO.
type loopStats struct {
	commands atomic.Int64
	netIn    atomic.Int64
	netOut   atomic.Int64
	cmds     []cmdStat // per command id
	_        [64]byte
}

type engineStats struct {
	connections atomic.Int64 // total_connections_received
	rejected    atomic.Int64
	opsPrev     atomic.Int64 // for instantaneous_ops_per_sec
	opsRate     atomic.Int64
	inPrev      atomic.Int64
	inRate      atomic.Int64
	outPrev     atomic.Int64
	outRate     atomic.Int64
}

// Per-connection and node-wide limits on requests handed to shards and not
// yet answered; past them a session stops parsing until replies return.
const (
	maxInflight      = 1024
	maxInflightBytes = 64 << 20
)

// New creates the engine, replays the append-only file if the
// configuration asks for it, and starts the shards.
func New(cfg *config.Config, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{opts: opts, log: opts.Logger, nodeID: opts.NodeID, start: time.Now(),
		stopCron: make(chan struct{}), cronDone: make(chan struct{})}
	e.cfg.Store(cfg)
	e.slowMicros.Store(cfg.SlowlogLogSlowerThan)
	e.setRecordThreshold(cfg)
	e.reg = opts.Tenants
	if e.reg == nil {
		e.reg, _ = tenant.New(tenant.Options{Logger: opts.Logger,
			DefaultPassword: func() string { return e.Config().RequirePass }})
	}
	e.reg.Watch(func(c tenant.Change) {
		if c.Kind == tenant.Deleted {
			e.tenantDeleted(c.Tenant)
		}
	})
	e.reg.SetQueueStats(e.queueStats)
	if opts.Cluster != nil {
		e.tsync = newTenantSync(e, opts.Cluster)
		e.reg.Watch(e.tsync.watch)
	}
	var rid [20]byte
	_, _ = rand.Read(rid[:])
	e.runID = hex.EncodeToString(rid[:])
	n := opts.Shards
	if n <= 0 {
		n = cfg.Shards
	}
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for i := 0; i < n; i++ {
		sc := shard.Config{Index: i, Shards: n, NodeID: opts.NodeID,
			MemLevel: &e.memLevel,
			Acct:     acct{e.reg}, TenantName: e.tenantName, TenantIndex: e.tenantIndex, Log: &e.logw}
		if opts.Cluster != nil {
			sc.Bus = opts.Cluster
		}
		e.shards = append(e.shards, shard.New(sc))
	}
	e.buildCommands(cfg)
	setMemoryLimit(cfg.MaxMemory)
	e.mem.sample(0)
	// The log is replayed before the shards run and before any client
	// connects (so nothing needs -LOADING).
	if err := e.loadLog(cfg); err != nil {
		return nil, fmt.Errorf("loading the append only file: %w", err)
	}
	if err := e.openLog(e.Config()); err != nil {
		return nil, fmt.Errorf("opening the append only file: %w", err)
	}
	for _, s := range e.shards {
		go s.Run()
	}
	go e.cron()
	if e.tsync != nil {
		go e.tsync.run()
	}
	return e, nil
}

// IsCommand reports whether name (lower case) is in Disque's command table;
// the server validates rename-command with it.
func IsCommand(name string) bool {
	for _, c := range commandTable() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Config returns the current configuration (immutable; CONFIG SET swaps it).
func (e *Engine) Config() *config.Config { return e.cfg.Load() }

// Shards returns the number of shards.
func (e *Engine) Shards() int { return len(e.shards) }

// NodeID returns this node's 40-character ID.
func (e *Engine) NodeID() string { return e.nodeID }

// Close stops the background tasks and the shards, then flushes and closes
// the log.
func (e *Engine) Close() {
	close(e.stopCron)
	<-e.cronDone
	if e.tsync != nil {
		e.tsync.close()
	}
	for _, s := range e.shards {
		s.Stop()
	}
	if w := e.logw.Swap(nil); w != nil {
		_ = w.Close()
	}
}

func (e *Engine) buildCommands(cfg *config.Config) {
	e.cmds = make(map[string]*Command)
	for _, c := range commandTable() {
		name := c.Name
		if nn, ok := cfg.RenameCommands[upper(c.Name)]; ok {
			if nn == "" {
				continue // removed
			}
			name = lower(nn)
		}
		c.id = len(e.cmdList)
		e.cmdList = append(e.cmdList, c)
		e.cmds[name] = c
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// loopState is the engine's state for one event loop: its completion queue,
// the batches being filled for each shard during a pass, and its sessions.
// Only that loop's goroutine touches it (the ReplyQueue is the exception:
// shards push into it).
type loopState struct {
	e           *Engine
	loop        netpoll.Loop
	rq          shard.ReplyQueue
	batches     []*shard.Batch // per shard, nil when empty
	taken       []*shard.ReplyBatch
	dirty       []*Session
	sessions    map[*Session]struct{}
	throttled   []*Session // waiting for the node-wide in-flight budget
	stats       loopStats
	monitors    []*Session // MONITOR sessions on this loop
	newMonitors []*Session // MONITOR sessions of the current pass
	monOut      []byte     // monitor lines of the current pass
	drainTask   *loopTask
	pushTask    *loopTask
	pushArmed   bool      // a pushTask is scheduled: batches go out at the end of the pass
	lastSess    *Session  // the connection served last (afterTraffic)
	lastSwitch  time.Time // when the served connection last changed
	inflight    int64     // argument bytes of this loop's requests in shards
	published   int64     // the part of inflight added to Engine.inflight
	lim         resp.Limits
	scratch     []byte
}

func (e *Engine) loopFor(l netpoll.Loop) *loopState {
	e.loopsMu.Lock()
	defer e.loopsMu.Unlock()
	for len(e.loops) <= l.Index() {
		e.loops = append(e.loops, nil)
	}
	ls := e.loops[l.Index()]
	if ls == nil {
		ls = &loopState{e: e, loop: l, batches: make([]*shard.Batch, len(e.shards)),
			sessions: make(map[*Session]struct{})}
		ls.stats.cmds = make([]cmdStat, len(e.cmdList))
		ls.drainTask = &loopTask{ls.drain}
		ls.pushTask = &loopTask{ls.endOfPass}
		ls.rq.Wake = func() { _ = l.Execute(ls.drainTask) }
		e.loops[l.Index()] = ls
	}
	return ls
}

// batch returns the batch being filled for shard i.
func (ls *loopState) batch(i int) *shard.Batch {
	b := ls.batches[i]
	if b == nil {
		b = shard.GetBatch()
		ls.batches[i] = b
	}
	return b
}

// loopTask adapts a loop-state method to netpoll.Runnable (one allocation
// per loop, none per use).
type loopTask struct{ fn func() }

func (t *loopTask) Run(context.Context) error { t.fn(); return nil }

// afterTraffic runs the batches now when s is the only connection this
// loop has served lately (a lone client gets its replies without the
// end-of-pass wake-up), and at the end of the pass otherwise.
func (ls *loopState) afterTraffic(s *Session, now time.Time) {
	if s != ls.lastSess {
		ls.lastSess, ls.lastSwitch = s, now
	}
	if !ls.pushArmed && now.Sub(ls.lastSwitch) > loneWindow {
		ls.run()
		return
	}
	ls.schedulePush()
}

// loneWindow is how long a loop must have served one connection alone
// before that connection's requests run at once instead of at the end of
// the pass. Under load many connections take turns within every pass.
const loneWindow = 500 * time.Microsecond

// schedulePush runs the batches at the end of the loop's current pass:
// gnet runs Execute tasks after every ready connection of the epoll round
// has been read, so one shard step (run on the loop when the shard is
// idle, see run) carries the requests of all of them instead of one step
// per connection. That halves the steps' fixed costs (reply hand-off,
// stats, one log write per step under appendonly: strace counted one
// pwrite per 16 jobs with a step per connection). Two A/Bs on 2 cores,
// 4 rounds each, -c 50: ADDJOB -P 1 +7% and +4%, -P 16 +8% and +4%,
// appendfsync everysec +3% and +14%. The price is one eventfd wake-up per
// pass, about 8 us for a lone client (-c 1), which afterTraffic spares it.
func (ls *loopState) schedulePush() {
	if ls.pushArmed {
		return
	}
	ls.pushArmed = true
	if ls.loop.Execute(ls.pushTask) != nil {
		ls.pushArmed = false
		ls.push()
	}
}

func (ls *loopState) endOfPass() {
	ls.pushArmed = false
	ls.run()
}

// push hands every non-empty batch to its shard.
func (ls *loopState) push() {
	for i, b := range ls.batches {
		if b != nil {
			ls.batches[i] = nil
			ls.e.shards[i].Push(b)
		}
	}
}

// run hands the batches over, running them here on the loop when their
// shard is idle (shard.TryRun), and then writes the replies that are ready
// without waiting for a wake-up.
func (ls *loopState) run() {
	inline := false
	for i, b := range ls.batches {
		if b == nil {
			continue
		}
		ls.batches[i] = nil
		if !inline {
			ls.rq.Hold()
			inline = true
		}
		if !ls.e.shards[i].TryRun(b) {
			ls.e.shards[i].Push(b)
		}
	}
	if inline {
		ls.drain()
	}
}

// drain runs on the loop: it takes every reply batch the shards completed,
// places each reply in its session and writes what is in order.
func (ls *loopState) drain() {
	ls.taken = ls.rq.Take(ls.taken[:0])
	for _, rb := range ls.taken {
		for i := range rb.Items {
			r := &rb.Items[i]
			s := r.Sess.(*Session)
			s.complete(r, rb.Bytes(r))
			if !s.dirty {
				s.dirty = true
				ls.dirty = append(ls.dirty, s)
			}
		}
		rb.Release()
	}
	clear(ls.taken)
	for _, s := range ls.dirty {
		s.dirty = false
		s.flush()
	}
	clear(ls.dirty)
	ls.dirty = ls.dirty[:0]
	ls.publishInflight()
	if len(ls.throttled) > 0 && ls.e.inflight.Load() < ls.e.inflightBudget() {
		ls.wakeThrottled()
	}
	ls.push() // ops created by multi-phase requests
}

// publishInflight adds this loop's in-flight change to the node-wide
// counter once it moved by 1 MiB or more: the budget is approximate (by
// loops x 1 MiB) and the hot path touches no shared cache line.
func (ls *loopState) publishInflight() {
	if d := ls.inflight - ls.published; d >= 1<<20 || d <= -(1<<20) || (ls.inflight == 0 && d != 0) {
		ls.e.inflight.Add(d)
		ls.published = ls.inflight
	}
}

// offHeap returns the bytes of job records and bodies in use in the
// shards' mappings outside the Go heap.
func (e *Engine) offHeap() int64 {
	var n int64
	for _, s := range e.shards {
		n += s.Stats.OffHeap.Load()
	}
	return n
}

// loopList returns a snapshot of the loop states.
func (e *Engine) loopList() []*loopState {
	e.loopsMu.Lock()
	defer e.loopsMu.Unlock()
	out := make([]*loopState, 0, len(e.loops))
	for _, ls := range e.loops {
		if ls != nil {
			out = append(out, ls)
		}
	}
	return out
}

// sumLoops adds up a per-loop counter.
func (e *Engine) sumLoops(f func(st *loopStats) int64) int64 {
	var n int64
	for _, ls := range e.loopList() {
		n += f(&ls.stats)
	}
	return n
}

func (ls *loopState) wakeThrottled() {
	for _, s := range ls.throttled {
		s.throttled = false
		if !s.closed {
			_ = s.conn.Wake()
		}
	}
	clear(ls.throttled)
	ls.throttled = ls.throttled[:0]
}

// inflightBudget is the node-wide cap on argument bytes waiting in shards.
func (e *Engine) inflightBudget() int64 {
	m := e.Config().MaxMemory / 4
	if m < 256<<20 {
		m = 256 << 20
	}
	return m
}

// cron runs background work every 1000/hz ms: per-loop client checks
// (idle timeout, output limits, throttled sessions), memory sampling and
// instantaneous rates.
func (e *Engine) cron() {
	defer close(e.cronDone)
	for {
		hz := e.Config().Hz
		if hz < 1 {
			hz = 10
		}
		select {
		case <-e.stopCron:
			return
		case <-time.After(time.Second / time.Duration(hz)):
		}
		e.mem.sample(e.offHeap())
		lvl := int32(e.mem.level(e.Config()))
		if lvl == 2 && e.Config().MaxMemoryPolicy == config.PolicyNoEviction {
			lvl = 3 // shards evict no jobs
		}
		e.memLevel.Store(lvl)
		e.autoRewrite()
		e.rates(hz)
		for _, ls := range e.loopList() {
			_ = ls.loop.ExecuteFunc(ls.cron)
		}
	}
}

func (e *Engine) rates(hz int) {
	update := func(cur int64, prev, rate *atomic.Int64) {
		p := prev.Swap(cur)
		rate.Store((cur - p) * int64(hz))
	}
	update(e.sumLoops(func(st *loopStats) int64 { return st.commands.Load() }), &e.stats.opsPrev, &e.stats.opsRate)
	update(e.sumLoops(func(st *loopStats) int64 { return st.netIn.Load() }), &e.stats.inPrev, &e.stats.inRate)
	update(e.sumLoops(func(st *loopStats) int64 { return st.netOut.Load() }), &e.stats.outPrev, &e.stats.outRate)
}

// cron runs on the loop.
func (ls *loopState) cron() {
	cfg := ls.e.Config()
	now := time.Now()
	var longestOut, biggestIn int64
	for s := range ls.sessions {
		if s.closed {
			continue
		}
		if cfg.Timeout > 0 && !s.waiting() && now.Sub(s.lastActive) > time.Duration(cfg.Timeout)*time.Second {
			ls.e.log.Debug("closing idle client", "addr", s.conn.RemoteAddr())
			s.closeNow()
			continue
		}
		s.checkOutput(cfg, now)
		if n := int64(s.conn.OutboundBuffered()); n > longestOut {
			longestOut = n
		}
		if n := int64(s.conn.InboundBuffered()); n > biggestIn {
			biggestIn = n
		}
	}
	ls.e.mem.loopMax(ls.loop.Index(), longestOut, biggestIn)
	ls.publishInflight()
	if len(ls.throttled) > 0 && ls.e.inflight.Load() < ls.e.inflightBudget() {
		ls.wakeThrottled()
	}
}
