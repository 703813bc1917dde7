package aof

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Rewrite is one background rewrite. BeginRewrite returns it; each producer
// in its set calls Snapshot zero or more times and then End, at one point
// between two of its own batches (see doc.go).
type Rewrite struct {
	w    *Writer
	tmp  string
	done func(error)

	// Writer goroutine only.
	ended     map[int]bool // producer -> snapshot ended
	begun     map[int]bool // producer -> its first Snapshot (or End) seen
	remaining int
	liveBuf   []byte // live records to forward at the end of the group
	finishing bool   // every producer ended; the finish marker is sent
	final     []byte // live records after the finish marker
	started   time.Time

	// Queue to the rewrite goroutine.
	mu     sync.Mutex
	q      []rwChunk
	abort  bool
	sig    chan struct{}
	exited chan struct{}
}

type rwChunk struct {
	recs     []byte
	count    int
	validate bool // a snapshot chunk: check framing and count
	finish   bool
}

type rwResult struct {
	rw   *Rewrite
	f    File
	size int64
	err  error
}

// BeginRewrite starts a background rewrite covering the given producers
// (every producer that appends: the shard indexes). done, if set, is called
// once on the writer goroutine with the outcome (nil after the atomic
// switch; the old file is untouched otherwise). It fails with
// ErrRewriteInProgress while another rewrite runs, ErrClosed after Close.
//
// Records appended by a producer that is not in the set go to the new file
// whatever their time: such a producer must hold no jobs.
func (w *Writer) BeginRewrite(producers []int, done func(error)) (*Rewrite, error) {
	if !w.rewriting.CompareAndSwap(false, true) {
		return nil, ErrRewriteInProgress
	}
	rw := &Rewrite{
		w:      w,
		tmp:    w.opts.Path + ".rewrite",
		done:   done,
		ended:  make(map[int]bool, len(producers)),
		begun:  make(map[int]bool, len(producers)),
		sig:    make(chan struct{}, 1),
		exited: make(chan struct{}),
	}
	for _, p := range producers {
		rw.ended[p] = false
	}
	rw.remaining = len(rw.ended)
	w.st.rwStart.Store(w.now().UnixNano())
	if !w.push(item{kind: kBegin, rw: rw}) {
		w.rewriting.Store(false)
		return nil, ErrClosed
	}
	return rw, nil
}

// Snapshot hands part of producer's job set to the rewrite: LoadJob records
// (count of them) describing those jobs as they are at this call. The
// producer's batches appended before its first Snapshot are covered by the
// snapshot; those appended from then on are copied into the new file in
// order with its chunks, so a producer may serialize its jobs in chunks
// between its batches (see doc.go). The writer owns recs from now on.
// Calls for a rewrite that has failed or finished, for a producer outside
// the set or after its End are ignored.
func (r *Rewrite) Snapshot(producer int, recs []byte, count int) {
	r.w.push(item{kind: kSnap, rw: r, producer: producer, recs: recs, count: count})
}

// End marks producer's snapshot complete: its batches appended after this
// call go to the new file too. Call it even when the producer holds no job.
func (r *Rewrite) End(producer int) {
	r.w.push(item{kind: kSnapEnd, rw: r, producer: producer})
}

// rewriteItem handles kBegin, kSnap and kSnapEnd on the writer goroutine.
func (w *Writer) rewriteItem(it *item) {
	rw := it.rw
	if it.kind == kBegin {
		w.rw = rw
		rw.started = w.now()
		w.log.Info("aof: background rewrite started", "file", w.opts.Path, "producers", len(rw.ended))
		go rw.loop()
		if rw.remaining == 0 {
			rw.finish()
		}
		return
	}
	if rw != w.rw {
		return // a rewrite that failed or finished
	}
	ended, in := rw.ended[it.producer]
	if !in || ended {
		w.log.Warn("aof: snapshot from a producer outside the rewrite or after its end ignored", "producer", it.producer)
		return
	}
	rw.begun[it.producer] = true
	switch it.kind {
	case kSnap:
		rw.forwardLive()
		rw.send(rwChunk{recs: it.recs, count: it.count, validate: true})
	case kSnapEnd:
		rw.ended[it.producer] = true
		rw.remaining--
		if rw.remaining == 0 {
			rw.finish()
		}
	}
}

