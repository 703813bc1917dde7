package aof

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// produce runs producers goroutines that each append nb batches of per
// LoadJob records without waiting (window 0) or with at most window batches
// in flight, and returns the model and the collector.
func produce(t *testing.T, w *Writer, producers, nb, per, window int) (model, *collector) {
	t.Helper()
	col := &collector{}
	models := make([]model, producers)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 99))
			m := model{}
			var sem chan struct{}
			if window > 0 {
				sem = make(chan struct{}, window)
			}
			for b := 0; b < nb; b++ {
				var recs []byte
				for i := 0; i < per; i++ {
					j := makeJob(rng, p, b*per+i)
					recs = AppendLoadJob(recs, &j)
					m[j.ID] = cloneJob(j)
				}
				cb := col.cb(p, b)
				if sem != nil {
					sem <- struct{}{}
					inner := cb
					cb = func(err error) { inner(err); <-sem }
				}
				w.Append(&Batch{Producer: p, Records: recs, Count: per, OnDurable: cb})
			}
			if sem != nil {
				for i := 0; i < window; i++ {
					sem <- struct{}{}
				}
			}
			models[p] = m
		}(p)
	}
	wg.Wait()
	all := model{}
	for _, m := range models {
		for id, j := range m {
			all[id] = j
		}
	}
	return all, col
}

func checkOrder(t *testing.T, col *collector, producers, nb int) {
	t.Helper()
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.errs) > 0 {
		t.Fatalf("callback errors: %v", col.errs[0])
	}
	for p := 0; p < producers; p++ {
		s := col.seen[p]
		if len(s) != nb {
			t.Fatalf("producer %d: %d callbacks, want %d", p, len(s), nb)
		}
		for i, v := range s {
			if v != i {
				t.Fatalf("producer %d: callback %d is batch %d", p, i, v)
			}
		}
	}
}

func TestWriterPolicies(t *testing.T) {
	for _, pol := range []Fsync{FsyncAlways, FsyncEverysec, FsyncNo} {
		t.Run(pol.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.aof")
			w := openTest(t, Options{Path: path, Fsync: pol, SyncInterval: 20 * time.Millisecond})
			const producers, nb = 4, 100
			want, col := produce(t, w, producers, nb, 5, 8)
			checkOrder(t, col, producers, nb)
			st := w.Stats()
			switch pol {
			case FsyncAlways:
				if st.DurableAfterFsync != producers*nb || st.RepliesBeforeFsync != 0 {
					t.Fatalf("always: %+v", st)
				}
				if st.Fsyncs >= producers*nb {
					t.Fatalf("no group commit: %d fsyncs for %d batches", st.Fsyncs, producers*nb)
				}
			case FsyncEverysec:
				waitFor(t, "a background fsync", func() bool { return w.Stats().Fsyncs > 0 })
				fallthrough
			default:
				if st.DurableAfterFsync != 0 || st.RepliesBeforeFsync != 0 {
					t.Fatalf("%v: %+v", pol, st)
				}
			}
			if st.Records != producers*nb*5 || st.CurrentSize != st.BytesWritten+HeaderSize || st.PendingBytes != 0 || !st.LastWriteOK {
				t.Fatalf("stats: %+v", st)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := loadModel(t, path, LoadOptions{})
			compareModels(t, got, want)
		})
	}
}

// TestGroupCommit: producers that each wait for their reply (like clients)
// share fsyncs.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.aof")
	fs := &faultFS{syncDelay: 2 * time.Millisecond}
	w := openTest(t, Options{Path: path, Fsync: FsyncAlways, FS: fs})
	const producers, nb = 16, 40
	want, col := produce(t, w, producers, nb, 2, 1)
	checkOrder(t, col, producers, nb)
	st := w.Stats()
	t.Logf("%d batches, %d fsyncs, %d write calls", producers*nb, st.Fsyncs, fs.writes.Load())
	if st.Fsyncs*3 > producers*nb || st.RepliesBeforeFsync != 0 || st.DurableAfterFsync != producers*nb {
		t.Fatalf("group commit: %d fsyncs for %d batches: %+v", st.Fsyncs, producers*nb, st)
	}
	w.Close()
	got, _ := loadModel(t, path, LoadOptions{})
	compareModels(t, got, want)
}

