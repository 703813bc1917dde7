package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"disq/engine/aof"
	"disq/engine/config"
	"disq/engine/job"
	"disq/shard"
)

// Persistence (engine/aof): the shards append their job changes to one log
// writer and hold the replies of a step until the writer reports the
// records durable (shard/persist.go). The engine owns the writer's life:
// loading at startup, turning the log on and off (CONFIG SET appendonly),
// rewrites (BGREWRITEAOF, automatic, SHUTDOWN REWRITE-AOF), the fsync
// policy, -MISCONF after write errors, and INFO # Persistence.

type persistence struct {
	mu         sync.Mutex
	loading    bool
	reloading  bool // DEBUG LOADAOF runs: no rewrite may start
	starting   bool // startRewrite is between its check and p.rewriting
	rewriting  *aof.Rewrite
	scheduled  bool   // a rewrite waits for the running one
	lastStatus bool   // last rewrite succeeded
	state      string // off | on | wait-rewrite
}

// rewriteBusy reports whether a rewrite is starting or running (with the
// log on or off).
func (e *Engine) rewriteBusy() bool {
	e.pers.mu.Lock()
	defer e.pers.mu.Unlock()
	return e.rewriteBusyLocked()
}

// rewriteBusyLocked is rewriteBusy with e.pers.mu held.
func (e *Engine) rewriteBusyLocked() bool {
	p := &e.pers
	if p.starting || p.rewriting != nil {
		return true
	}
	w := e.logw.Load()
	return w != nil && w.Stats().RewriteInProgress
}

// set writes one of p's flags under p.mu.
func (p *persistence) set(flag *bool, v bool) {
	p.mu.Lock()
	*flag = v
	p.mu.Unlock()
}

func aofPath(cfg *config.Config) string { return filepath.Join(cfg.Dir, cfg.AppendFilename) }

func fsyncOf(cfg *config.Config) aof.Fsync {
	f, ok := aof.ParseFsync(string(cfg.AppendFsync))
	if !ok {
		return aof.FsyncEverysec
	}
	return f
}

// loadLog replays the log into the shards (before they run). With
// aof-enqueue-jobs-once the queued jobs are queued again and the option
// turns itself off (written to the config file).
func (e *Engine) loadLog(cfg *config.Config) error {
	if !cfg.AppendOnly && !cfg.AOFEnqueueJobsOnce {
		return nil
	}
	e.pers.loading = true
	defer func() { e.pers.loading = false }()
	opts := shard.LoadOptions{EnqueueOnce: cfg.AOFEnqueueJobsOnce}
	t0 := time.Now()
	st, err := aof.Load(aofPath(cfg), aof.LoadOptions{Truncate: cfg.AOFLoadTruncated, Logger: e.log}, func(r aof.Record) error {
		id := job.ID(r.Job.ID)
		e.shards[shard.Of(id.Slot(), len(e.shards))].Load(&r, opts)
		return nil
	})
	if err != nil {
		var torn *aof.TornError
		if errors.As(err, &torn) && !torn.MidFile {
			return fmt.Errorf("%v (set aof-load-truncated yes, or repair it with disq-check-aof --fix)", err)
		}
		return err
	}
	e.log.Info("append only file loaded", "file", aofPath(cfg), "records", st.Records,
		"truncated_bytes", st.TruncatedBytes, "seconds", time.Since(t0).Seconds())
	if cfg.AOFEnqueueJobsOnce {
		nc, _ := cfg.Set("aof-enqueue-jobs-once", "no")
		e.cfg.Store(nc)
		if nc.ConfigFile != "" {
			if err := config.Rewrite(nc.ConfigFile, nc); err != nil {
				e.log.Warn("could not rewrite the config file after aof-enqueue-jobs-once", "err", err)
			}
		}
	}
	return nil
}

// logOptions are the writer's options for cfg; waitRewrite starts it
// without a file until the first rewrite.
func (e *Engine) logOptions(cfg *config.Config, waitRewrite bool) aof.Options {
	return aof.Options{Path: aofPath(cfg), Fsync: fsyncOf(cfg), WaitRewrite: waitRewrite,
		Compress: cfg.AOFCompression == config.CompressionS2, Logger: e.log, OnLatency: e.logLatency}
}

// logLatency records a slow log write or fsync in the latency monitor
// (LATENCY LATEST/HISTORY "aof-write", "aof-fsync-always"), as Redis does.
func (e *Engine) logLatency(event string, d time.Duration) {
	e.sampleLatency(e.Config(), event, d)
}

// openLog starts the log writer (appendonly yes at startup).
func (e *Engine) openLog(cfg *config.Config) error {
	if !cfg.AppendOnly {
		e.pers.state = "off"
		return nil
	}
	w, err := aof.Open(e.logOptions(cfg, false))
	if err != nil {
		return err
	}
	e.logw.Store(w)
	e.pers.state = "on"
	return nil
}