// live copies a live batch's records into the rewrite when they are not
// covered by the producer's snapshot.
func (rw *Rewrite) live(producer int, recs []byte) {
	if rw.finishing {
		rw.final = append(rw.final, recs...)
		rw.w.st.rwBuf.Add(int64(len(recs)))
		return
	}
	if _, in := rw.ended[producer]; in && !rw.begun[producer] {
		return // before its first chunk: the snapshot covers it
	}
	rw.liveBuf = append(rw.liveBuf, recs...)
}

// forwardLive hands the live records gathered so far to the rewrite
// goroutine.
func (rw *Rewrite) forwardLive() {
	if len(rw.liveBuf) == 0 {
		return
	}
	rw.send(rwChunk{recs: rw.liveBuf, count: -1})
	rw.liveBuf = nil
}

func (rw *Rewrite) finish() {
	rw.forwardLive()
	rw.send(rwChunk{finish: true, count: -1})
	rw.finishing = true
}

func (rw *Rewrite) send(c rwChunk) {
	rw.w.st.rwBuf.Add(int64(len(c.recs)))
	rw.mu.Lock()
	rw.q = append(rw.q, c)
	rw.mu.Unlock()
	select {
	case rw.sig <- struct{}{}:
	default:
	}
}

func (rw *Rewrite) take(dst []rwChunk) ([]rwChunk, bool) {
	rw.mu.Lock()
	q := rw.q
	rw.q = dst[:0]
	abort := rw.abort
	rw.mu.Unlock()
	return q, abort
}

// loop is the rewrite goroutine: it writes the snapshot and the live
// records forwarded before the finish marker into the temporary file, then
// fsyncs it and reports to the writer, which appends the last live records
// and switches files.
func (rw *Rewrite) loop() {
	defer close(rw.exited)
	w := rw.w
	f, err := w.fs.OpenFile(rw.tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		w.rwDone <- rwResult{rw: rw, err: fmt.Errorf("creating %s: %w", rw.tmp, err)}
		return
	}
	failed := func(err error) {
		f.Close()
		_ = w.fs.Remove(rw.tmp)
		w.rwDone <- rwResult{rw: rw, err: err}
	}
	enc := batchEncoder{target: w.enc.target, compress: w.enc.compress}
	enc.out = appendFileHeader(nil)
	var off int64
	write := func(force bool) error {
		if len(enc.out) < 4<<20 && !force {
			return nil
		}
		if len(enc.out) == 0 {
			return nil
		}
		if _, err := f.WriteAt(enc.out, off); err != nil {
			return fmt.Errorf("writing %s: %w", rw.tmp, err)
		}
		off += int64(len(enc.out))
		enc.out = enc.out[:0]
		return nil
	}
	var chunks []rwChunk
	for {
		<-rw.sig
		var abort bool
		chunks, abort = rw.take(chunks)
		if abort {
			f.Close()
			_ = w.fs.Remove(rw.tmp)
			return
		}
		for i := range chunks {
			c := &chunks[i]
			if c.finish {
				enc.seal()
				err := write(true)
				if err == nil {
					if err = f.Sync(); err != nil {
						err = fmt.Errorf("fsync %s: %w", rw.tmp, err)
					}
				}
				if err != nil {
					failed(err)
					return
				}
				w.rwDone <- rwResult{rw: rw, f: f, size: off}
				return
			}
			if c.validate {
				n, err := walkRecords(c.recs, MaxRecordSize)
				if err == nil && n != c.count {
					err = fmt.Errorf("count is %d, records hold %d", c.count, n)
				}
				if err != nil {
					failed(fmt.Errorf("%w: snapshot chunk: %v", ErrBadBatch, err))
					return
				}
			}
			enc.add(c.recs, c.count)
			w.st.rwBuf.Add(-int64(len(c.recs)))
			if err := write(false); err != nil {
				failed(err)
				return
			}
		}
		clear(chunks)
	}
}

