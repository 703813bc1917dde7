package aof

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Fsync is the appendfsync policy.
type Fsync uint32

const (
	FsyncNo       Fsync = iota // leave flushing to the OS
	FsyncEverysec              // fsync in the background about once a second
	FsyncAlways                // fsync before a batch is reported durable (group commit)
)

func (p Fsync) String() string {
	switch p {
	case FsyncNo:
		return "no"
	case FsyncEverysec:
		return "everysec"
	case FsyncAlways:
		return "always"
	}
	return "invalid"
}

// ParseFsync parses an appendfsync value (case-insensitive).
func ParseFsync(s string) (Fsync, bool) {
	for p := FsyncNo; p <= FsyncAlways; p++ {
		if equalFold(s, p.String()) {
			return p, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// Errors returned by the writer (to callbacks or calls).
var (
	ErrClosed            = errors.New("aof: writer closed")
	ErrBadBatch          = errors.New("aof: malformed batch")
	ErrRecordTooLarge    = errors.New("aof: record larger than the log's batch limit")
	ErrRewriteInProgress = errors.New("aof: a rewrite is already in progress")
)

// WriteError is the writer's error state: a write or fsync failed. Batches
// whose callback receives it were not made durable (they are kept and
// retried, but the caller must not promise them to a client).
type WriteError struct {
	Op  string // "write", "fsync", "truncate", "dir fsync"
	Err error
}

func (e *WriteError) Error() string { return "aof: " + e.Op + ": " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Options configure a Writer.
type Options struct {
	Path     string // the log file (dir + appendfilename)
	Fsync    Fsync  // appendfsync; SetFsync changes it at run time
	Compress bool   // aof-compression: S2 batches when that saves space
	// WaitRewrite starts the writer without a file (CONFIG SET appendonly
	// yes): batches are reported at once and nothing is written until the
	// first rewrite, which creates the file. Call BeginRewrite right away.
	WaitRewrite bool
	Logger      *slog.Logger     // nil: slog.Default()
	Now         func() time.Time // nil: time.Now
	FS          FS               // nil: OSFS
	// SyncInterval is the everysec period and the retry period after an
	// error; zero means one second.
	SyncInterval time.Duration
	// BatchTarget is the payload size that closes a batch; zero means 1 MiB.
	BatchTarget int
	// Preallocate is the chunk the file is extended by ahead of its data
	// (prealloc.go); zero means DefaultPreallocate, negative turns it off.
	Preallocate int64
	// OnLatency, if set, is told how long each write of a group took
	// ("aof-write") and each fsync a reply waited for under always
	// ("aof-fsync-always"), Redis's latency-monitor event names. It runs
	// on the goroutine that wrote (the writer's, or AppendNow's caller:
	// possibly an event loop) and must not block.
	OnLatency func(event string, d time.Duration)
}

// Batch is a producer's unit of work: framed records (AppendLoadJob,
// AppendDelJob...) and a callback. The writer owns the Batch from Append
// until it calls OnDurable; after that the producer may reuse it.
type Batch struct {
	Producer int    // the shard index (rewrite bookkeeping)
	Records  []byte // concatenated records
	// Count is the number of records; a mismatch rejects the batch. An
	// empty batch is a barrier: its callback says that everything the
	// producer appended before it is durable.
	Count int
	// OnDurable, if set, is called once on the writer goroutine: nil when
	// the records are durable per the fsync policy, an error otherwise. It
	// must not block, nor call Flush or Close.
	OnDurable func(err error)
}

type itemKind uint8

const (
	kAppend itemKind = iota + 1
	kSnap
	kSnapEnd
	kBegin
	kFlush
)

type item struct {
	kind     itemKind
	producer int
	b        *Batch
	recs     []byte
	count    int
	rw       *Rewrite
	done     chan error
}

type pendingCB struct {
	fn    func(error)
	err   error // decided before the write (rejected batch)
	write bool  // depends on this group's write
}

type syncJob struct {
	f      File
	target int64
}

type syncResult struct {
	syncJob
	err error
}

// Writer appends batches to the log on its own goroutine. Every method
// (and those of Rewrite) is safe for concurrent use.
type Writer struct {
	opts     Options
	log      *slog.Logger
	fs       FS
	now      func() time.Time
	interval time.Duration
	dir      string
	policy   atomic.Uint32

	// Producer queue: the lock only guards the append.
	mu     sync.Mutex
	q      []item
	closed bool
	sig    chan struct{}

	rewriting atomic.Bool
	lastErr   atomic.Pointer[WriteError]
	st        counters
	done      chan struct{}
	closeErr  error

	// Writer state: the writer goroutine's, or AppendNow's caller's while
	// it holds wmu (the goroutine holds wmu whenever it works).
	wmu       sync.Mutex
	inl       []item // AppendNow's group
	f         File   // nil: waiting for the first rewrite
	size      int64
	alloc     int64 // the file's length: size plus preallocated zeros
	prealloc  int64 // chunk (0: off)
	filling   bool  // a fill job is out (prealloc.go)
	fillFrom  int64 // where the fill job out starts
	fillReq   chan fillJob
	fillDone  chan fillResult
	synced    int64
	enc       batchEncoder
	spare     []byte
	cbs       []pendingCB
	flushes   []chan error
	errState  *WriteError
	retry     []byte // sealed batches not yet written (error state)
	nextRetry time.Time
	lastLog   time.Time
	dirSync   bool // a rename's directory fsync failed
	lastSync  time.Time
	syncing   bool
	syncReq   chan syncJob
	syncDone  chan syncResult
	rw        *Rewrite
	rwDone    chan rwResult
}

// counters are the Stats fields, written by the writer goroutine.
type counters struct {
	size, base, pending, rwBuf, retry   atomic.Int64
	fsyncs, delayed, batches, zbatches  atomic.Int64
	records, bytes, writeErrs, rejected atomic.Int64
	durableAfterFsync, beforeFsync      atomic.Int64
	fillWaits, fsyncNanos               atomic.Int64
	rewrites, rwFailures                atomic.Int64
	rwStart, lastRwDur                  atomic.Int64 // unix ns; ns (-1 never)
	lastRwOK, fsyncPending, hasFile     atomic.Bool
	dirty                               atomic.Bool // an fsync failed: what reached the disk is unknown
}

// Stats are the writer's numbers for INFO `# Persistence` and metrics.
type Stats struct {
	State              string // "on", or "wait-rewrite" before the first rewrite
	CurrentSize        int64  // aof_current_size
	BaseSize           int64  // aof_base_size: size after the last rewrite (or at open)
	PendingBytes       int64  // aof_buffer_length: appended, not yet written
	RewriteBufferBytes int64  // aof_rewrite_buffer_length
	Fsyncs             int64
	DelayedFsyncs      int64 // aof_delayed_fsync: everysec fsyncs still running when due
	FsyncPending       bool  // aof_pending_bio_fsync
	LastWriteOK        bool  // aof_last_write_status
	WriteErrors        int64
	RejectedBatches    int64 // malformed or oversized batches refused
	Batches            int64 // batches written (live log)
	CompressedBatches  int64
	Records            int64
	BytesWritten       int64
	RewriteInProgress  bool
	RewriteStarted     time.Time     // zero when no rewrite runs
	LastRewriteTime    time.Duration // aof_last_rewrite_time_sec; -1 never
	LastRewriteOK      bool          // aof_last_bgrewrite_status
	Rewrites           int64         // completed rewrites
	RewriteFailures    int64
	// DurableAfterFsync counts callbacks released under appendfsync always
	// after the fsync covering their batch: the group commit at work.
	DurableAfterFsync int64
	// RepliesBeforeFsync counts callbacks released under always before the
	// covering fsync completed. The writer checks it on every release; it
	// must stay 0.
	RepliesBeforeFsync int64
	// PreallocWaits counts writes that waited for the zero fill ahead of
	// them (prealloc.go).
	PreallocWaits int64
	// FsyncTime is the time spent in the log's fsyncs, every policy
	// (aof_fsync_usec; divided by Fsyncs, the mean fsync).
	FsyncTime time.Duration
}

// Open opens (creating it if needed) the log for appending and starts the
// writer goroutine. Load the file first: Open appends at its current end
// and only checks its header.
func Open(opts Options) (*Writer, error) {
	w := &Writer{
		opts:     opts,
		log:      opts.Logger,
		fs:       opts.FS,
		now:      opts.Now,
		interval: opts.SyncInterval,
		dir:      filepath.Dir(opts.Path),
		sig:      make(chan struct{}, 1),
		done:     make(chan struct{}),
		syncReq:  make(chan syncJob, 1),
		syncDone: make(chan syncResult, 1),
		fillReq:  make(chan fillJob, 1),
		fillDone: make(chan fillResult, 1),
		rwDone:   make(chan rwResult, 1),
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.fs == nil {
		w.fs = OSFS{}
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.interval <= 0 {
		w.interval = time.Second
	}
	w.enc.target = opts.BatchTarget
	if w.enc.target <= 0 {
		w.enc.target = defaultBatchTarget
	}
	w.enc.target = min(w.enc.target, MaxBatchPayload)
	w.enc.compress = opts.Compress
	w.prealloc = opts.Preallocate
	if w.prealloc == 0 {
		w.prealloc = DefaultPreallocate
	}
	w.policy.Store(uint32(opts.Fsync))
	w.st.lastRwDur.Store(-1)
	w.st.lastRwOK.Store(true)
	if !opts.WaitRewrite {
		if err := w.openLog(); err != nil {
			return nil, err
		}
	}
	w.lastSync = w.now()
	go w.syncer()
	go w.filler()
	go w.run()
	return w, nil
}

func (w *Writer) openLog() error {
	path := w.opts.Path
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("aof: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("aof: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		h := appendFileHeader(nil)
		if _, err := f.WriteAt(h, 0); err != nil {
			f.Close()
			return fmt.Errorf("aof: %s: writing the header: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("aof: %s: %w", path, err)
		}
		if err := w.fs.SyncDir(w.dir); err != nil {
			f.Close()
			return fmt.Errorf("aof: %s: %w", w.dir, err)
		}
		size = HeaderSize
	} else {
		var b [HeaderSize]byte
		n := int(min(size, HeaderSize))
		if _, err := f.ReadAt(b[:n], 0); err != nil {
			f.Close()
			return fmt.Errorf("aof: %s: %w", path, err)
		}
		torn, err := checkFileHeader(path, b[:n])
		if err == nil && torn {
			err = &TornError{Path: path, Size: size, Reason: "file ends inside the file header"}
		}
		if err == nil {
			size, err = cutZeroTail(f, path, size)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	w.f, w.size, w.synced, w.alloc = f, size, size, size
	_ = w.fs.Remove(path + ".rewrite") // left by a crash during a rewrite
	w.st.size.Store(size)
	w.st.base.Store(size)
	w.st.hasFile.Store(true)
	return nil
}

// Path returns the log's path.
func (w *Writer) Path() string { return w.opts.Path }

// Append queues a batch. It never blocks. After Close, OnDurable is called
// at once (on the caller's goroutine) with ErrClosed.
func (w *Writer) Append(b *Batch) {
	w.st.pending.Add(int64(len(b.Records)))
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.st.pending.Add(-int64(len(b.Records)))
		if b.OnDurable != nil {
			b.OnDurable(ErrClosed)
		}
		return
	}
	w.q = append(w.q, item{kind: kAppend, b: b, producer: b.Producer})
	first := len(w.q) == 1
	w.mu.Unlock()
	if first {
		w.wake()
	}
}

func (w *Writer) push(it item) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.q = append(w.q, it)
	first := len(w.q) == 1
	w.mu.Unlock()
	if first {
		w.wake()
	}
	return true
}

func (w *Writer) wake() {
	select {
	case w.sig <- struct{}{}:
	default:
	}
}

// SetFsync changes the fsync policy; the next group uses it.
func (w *Writer) SetFsync(p Fsync) {
	w.policy.Store(uint32(p))
	w.wake()
}

// Fsync returns the current policy.
func (w *Writer) Fsync() Fsync { return Fsync(w.policy.Load()) }

// Flush writes and fsyncs everything appended before it, whatever the
// policy (DEBUG LOADAOF, tests). It returns the writer's error state.
func (w *Writer) Flush() error {
	ch := make(chan error, 1)
	if !w.push(item{kind: kFlush, done: ch}) {
		return ErrClosed
	}
	return <-ch
}

// Err returns the error state: nil when the last write and fsync worked
// (aof_last_write_status:ok), else the *WriteError that the server turns
// into -MISCONF replies until it clears.
func (w *Writer) Err() error {
	if e := w.lastErr.Load(); e != nil {
		return e
	}
	return nil
}

// NeedsRewrite reports whether an automatic rewrite is due: the file is at
// least minSize bytes and grew by percentage% since the last rewrite (0
// disables), or an fsync failed so that what reached the disk is unknown.
func (w *Writer) NeedsRewrite(percentage, minSize int64) bool {
	if w.rewriting.Load() || !w.st.hasFile.Load() {
		return false
	}
	if w.st.dirty.Load() && w.lastErr.Load() == nil {
		return true
	}
	if percentage <= 0 {
		return false
	}
	cur, base := w.st.size.Load(), w.st.base.Load()
	if cur < minSize {
		return false
	}
	if base <= 0 {
		base = 1
	}
	return (cur*100/base)-100 >= percentage
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() Stats {
	s := Stats{
		State:              "on",
		CurrentSize:        w.st.size.Load(),
		BaseSize:           w.st.base.Load(),
		PendingBytes:       w.st.pending.Load() + w.st.retry.Load(),
		RewriteBufferBytes: w.st.rwBuf.Load(),
		Fsyncs:             w.st.fsyncs.Load(),
		DelayedFsyncs:      w.st.delayed.Load(),
		FsyncPending:       w.st.fsyncPending.Load(),
		LastWriteOK:        w.lastErr.Load() == nil,
		WriteErrors:        w.st.writeErrs.Load(),
		RejectedBatches:    w.st.rejected.Load(),
		Batches:            w.st.batches.Load(),
		CompressedBatches:  w.st.zbatches.Load(),
		Records:            w.st.records.Load(),
		BytesWritten:       w.st.bytes.Load(),
		RewriteInProgress:  w.rewriting.Load(),
		LastRewriteTime:    time.Duration(w.st.lastRwDur.Load()),
		LastRewriteOK:      w.st.lastRwOK.Load(),
		Rewrites:           w.st.rewrites.Load(),
		RewriteFailures:    w.st.rwFailures.Load(),
		DurableAfterFsync:  w.st.durableAfterFsync.Load(),
		RepliesBeforeFsync: w.st.beforeFsync.Load(),
		PreallocWaits:      w.st.fillWaits.Load(),
		FsyncTime:          time.Duration(w.st.fsyncNanos.Load()),
	}
	if !w.st.hasFile.Load() {
		s.State = "wait-rewrite"
	}
	if t := w.st.rwStart.Load(); t != 0 && s.RewriteInProgress {
		s.RewriteStarted = time.Unix(0, t)
	}
	return s
}

// Close writes and fsyncs everything appended, abandons a rewrite in
// progress (its callback gets ErrClosed; the old file stays), and closes
// the file. It returns the first error of that final flush. In the error
// state it retries once; if that fails the kept bytes are lost (their
// callbacks were given errors, so nothing was promised) and Close returns
// the error.
func (w *Writer) Close() error {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if !already {
		w.wake()
	}
	<-w.done
	return w.closeErr
}

// ---- writer goroutine ---------------------------------------------------

func (w *Writer) take(dst []item) ([]item, bool) {
	w.mu.Lock()
	items := w.q
	w.q = dst[:0]
	closed := w.closed
	w.mu.Unlock()
	return items, closed
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	var items []item
	for {
		select {
		case <-w.sig:
		case <-tick.C:
			w.wmu.Lock()
			w.tick()
			w.wmu.Unlock()
		case r := <-w.syncDone:
			w.wmu.Lock()
			w.syncFinished(r)
			w.wmu.Unlock()
		case r := <-w.rwDone:
			w.wmu.Lock()
			w.rewriteReported(r)
			w.wmu.Unlock()
		}
		w.wmu.Lock()
		var closed bool
		items, closed = w.take(items)
		if len(items) > 0 {
			w.process(items)
			clear(items)
		}
		if closed {
			// Close marks the queue closed under the lock, so this take
			// got the last items.
			w.shutdown()
			w.wmu.Unlock()
			return
		}
		w.wmu.Unlock()
	}
}

// AppendNow is Append that writes on the calling goroutine when that is
// cheap and safe: the policy is not always (no fsync wait), the writer
// goroutine is idle (wmu is free), no rewrite runs, no error is pending and
// only batches are queued. It then writes what was queued and b with one
// write(2) and calls the callbacks before it returns, sparing the producer
// (a shard step, possibly on an event loop) two goroutine hand-offs; the
// file order is the queue order as with Append. Otherwise (also when the
// write would reach a chunk still being zero-filled) it is Append.
func (w *Writer) AppendNow(b *Batch) {
	if Fsync(w.policy.Load()) == FsyncAlways || w.rewriting.Load() || !w.wmu.TryLock() {
		w.Append(b)
		return
	}
	if w.f == nil || w.errState != nil || w.rw != nil || w.syncing && w.synced < w.size-int64(maxInlineLag) {
		w.wmu.Unlock()
		w.Append(b)
		return
	}
	w.mu.Lock()
	ok := !w.closed
	need := int64(len(b.Records)) + inlineSlack
	for i := range w.q {
		ok = ok && w.q[i].kind == kAppend
		if ok {
			need += int64(len(w.q[i].b.Records))
		}
	}
	// A write that would reach a chunk still being zero-filled waits for
	// the fill (ensureAlloc): never here, on a shard step that may run on
	// an event loop.
	if !ok || w.filling && w.size+need > w.fillFrom {
		w.mu.Unlock()
		w.wmu.Unlock()
		w.Append(b)
		return
	}
	items := append(w.inl[:0], w.q...)
	clear(w.q)
	w.q = w.q[:0]
	w.mu.Unlock()
	w.st.pending.Add(int64(len(b.Records)))
	items = append(items, item{kind: kAppend, b: b, producer: b.Producer})
	w.process(items)
	clear(items)
	w.inl = items[:0]
	w.wmu.Unlock()
}

// inlineSlack covers what encoding adds to records (batch headers).
const inlineSlack = 64 << 10

// maxInlineLag bounds how far writes may run ahead of a background fsync
// on producers' goroutines; past it they queue for the writer goroutine.
const maxInlineLag = 64 << 20

// process handles one group: everything taken from the queue in one go is
// written with one write(2) and, under always, made durable by one fsync.
func (w *Writer) process(items []item) {
	policy := Fsync(w.policy.Load())
	var appended int64
	var records int64
	for i := range items {
		it := &items[i]
		switch it.kind {
		case kAppend:
			w.appendBatch(it.b, &appended, &records)
		case kSnap, kSnapEnd, kBegin:
			w.rewriteItem(it)
		case kFlush:
			w.flushes = append(w.flushes, it.done)
		}
	}
	w.st.pending.Add(-appended)
	if w.rw != nil {
		w.rw.forwardLive()
	}
	out := w.enc.take(w.spare)
	if w.errState != nil && (len(w.flushes) > 0 || !w.now().Before(w.nextRetry)) {
		w.recover()
	}
	var werr error
	if len(out) > 0 {
		if w.errState != nil {
			w.retry = append(w.retry, out...)
			werr = w.errState
		} else {
			werr = w.write(out)
		}
		if werr == nil {
			w.st.records.Add(records)
		}
	}
	if werr == nil && w.f != nil && w.synced < w.size && (policy == FsyncAlways || len(w.flushes) > 0) {
		werr = w.fsync(out)
	}
	w.spare = out[:0]
	if cap(w.spare) > maxKeptBuffer {
		w.spare = nil // a burst: do not keep its buffer
	}
	if werr == nil && w.errState != nil {
		werr = w.errState
	}
	w.st.retry.Store(int64(len(w.retry)))
	w.release(policy, werr)
	if w.errState == nil && policy == FsyncEverysec {
		w.maybeBgSync(false)
	}
}

func (w *Writer) appendBatch(b *Batch, appended, records *int64) {
	*appended += int64(len(b.Records))
	n, err := walkRecords(b.Records, MaxRecordSize)
	if err == nil && n != b.Count {
		err = fmt.Errorf("%w: Count is %d, Records hold %d", ErrBadBatch, b.Count, n)
	} else if err != nil && !errors.Is(err, ErrRecordTooLarge) {
		err = fmt.Errorf("%w: %v", ErrBadBatch, err)
	}
	if err != nil {
		w.st.rejected.Add(1)
		w.log.Error("aof: batch refused", "producer", b.Producer, "err", err)
		w.cbs = append(w.cbs, pendingCB{fn: b.OnDurable, err: err})
		return
	}
	if w.rw != nil {
		w.rw.live(b.Producer, b.Records)
	}
	if w.f == nil {
		// wait-rewrite: nothing is written until the first rewrite.
		w.cbs = append(w.cbs, pendingCB{fn: b.OnDurable})
		return
	}
	w.enc.add(b.Records, n)
	*records += int64(n)
	w.cbs = append(w.cbs, pendingCB{fn: b.OnDurable, write: true})
}

// write appends sealed batches at the end of the file. On failure the file
// is cut back to its previous end and the bytes are kept for a retry.
func (w *Writer) write(out []byte) error {
	w.ensureAlloc(w.size + int64(len(out)))
	t0 := time.Now()
	n, err := w.f.WriteAt(out, w.size)
	if w.opts.OnLatency != nil {
		w.opts.OnLatency("aof-write", time.Since(t0))
	}
	if err != nil {
		w.retry = append(w.retry, out...)
		if n > 0 {
			if terr := w.truncate(w.size); terr != nil {
				w.log.Error("aof: cannot cut back a partial write", "err", terr)
			}
		}
		return w.fail("write", err)
	}
	w.size += int64(len(out))
	w.st.size.Store(w.size)
	w.st.bytes.Add(int64(len(out)))
	w.st.batches.Store(w.enc.batches)
	w.st.zbatches.Store(w.enc.zbatches)
	return nil
}

// fsync makes the file durable. group holds the bytes just written: if the
// fsync fails they are cut off the file and kept for the retry, since what
// a failed fsync left on the disk is unknown.
func (w *Writer) fsync(group []byte) error {
	target := w.size
	t0 := time.Now()
	err := dataSync(w.f)
	d := time.Since(t0)
	w.st.fsyncNanos.Add(int64(d))
	if w.opts.OnLatency != nil && Fsync(w.policy.Load()) == FsyncAlways {
		w.opts.OnLatency("aof-fsync-always", d)
	}
	if err != nil {
		groupStart := w.size - int64(len(group))
		if w.synced < groupStart {
			w.st.dirty.Store(true) // older unsynced bytes are in an unknown state
		}
		if len(group) > 0 {
			if terr := w.truncate(groupStart); terr == nil {
				w.retry = append(w.retry, group...)
				w.size = groupStart
				w.st.size.Store(w.size)
			} else {
				w.st.dirty.Store(true)
			}
		}
		return w.fail("fsync", err)
	}
	w.synced = max(w.synced, target)
	w.lastSync = w.now()
	w.st.fsyncs.Add(1)
	return nil
}

// fail enters (or stays in) the error state.
func (w *Writer) fail(op string, err error) *WriteError {
	we := &WriteError{Op: op, Err: err}
	w.st.writeErrs.Add(1)
	now := w.now()
	if w.errState == nil || now.Sub(w.lastLog) >= 30*time.Second {
		w.log.Error("aof: write failed; write commands are refused until a retry succeeds",
			"op", op, "err", err, "file", w.opts.Path, "retry_every", w.interval)
		w.lastLog = now
	}
	w.errState = we
	w.lastErr.Store(we)
	w.nextRetry = now.Add(w.interval)
	return we
}

// recover retries, in order, what failed: the directory fsync of a switch,
// the kept bytes, then an fsync. Success clears the error state.
func (w *Writer) recover() {
	if w.errState == nil {
		return
	}
	w.nextRetry = w.now().Add(w.interval)
	if w.f == nil {
		w.clearErr()
		return
	}
	if w.dirSync {
		if err := w.fs.SyncDir(w.dir); err != nil {
			w.fail("dir fsync", err)
			return
		}
		w.dirSync = false
	}
	if err := w.truncate(w.size); err != nil {
		w.fail("truncate", err)
		return
	}
	start := w.size
	if len(w.retry) > 0 {
		if _, err := w.f.WriteAt(w.retry, w.size); err != nil {
			_ = w.truncate(w.size)
			w.fail("write", err)
			return
		}
		w.size += int64(len(w.retry))
	}
	if err := w.f.Sync(); err != nil {
		if w.size > start {
			if terr := w.truncate(start); terr == nil {
				w.size = start
			} else {
				w.st.dirty.Store(true)
			}
		}
		w.fail("fsync", err)
		return
	}
	w.st.bytes.Add(w.size - start)
	w.st.size.Store(w.size)
	w.synced = w.size
	w.lastSync = w.now()
	w.st.fsyncs.Add(1)
	w.retry = w.retry[:0]
	if cap(w.retry) > maxKeptBuffer {
		w.retry = nil
	}
	w.st.retry.Store(0)
	w.clearErr()
}

// maxKeptBuffer bounds the buffers the writer keeps for reuse.
const maxKeptBuffer = 64 << 20

func (w *Writer) clearErr() {
	if w.errState != nil {
		w.log.Info("aof: writes work again", "file", w.opts.Path)
	}
	w.errState = nil
	w.lastErr.Store(nil)
}

// release calls the group's callbacks.
func (w *Writer) release(policy Fsync, werr error) {
	for i := range w.cbs {
		p := &w.cbs[i]
		err := p.err
		if err == nil && p.write {
			err = werr
			if err == nil && policy == FsyncAlways {
				if w.synced >= w.size {
					w.st.durableAfterFsync.Add(1)
				} else {
					w.st.beforeFsync.Add(1)
				}
			}
		}
		if p.fn != nil {
			p.fn(err)
		}
		p.fn = nil
	}
	w.cbs = w.cbs[:0]
	if len(w.flushes) > 0 {
		err := werr
		if err == nil && w.errState != nil {
			err = w.errState
		}
		for _, ch := range w.flushes {
			ch <- err
		}
		clear(w.flushes)
		w.flushes = w.flushes[:0]
	}
}

// tick runs every SyncInterval: retries after errors, everysec fsyncs.
func (w *Writer) tick() {
	if w.errState != nil {
		if !w.now().Before(w.nextRetry) {
			w.recover()
		}
		return
	}
	if Fsync(w.policy.Load()) == FsyncEverysec {
		w.maybeBgSync(true)
	}
}

// maybeBgSync starts a background fsync when a second has passed since the
// last one and there is something to sync. The tick (once per interval)
// counts a due fsync that finds the previous one still running.
func (w *Writer) maybeBgSync(tick bool) {
	if w.f == nil || w.synced >= w.size || w.now().Sub(w.lastSync) < w.interval {
		return
	}
	if w.syncing {
		if tick {
			w.st.delayed.Add(1)
		}
		return
	}
	w.syncing = true
	w.st.fsyncPending.Store(true)
	w.lastSync = w.now()
	w.syncReq <- syncJob{f: w.f, target: w.size}
}

func (w *Writer) syncer() {
	for j := range w.syncReq {
		t0 := time.Now()
		err := dataSync(j.f)
		w.st.fsyncNanos.Add(int64(time.Since(t0)))
		w.syncDone <- syncResult{syncJob: j, err: err}
	}
}

func (w *Writer) syncFinished(r syncResult) {
	w.syncing = false
	w.st.fsyncPending.Store(false)
	if r.f != w.f {
		return
	}
	if r.err != nil {
		w.st.dirty.Store(true)
		w.fail("fsync", r.err)
		return
	}
	w.st.fsyncs.Add(1)
	w.synced = max(w.synced, r.target)
}

// waitSync waits for a background fsync in flight.
func (w *Writer) waitSync() {
	if w.syncing {
		w.syncFinished(<-w.syncDone)
	}
}

func (w *Writer) shutdown() {
	w.abortRewrite(ErrClosed)
	w.waitSync()
	close(w.syncReq)
	w.waitFill()
	close(w.fillReq)
	var err error
	if w.f != nil {
		if w.errState != nil {
			w.recover()
		}
		if w.errState != nil {
			err = w.errState
			w.log.Error("aof: closing with unwritten data", "bytes", len(w.retry), "err", w.errState)
		} else {
			if w.alloc > w.size {
				// Cut the preallocated space off (the fsync below makes
				// the new length durable too).
				if terr := w.truncate(w.size); terr == nil {
					w.synced = min(w.synced, w.size-1)
				}
			}
			if w.synced < w.size {
				if serr := w.f.Sync(); serr != nil {
					err = &WriteError{Op: "fsync", Err: serr}
				} else {
					w.st.fsyncs.Add(1)
					w.synced = w.size
				}
			}
		}
		if cerr := w.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("aof: %w", cerr)
		}
	}
	w.closeErr = err
}