// startRewrite begins a background rewrite (BGREWRITEAOF, auto, appendonly
// yes); done (may be nil) is called with its outcome.
func (e *Engine) startRewrite(done func(error)) error {
	p := &e.pers
	// p.mu is never held across the writer's calls: BeginRewrite may run
	// the done callback (which takes p.mu) before it returns.
	p.mu.Lock()
	if p.reloading {
		p.mu.Unlock()
		return errReloading
	}
	if e.rewriteBusyLocked() {
		// One rewrite at a time, also with the log off, where each
		// BGREWRITEAOF opens its own temporary writer on the same file.
		p.mu.Unlock()
		return aof.ErrRewriteInProgress
	}
	p.starting = true
	p.mu.Unlock()
	defer p.set(&p.starting, false)
	finished := false // done ran (p.mu): a fast failure may beat the line setting p.rewriting
	w := e.logw.Load()
	cfg := e.Config()
	temp := false
	if w == nil {
		// BGREWRITEAOF works with the log off: write the file, then close.
		nw, err := aof.Open(e.logOptions(cfg, true))
		if err != nil {
			return err
		}
		w, temp = nw, true
	}
	idx := make([]int, len(e.shards))
	for i := range idx {
		idx[i] = i
	}
	rw, err := w.BeginRewrite(idx, func(err error) {
		p.mu.Lock()
		finished = true
		p.rewriting = nil
		p.lastStatus = err == nil
		if err == nil && p.state == "wait-rewrite" {
			p.state = "on"
		}
		p.mu.Unlock()
		finish := func() {
			if err != nil {
				e.log.Warn("background append only file rewrite failed", "err", err)
			} else {
				e.log.Info("background append only file rewrite finished")
			}
			if done != nil {
				done(err)
			}
		}
		if temp {
			// This runs on the writer's goroutine, which Close waits for:
			// close from another one, then report (SHUTDOWN REWRITE-AOF
			// waits until the file is closed).
			go func() {
				_ = w.Close()
				finish()
			}()
			return
		}
		finish()
	})
	if err != nil {
		if temp {
			_ = w.Close()
		}
		return err
	}
	p.mu.Lock()
	if !finished {
		p.rewriting = rw
	}
	p.mu.Unlock()
	for _, sh := range e.shards {
		b := shard.GetBatch()
		b.Ops = append(b.Ops, shard.Op{Kind: shard.OpCall, Call: func(s *shard.Shard) { s.Snapshot(rw) }})
		sh.Push(b)
	}
	e.log.Info("background append only file rewriting started")
	return nil
}

// setAppendOnly turns the log on (a rewrite creates the file; the state is
// wait-rewrite until it completes) or off.
func (e *Engine) setAppendOnly(on bool, cfg *config.Config) error {
	p := &e.pers
	if !on {
		if w := e.logw.Swap(nil); w != nil {
			_ = w.Close()
		}
		p.mu.Lock()
		p.state = "off"
		p.mu.Unlock()
		return nil
	}
	if e.logw.Load() != nil {
		return nil
	}
	w, err := aof.Open(e.logOptions(cfg, true))
	if err != nil {
		return err
	}
	e.logw.Store(w)
	p.mu.Lock()
	p.state = "wait-rewrite"
	p.mu.Unlock()
	if err := e.startRewrite(nil); err != nil {
		e.logw.Store(nil)
		_ = w.Close()
		p.mu.Lock()
		p.state = "off"
		p.mu.Unlock()
		return err
	}
	return nil
}

const misconfMsg = "MISCONF Errors writing to the AOF file: "

// misconf returns the -MISCONF line while the log cannot be written.
func (e *Engine) misconf() string {
	w := e.logw.Load()
	if w == nil {
		return ""
	}
	if err := w.Err(); err != nil {
		return misconfMsg + err.Error()
	}
	return ""
}

// autoRewrite runs from the cron: a rewrite when the file grew past
// auto-aof-rewrite-min-size and by auto-aof-rewrite-percentage.
func (e *Engine) autoRewrite() {
	cfg := e.Config()
	w := e.logw.Load()
	if w == nil || cfg.AutoAOFRewritePercentage == 0 {
		return
	}
	if !e.rewriteBusy() && w.NeedsRewrite(int64(cfg.AutoAOFRewritePercentage), cfg.AutoAOFRewriteMinSize) {
		if err := e.startRewrite(nil); err == nil {
			e.log.Info("starting automatic rewriting of the append only file")
		}
	}
}