func TestCompressionDecision(t *testing.T) {
	rep := bytes.Repeat([]byte("abcdefgh"), 100)
	rnd := make([]byte, 800)
	for i, r := 0, rand.New(rand.NewPCG(1, 1)); i < len(rnd); i++ {
		rnd[i] = byte(r.Uint32())
	}
	rec := func(body []byte) []byte { j := Job{ID: idOf(0, 1), Body: body}; return AppendLoadJob(nil, &j) }
	cases := []struct {
		name     string
		recs     []byte
		compress bool
		want     bool
	}{
		{"small-repetitive", rec(rep[:400]), true, false}, // payload < 512
		{"large-repetitive", rec(rep), true, true},
		{"large-random", rec(rnd), true, false},
		{"off", rec(rep), false, false},
	}
	for _, c := range cases {
		e := batchEncoder{target: 1 << 20, compress: c.compress}
		e.add(c.recs, -1)
		out := e.take(nil)
		h, bad := parseBatchHeader(out[:BatchHeaderSize])
		if bad != "" {
			t.Fatal(bad)
		}
		if got := h.flags&BatchS2 != 0; got != c.want {
			t.Fatalf("%s: compressed %v, want %v", c.name, got, c.want)
		}
		p, _, bad := decodePayload(h, out[BatchHeaderSize:], nil)
		if bad != "" || !bytes.Equal(p, c.recs) {
			t.Fatalf("%s: decode: %s", c.name, bad)
		}
	}
	// Through the writer.
	path := filepath.Join(t.TempDir(), "z.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo, Compress: true})
	if err := appendSync(w, 0, rec(rep), 1); err != nil {
		t.Fatal(err)
	}
	if err := appendSync(w, 0, rec(rnd), 1); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.CompressedBatches != 1 || st.Batches != 2 {
		t.Fatalf("%+v", st)
	}
	w.Close()
	if rep, err := Check(path); err != nil || rep.Bad != nil || rep.CompressedBatches != 1 || rep.Records != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
}

// TestBatchSplitting: a group larger than the batch target is split at
// record boundaries; a producer batch may span batches.
func TestBatchSplitting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo, BatchTarget: 1000})
	rng := rand.New(rand.NewPCG(2, 2))
	want := model{}
	var recs []byte
	for i := 0; i < 100; i++ {
		j := makeJob(rng, 0, i)
		if i == 50 {
			j.Body = make([]byte, 5000) // larger than the target: a batch of its own
		}
		recs = AppendLoadJob(recs, &j)
		want[j.ID] = cloneJob(j)
	}
	if err := appendSync(w, 0, recs, 100); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, st := loadModel(t, path, LoadOptions{})
	compareModels(t, got, want)
	if st.Batches < 10 {
		t.Fatalf("%d batches", st.Batches)
	}
}

func TestWriterRejectsBadBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncAlways})
	j := Job{ID: idOf(0, 1)}
	rec := AppendLoadJob(nil, &j)
	if err := appendSync(w, 0, rec, 2); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("count mismatch: %v", err)
	}
	if err := appendSync(w, 0, rec[:len(rec)-1], 1); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("cut record: %v", err)
	}
	huge := AppendRaw(nil, RecLoadJob, make([]byte, MaxRecordSize))
	if err := appendSync(w, 0, huge, 1); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("huge record: %v", err)
	}
	if err := appendSync(w, 0, rec, 1); err != nil || w.Err() != nil {
		t.Fatalf("after rejections: %v %v", err, w.Err())
	}
	if st := w.Stats(); st.RejectedBatches != 3 || st.Records != 1 {
		t.Fatalf("%+v", st)
	}
	w.Close()
	if n, _, err := countRecords(t, path, LoadOptions{}); err != nil || n != 1 {
		t.Fatalf("%d %v", n, err)
	}
}