// rewriteReported handles the rewrite goroutine's report on the writer
// goroutine.
func (w *Writer) rewriteReported(r rwResult) {
	if r.rw != w.rw {
		if r.f != nil {
			r.f.Close()
			_ = w.fs.Remove(r.rw.tmp)
		}
		return
	}
	if r.err != nil {
		w.rewriteFailed(r.err)
		return
	}
	if err := w.switchFile(r); err != nil {
		r.f.Close()
		_ = w.fs.Remove(r.rw.tmp)
		w.rewriteFailed(err)
	}
}

// switchFile appends the last live records to the new file, makes it
// durable and renames it over the log.
func (w *Writer) switchFile(r rwResult) error {
	rw := w.rw
	size := r.size
	if len(rw.final) > 0 {
		w.enc.add(rw.final, -1)
		tail := w.enc.take(w.spare)
		_, err := r.f.WriteAt(tail, size)
		size += int64(len(tail))
		w.spare = tail[:0]
		if err != nil {
			return fmt.Errorf("writing %s: %w", rw.tmp, err)
		}
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", rw.tmp, err)
	}
	w.waitSync()
	w.waitFill()
	if err := w.fs.Rename(rw.tmp, w.opts.Path); err != nil {
		return fmt.Errorf("renaming %s: %w", rw.tmp, err)
	}
	// The new file is the log now: everything kept for a retry of the old
	// one is covered by it.
	old := w.f
	w.f, w.size, w.synced, w.alloc = r.f, size, size, size
	w.retry = w.retry[:0]
	w.st.retry.Store(0)
	w.st.dirty.Store(false)
	w.clearErr()
	w.lastSync = w.now()
	if err := w.fs.SyncDir(w.dir); err != nil {
		w.dirSync = true
		w.fail("dir fsync", err)
	}
	if old != nil {
		old.Close()
	}
	dur := w.now().Sub(rw.started)
	w.st.size.Store(size)
	w.st.base.Store(size)
	w.st.hasFile.Store(true)
	w.st.rewrites.Add(1)
	w.st.lastRwDur.Store(int64(dur))
	w.st.lastRwOK.Store(true)
	w.endRewrite()
	w.log.Info("aof: background rewrite done", "file", w.opts.Path, "size", size, "took", dur)
	if rw.done != nil {
		rw.done(nil)
	}
	return nil
}

func (w *Writer) endRewrite() {
	w.rw = nil
	w.st.rwBuf.Store(0)
	w.st.rwStart.Store(0)
	w.rewriting.Store(false)
}

func (w *Writer) rewriteFailed(err error) {
	rw := w.rw
	w.st.rwFailures.Add(1)
	w.st.lastRwOK.Store(false)
	if !rw.started.IsZero() {
		w.st.lastRwDur.Store(int64(w.now().Sub(rw.started)))
	}
	w.endRewrite()
	w.log.Error("aof: background rewrite failed; the old file stays in use", "file", w.opts.Path, "err", err)
	if rw.done != nil {
		rw.done(fmt.Errorf("aof: rewrite: %w", err))
	}
}

// abortRewrite stops a rewrite in progress (Close).
func (w *Writer) abortRewrite(err error) {
	rw := w.rw
	if rw == nil {
		return
	}
	rw.mu.Lock()
	rw.abort = true
	rw.mu.Unlock()
	select {
	case rw.sig <- struct{}{}:
	default:
	}
	<-rw.exited
	select {
	case r := <-w.rwDone:
		if r.f != nil {
			r.f.Close()
			_ = w.fs.Remove(rw.tmp)
		}
	default:
	}
	w.rewriteFailed(err)
}