// closeLog flushes and closes the log (shutdown), after a synchronous
// rewrite with rewriteFirst.
func (e *Engine) closeLog(rewriteFirst bool) error {
	for rewriteFirst {
		done := make(chan error, 1)
		err := e.startRewrite(func(err error) { done <- err })
		if errors.Is(err, aof.ErrRewriteInProgress) {
			// A rewrite runs (automatic, BGREWRITEAOF): wait for it, then
			// rewrite again so the file holds everything up to now. (This
			// used to wait for done, which the running rewrite never calls.)
			e.log.Info("SHUTDOWN REWRITE-AOF: waiting for the rewrite in progress")
			for e.rewriteBusy() {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := <-done; err != nil {
			return err
		}
		break
	}
	if w := e.logw.Swap(nil); w != nil {
		return w.Close()
	}
	return nil
}

// Shutdown flushes the log (after a rewrite with rewriteAOF): the server
// calls it before it exits.
func (e *Engine) Shutdown(rewriteAOF bool) error { return e.closeLog(rewriteAOF) }

func cmdBgRewriteAOF(s *Session, args [][]byte) {
	switch err := s.e.startRewrite(nil); {
	case err == nil:
		s.replySimple("Background append only file rewriting started")
	case errors.Is(err, aof.ErrRewriteInProgress):
		s.replyError(errRewriteBusy)
	default:
		s.e.log.Warn("BGREWRITEAOF", "err", err)
		s.replyError("ERR")
	}
}

// errReloading refuses a rewrite while DEBUG LOADAOF runs, and
// errRewriteRefused DEBUG LOADAOF while a rewrite runs.
var (
	errReloading      = errors.New("DEBUG LOADAOF in progress")
	errRewriteRefused = errors.New("a rewrite is in progress")
)

// debugLoadAOF: flush the log, drop every job, load the log again.
func (e *Engine) debugLoadAOF() error {
	w := e.logw.Load()
	if w == nil {
		return errors.New("append only file is off")
	}
	// The reload puts jobs back without log records: a rewrite whose
	// snapshot is partly taken would miss them. None may run meanwhile.
	p := &e.pers
	p.mu.Lock()
	if p.reloading || e.rewriteBusyLocked() {
		p.mu.Unlock()
		return errRewriteRefused
	}
	p.reloading = true
	p.mu.Unlock()
	defer p.set(&p.reloading, false)
	if err := w.Flush(); err != nil {
		return err
	}
	for _, sh := range e.shards {
		sh.Do(func(s *shard.Shard) { s.Reset() }) // the deletions must not reach the log
	}
	cfg := e.Config()
	_, err := aof.Load(aofPath(cfg), aof.LoadOptions{Truncate: cfg.AOFLoadTruncated, Logger: e.log}, func(r aof.Record) error {
		id := job.ID(r.Job.ID)
		rec := r
		e.shards[shard.Of(id.Slot(), len(e.shards))].Do(func(s *shard.Shard) { s.Load(&rec, shard.LoadOptions{}) })
		return nil
	})
	return err
}

// infoPersistence reports the log (INFO # Persistence).
func (e *Engine) infoPersistence() [][2]string {
	p := &e.pers
	p.mu.Lock()
	state, rewriting, last := p.state, p.rewriting != nil, p.lastStatus
	p.mu.Unlock()
	if state == "" {
		state = "off"
	}
	w := e.logw.Load()
	var st aof.Stats
	if w != nil {
		st = w.Stats()
	}
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	ok := func(v bool) string {
		if v {
			return "ok"
		}
		return "err"
	}
	lastRW := int64(-1)
	if w != nil && st.LastRewriteTime >= 0 {
		lastRW = int64(st.LastRewriteTime.Seconds())
	}
	curRW := int64(-1)
	if w != nil && st.RewriteInProgress && !st.RewriteStarted.IsZero() {
		curRW = int64(time.Since(st.RewriteStarted).Seconds())
	}
	lines := [][2]string{
		{"loading", b(p.loading)},
		{"aof_enabled", b(state != "off")},
		{"aof_state", state},
		{"aof_rewrite_in_progress", b(rewriting)},
		{"aof_rewrite_scheduled", b(p.scheduled)},
		{"aof_last_rewrite_time_sec", strconv.FormatInt(lastRW, 10)},
		{"aof_current_rewrite_time_sec", strconv.FormatInt(curRW, 10)},
		{"aof_last_bgrewrite_status", ok(last || w == nil || st.Rewrites == 0)},
		{"aof_last_write_status", ok(w == nil || st.LastWriteOK)},
	}
	if state != "off" && w != nil {
		lines = append(lines, [][2]string{
			{"aof_current_size", itoa(st.CurrentSize)},
			{"aof_base_size", itoa(st.BaseSize)},
			{"aof_pending_rewrite", b(p.scheduled)},
			{"aof_buffer_length", itoa(st.PendingBytes)},
			{"aof_rewrite_buffer_length", itoa(st.RewriteBufferBytes)},
			{"aof_pending_bio_fsync", b(st.FsyncPending)},
			{"aof_delayed_fsync", itoa(st.DelayedFsyncs)},
			{"aof_fsyncs", itoa(st.Fsyncs)},
			{"aof_fsync_usec", itoa(st.FsyncTime.Microseconds())},
			{"aof_durable_after_fsync", itoa(st.DurableAfterFsync)},
			{"aof_replies_before_fsync", itoa(st.RepliesBeforeFsync)},
			{"aof_prealloc_waits", itoa(st.PreallocWaits)},
		}...)
	}
	return lines
}