func TestWriteErrorRecovery(t *testing.T) {
	for _, pol := range []Fsync{FsyncAlways, FsyncEverysec, FsyncNo} {
		t.Run(pol.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "e.aof")
			fs := &faultFS{}
			w := openTest(t, Options{Path: path, Fsync: pol, FS: fs, SyncInterval: 30 * time.Millisecond})
			rng := rand.New(rand.NewPCG(3, 3))
			want := model{}
			add := func(seq int) []byte {
				j := makeJob(rng, 0, seq)
				want[j.ID] = cloneJob(j)
				return AppendLoadJob(nil, &j)
			}
			if err := appendSync(w, 0, add(0), 1); err != nil {
				t.Fatal(err)
			}
			good := w.Stats().CurrentSize
			fs.failWrite.Store(true)
			err := appendSync(w, 0, add(1), 1)
			var we *WriteError
			if !errors.As(err, &we) || !errors.Is(err, syscall.ENOSPC) || w.Err() == nil || w.Stats().LastWriteOK {
				t.Fatalf("failed write: %v / %v", err, w.Err())
			}
			if fi, _ := os.Stat(path); fi.Size() != good {
				t.Fatalf("partial write left: size %d, want %d", fi.Size(), good)
			}
			// While the error lasts every batch is refused (and kept).
			if err := appendSync(w, 0, add(2), 1); !errors.As(err, &we) {
				t.Fatalf("during error: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // retries fail
			if st := w.Stats(); st.PendingBytes == 0 || st.LastWriteOK {
				t.Fatalf("during the error: %+v", st)
			}
			if err := appendSync(w, 0, add(3), 1); err == nil {
				t.Fatal("accepted during error")
			}
			fs.failWrite.Store(false)
			waitFor(t, "recovery", func() bool { return w.Err() == nil })
			if err := appendSync(w, 0, add(4), 1); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			st := w.Stats()
			if !st.LastWriteOK || st.WriteErrors == 0 || st.RepliesBeforeFsync != 0 || st.PendingBytes != 0 {
				t.Fatalf("%+v", st)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := loadModel(t, path, LoadOptions{})
			compareModels(t, got, want) // nothing lost, nothing torn
		})
	}
}

func TestFsyncErrorAlways(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.aof")
	fs := &faultFS{}
	w := openTest(t, Options{Path: path, Fsync: FsyncAlways, FS: fs, SyncInterval: 20 * time.Millisecond})
	j := Job{ID: idOf(0, 1)}
	if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
		t.Fatal(err)
	}
	good := w.Stats().CurrentSize
	fs.failSync.Store(true)
	j2 := Job{ID: idOf(0, 2)}
	if err := appendSync(w, 0, AppendLoadJob(nil, &j2), 1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync failure: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != good || w.Stats().CurrentSize != good {
		t.Fatalf("unsynced group not cut back: %d", fi.Size())
	}
	if st := w.Stats(); st.RepliesBeforeFsync != 0 || st.DurableAfterFsync != 1 {
		t.Fatalf("%+v", st)
	}
	fs.failSync.Store(false)
	waitFor(t, "recovery", func() bool { return w.Err() == nil })
	w.Close()
	if n, _, err := countRecords(t, path, LoadOptions{}); err != nil || n != 2 {
		t.Fatalf("%d %v", n, err)
	}
}

func TestEverysecFsyncErrorNeedsRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "es.aof")
	fs := &faultFS{}
	w := openTest(t, Options{Path: path, Fsync: FsyncEverysec, FS: fs, SyncInterval: 20 * time.Millisecond})
	defer w.Close()
	fs.failSync.Store(true)
	j := Job{ID: idOf(0, 1)}
	if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
		t.Fatal(err) // everysec: reported after the write
	}
	waitFor(t, "the background fsync failure", func() bool { return w.Err() != nil })
	if w.NeedsRewrite(100, 1<<40) {
		t.Fatal("NeedsRewrite during the error")
	}
	fs.failSync.Store(false)
	waitFor(t, "recovery", func() bool { return w.Err() == nil })
	if !w.NeedsRewrite(0, 1<<40) {
		t.Fatal("NeedsRewrite false after a failed fsync")
	}
	done := make(chan error, 1)
	rw, err := w.BeginRewrite([]int{0}, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	rw.Snapshot(0, AppendLoadJob(nil, &j), 1)
	rw.End(0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.NeedsRewrite(0, 1<<40) {
		t.Fatal("NeedsRewrite still true after the rewrite")
	}
}

func TestFlushCloseAndRuntimePolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo})
	j := Job{ID: idOf(0, 1)}
	if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
		t.Fatal(err)
	}
	if w.Stats().Fsyncs != 0 {
		t.Fatal("fsync under no")
	}
	if err := w.Flush(); err != nil || w.Stats().Fsyncs != 1 {
		t.Fatalf("Flush: %v %+v", err, w.Stats())
	}
	w.SetFsync(FsyncAlways)
	if w.Fsync() != FsyncAlways {
		t.Fatal("SetFsync")
	}
	if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.DurableAfterFsync != 1 || st.Fsyncs != 2 {
		t.Fatalf("%+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	var got error
	w.Append(&Batch{OnDurable: func(err error) { got = err }})
	if got != ErrClosed || w.Flush() != ErrClosed {
		t.Fatalf("after Close: %v", got)
	}
	if _, err := w.BeginRewrite(nil, nil); err != ErrClosed {
		t.Fatalf("BeginRewrite after Close: %v", err)
	}
	// Reopen and append: the file keeps growing.
	w = openTest(t, Options{Path: path, Fsync: FsyncEverysec})
	if st := w.Stats(); st.CurrentSize != st.BaseSize || st.CurrentSize <= HeaderSize {
		t.Fatalf("reopen: %+v", st)
	}
	j2 := Job{ID: idOf(0, 2)}
	appendSync(w, 0, AppendDelJob(AppendLoadJob(nil, &j2), j.ID, "default"), 2)
	w.Close()
	got2, _ := loadModel(t, path, LoadOptions{})
	if _, ok := got2[j2.ID]; len(got2) != 1 || !ok {
		t.Fatalf("%v", got2)
	}
}

func TestNeedsRewriteSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo})
	defer w.Close()
	if w.NeedsRewrite(100, 0) {
		t.Fatal("empty file")
	}
	body := Job{ID: idOf(0, 1), Body: make([]byte, 100)}
	rec := AppendLoadJob(nil, &body)
	appendSync(w, 0, rec, 1) // size ~ 16+24+140: more than double the base (16)
	if !w.NeedsRewrite(100, 0) || w.NeedsRewrite(100, 1<<20) || w.NeedsRewrite(0, 0) || w.NeedsRewrite(10000, 0) {
		t.Fatalf("NeedsRewrite: %+v", w.Stats())
	}
}

func TestOpenTornHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.aof")
	os.WriteFile(path, []byte(Magic[:5]), 0o644)
	var te *TornError
	if _, err := Open(Options{Path: path}); !errors.As(err, &te) {
		t.Fatalf("%v", err)
	}
	// Load with Truncate repairs it; Open then works.
	if _, _, err := countRecords(t, path, LoadOptions{Truncate: true}); err != nil {
		t.Fatal(err)
	}
	w := openTest(t, Options{Path: path})
	w.Close()
}

// TestEmptyBatch: a batch without records (a shard's held bus messages for
// copies logged earlier) is released once everything before it is durable,
// and writes nothing.
func TestEmptyBatch(t *testing.T) {
	for _, pol := range []Fsync{FsyncAlways, FsyncEverysec} {
		p := filepath.Join(t.TempDir(), "a.aof")
		w := openTest(t, Options{Path: p, Fsync: pol})
		rng := rand.New(rand.NewPCG(5, 6))
		j := makeJob(rng, 0, 1)
		if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
			t.Fatal(err)
		}
		size := w.Stats().CurrentSize
		if err := appendSync(w, 0, nil, 0); err != nil {
			t.Fatalf("%v: empty batch: %v", pol, err)
		}
		st := w.Stats()
		if st.CurrentSize != size || st.RejectedBatches != 0 || st.RepliesBeforeFsync != 0 {
			t.Fatalf("%v: after an empty batch: %+v (size before %d)", pol, st, size)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := loadModel(t, p, LoadOptions{})
		compareModels(t, got, model{j.ID: cloneJob(j)})
	}
}

// TestLatencyHook: under always every fsync a reply waits for is reported
// as "aof-fsync-always" with its duration, every group write as
// "aof-write", and Stats.FsyncTime adds the fsyncs up; under everysec the
// background fsyncs count in FsyncTime but are not reply waits.
func TestLatencyHook(t *testing.T) {
	const delay = 3 * time.Millisecond
	for _, pol := range []Fsync{FsyncAlways, FsyncEverysec} {
		t.Run(pol.String(), func(t *testing.T) {
			var mu sync.Mutex
			count := map[string]int64{}
			least := map[string]time.Duration{}
			hook := func(ev string, d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				if count[ev] == 0 || d < least[ev] {
					least[ev] = d
				}
				count[ev]++
			}
			path := filepath.Join(t.TempDir(), "l.aof")
			// No preallocation: the zero filler's syncs would be delayed too.
			w := openTest(t, Options{Path: path, Fsync: pol, FS: &faultFS{syncDelay: delay},
				SyncInterval: 10 * time.Millisecond, Preallocate: -1, OnLatency: hook})
			defer w.Close()
			produce(t, w, 4, 20, 2, 1)
			if pol == FsyncEverysec {
				waitFor(t, "a background fsync", func() bool { return w.Stats().Fsyncs > 0 })
			}
			st := w.Stats()
			mu.Lock()
			defer mu.Unlock()
			if count["aof-write"] == 0 {
				t.Fatalf("no aof-write events: %v", count)
			}
			if st.FsyncTime < time.Duration(st.Fsyncs)*delay {
				t.Fatalf("FsyncTime %v for %d fsyncs of at least %v", st.FsyncTime, st.Fsyncs, delay)
			}
			switch pol {
			case FsyncAlways:
				if count["aof-fsync-always"] != st.Fsyncs || least["aof-fsync-always"] < delay {
					t.Fatalf("aof-fsync-always: %d events (least %v) for %d fsyncs of at least %v",
						count["aof-fsync-always"], least["aof-fsync-always"], st.Fsyncs, delay)
				}
			default:
				if count["aof-fsync-always"] != 0 {
					t.Fatalf("everysec reported %d aof-fsync-always events", count["aof-fsync-always"])
				}
			}
		})
	}
}
