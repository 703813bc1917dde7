package aof

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shardSim is a producer that owns a disjoint set of jobs, appends a batch
// per "pass" and answers snapshot requests between passes, like a shard.
type shardSim struct {
	id      int
	w       *Writer
	jobs    model
	rng     *rand.Rand
	seq     int
	snap    chan *Rewrite
	chunk   int // records per Snapshot call
	appends atomic.Int64
	window  chan struct{} // batches in flight (a shard's replies wait on them)
}

func newShardSim(w *Writer, id int) *shardSim {
	return &shardSim{id: id, w: w, jobs: model{}, rng: rand.New(rand.NewPCG(uint64(id), 42)), snap: make(chan *Rewrite, 4), chunk: 7, window: make(chan struct{}, 4)}
}

// pass applies 1-6 random changes and appends their records.
func (s *shardSim) pass() {
	var recs []byte
	n := 1 + s.rng.IntN(6)
	for i := 0; i < n; i++ {
		switch op := s.rng.IntN(10); {
		case op < 5 && len(s.jobs) < 500 || len(s.jobs) == 0: // new job
			j := makeJob(s.rng, s.id, s.seq)
			s.seq++
			s.jobs[j.ID] = cloneJob(j)
			recs = AppendLoadJob(recs, &j)
		case op < 8: // delete (ack) one
			for id := range s.jobs {
				delete(s.jobs, id)
				recs = AppendDelJob(recs, id, "default")
				break
			}
		default: // a change that matters: rewrite the job's record
			for id, j := range s.jobs {
				j.Nacks++
				j.State = StateActive
				s.jobs[id] = j
				recs = AppendLoadJob(recs, &j)
				break
			}
		}
	}
	s.appends.Add(int64(n))
	s.window <- struct{}{}
	s.w.Append(&Batch{Producer: s.id, Records: recs, Count: n, OnDurable: func(error) { <-s.window }})
}

// snapshot hands the whole job set to rw, in chunks, then ends.
func (s *shardSim) snapshot(rw *Rewrite) {
	var recs []byte
	cnt := 0
	for _, j := range s.jobs {
		recs = AppendLoadJob(recs, &j)
		cnt++
		if cnt == s.chunk {
			rw.Snapshot(s.id, recs, cnt)
			recs, cnt = nil, 0
		}
	}
	if cnt > 0 {
		rw.Snapshot(s.id, recs, cnt)
	}
	rw.End(s.id)
}

// run does passes until stop is closed, taking snapshot requests between
// passes.
func (s *shardSim) run(stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case rw := <-s.snap:
			s.snapshot(rw)
		case <-stop:
			// Drain late snapshot requests so no rewrite waits forever.
			for {
				select {
				case rw := <-s.snap:
					s.snapshot(rw)
				default:
					return
				}
			}
		default:
		}
		s.pass()
		if s.rng.IntN(20) == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

type cluster struct {
	w      *Writer
	shards []*shardSim
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startCluster(w *Writer, n int) *cluster {
	c := &cluster{w: w, stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		s := newShardSim(w, i)
		c.shards = append(c.shards, s)
		c.wg.Add(1)
		go s.run(c.stop, &c.wg)
	}
	return c
}

func (c *cluster) ids() []int {
	var ids []int
	for _, s := range c.shards {
		ids = append(ids, s.id)
	}
	return ids
}

// rewrite starts a rewrite and asks every shard to snapshot.
func (c *cluster) rewrite(t *testing.T) chan error {
	t.Helper()
	done := make(chan error, 1)
	rw, err := c.w.BeginRewrite(c.ids(), func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.shards {
		s.snap <- rw
	}
	return done
}

func (c *cluster) halt() model {
	close(c.stop)
	c.wg.Wait()
	all := model{}
	for _, s := range c.shards {
		for id, j := range s.jobs {
			all[id] = j
		}
	}
	return all
}

func (c *cluster) totalRecords() int64 {
	var n int64
	for _, s := range c.shards {
		n += s.appends.Load()
	}
	return n
}

// TestRewriteUnderLoad: rewrites while shards keep appending, then a
// restart: the job set is the model's.
func TestRewriteUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		pol  Fsync
		slow time.Duration
	}{{"everysec", FsyncEverysec, 0}, {"always", FsyncAlways, 0}, {"slow-disk", FsyncEverysec, 5 * time.Millisecond}} {
		pol := tc.pol
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rw.aof")
			w := openTest(t, Options{Path: path, Fsync: pol, Compress: true, BatchTarget: 4096, FS: &faultFS{syncDelay: tc.slow}})
			c := startCluster(w, 6)
			time.Sleep(30 * time.Millisecond)
			for round := 0; round < 3; round++ {
				done := c.rewrite(t)
				if _, err := w.BeginRewrite(c.ids(), nil); err != ErrRewriteInProgress {
					t.Fatalf("second BeginRewrite: %v", err)
				}
				if !w.Stats().RewriteInProgress {
					t.Fatal("RewriteInProgress false")
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // traffic after the switch
			}
			want := c.halt()
			st := w.Stats()
			if st.Rewrites != 3 || !st.LastRewriteOK || st.RewriteInProgress || st.LastRewriteTime < 0 {
				t.Fatalf("stats: %+v", st)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + ".rewrite"); !os.IsNotExist(err) {
				t.Fatalf("temporary file left: %v", err)
			}
			got, ls := loadModel(t, path, LoadOptions{})
			compareModels(t, got, want)
			total := c.totalRecords()
			t.Logf("%d jobs, %d records appended, %d in the rewritten file", len(want), total, ls.Records)
			if ls.Records >= total {
				t.Fatalf("the rewrite did not compact: %d records of %d", ls.Records, total)
			}
			// Restart: reopen, more traffic, load again.
			w = openTest(t, Options{Path: path, Fsync: pol})
			c2 := &cluster{w: w, stop: make(chan struct{})}
			for _, s := range c.shards {
				s.w = w
				c2.shards = append(c2.shards, s)
				c2.wg.Add(1)
				go s.run(c2.stop, &c2.wg)
			}
			time.Sleep(20 * time.Millisecond)
			want = c2.halt()
			w.Close()
			got, _ = loadModel(t, path, LoadOptions{})
			compareModels(t, got, want)
		})
	}
}

// TestRewriteSnapshotExactness checks the boundary precisely: batches
// appended before End are covered by the snapshot and not duplicated;
// batches after End are in the new file.
func TestRewriteSnapshotExactness(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo})
	a, b := Job{ID: idOf(0, 1), Queue: []byte("a")}, Job{ID: idOf(1, 1), Queue: []byte("b")}
	appendSync(w, 0, AppendLoadJob(nil, &a), 1)
	appendSync(w, 1, AppendLoadJob(nil, &b), 1)
	done := make(chan error, 1)
	rw, err := w.BeginRewrite([]int{0, 1}, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	// Producer 0 deletes a before its snapshot point: the snapshot is empty.
	appendSync(w, 0, AppendDelJob(nil, a.ID, "default"), 1)
	rw.End(0)
	// After its End: a new job c (must be in the new file).
	c := Job{ID: idOf(0, 2), Queue: []byte("c")}
	appendSync(w, 0, AppendLoadJob(nil, &c), 1)
	// Producer 1: a live change before its snapshot (covered), snapshot,
	// then a deletion after (must apply).
	b.Nacks = 5
	appendSync(w, 1, AppendLoadJob(nil, &b), 1)
	rw.Snapshot(1, AppendLoadJob(nil, &b), 1)
	// A snapshot from a producer outside the set and a second End: ignored.
	rw.Snapshot(7, AppendLoadJob(nil, &a), 1)
	rw.End(0)
	rw.End(1)
	appendSync(w, 1, AppendDelJob(nil, b.ID, "default"), 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	d := Job{ID: idOf(1, 3), Queue: []byte("d")}
	appendSync(w, 1, AppendLoadJob(nil, &d), 1)
	w.Close()
	var types []RecordType
	m := model{}
	if _, err := Load(path, LoadOptions{}, func(r Record) error { types = append(types, r.Type); return m.apply(r) }); err != nil {
		t.Fatal(err)
	}
	compareModels(t, m, model{c.ID: cloneJob(c), d.ID: cloneJob(d)})
	// b from the snapshot, c live after End(0), b's deletion after the
	// finish, d after the switch. Order of the first two depends on timing.
	if len(types) != 4 {
		t.Fatalf("records in the new file: %v", types)
	}
}

// TestRewriteChunkedSnapshot: a producer that serializes its jobs in chunks
// between its batches. Its batches after the first chunk are copied into
// the new file in order with the chunks, so changes to jobs already
// serialized survive and jobs serialized twice end in their last state.
// (Before chunking, batches up to End were dropped as covered, which would
// resurrect x here.)
func TestRewriteChunkedSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo})
	x := Job{ID: idOf(0, 1), Queue: []byte("x")}
	appendSync(w, 0, AppendLoadJob(nil, &x), 1)
	done := make(chan error, 1)
	rw, err := w.BeginRewrite([]int{0}, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	x.Nacks = 1
	appendSync(w, 0, AppendLoadJob(nil, &x), 1) // before the first chunk: covered
	rw.Snapshot(0, AppendLoadJob(nil, &x), 1)   // chunk 1: x as it is now
	appendSync(w, 0, AppendDelJob(nil, x.ID, "default"), 1)
	y := Job{ID: idOf(0, 2), Queue: []byte("y")}
	appendSync(w, 0, AppendLoadJob(nil, &y), 1) // created after chunk 1
	rw.Snapshot(0, AppendLoadJob(nil, &y), 1)   // chunk 2 serializes y again
	y.Nacks = 3
	appendSync(w, 0, AppendLoadJob(nil, &y), 1) // changed after its chunk
	z := Job{ID: idOf(0, 3), Queue: []byte("z")}
	appendSync(w, 0, AppendLoadJob(nil, &z), 1)
	appendSync(w, 0, AppendDelJob(nil, z.ID, "default"), 1) // gone before chunk 3
	rw.End(0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _ := loadModel(t, path, LoadOptions{})
	compareModels(t, got, model{y.ID: cloneJob(y)})
}

func TestRewriteFailureKeepsOldFile(t *testing.T) {
	for _, mode := range []string{"tmp-write", "rename", "bad-snapshot"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.aof")
			fs := &faultFS{}
			w := openTest(t, Options{Path: path, Fsync: FsyncEverysec, FS: fs})
			c := startCluster(w, 3)
			time.Sleep(10 * time.Millisecond)
			switch mode {
			case "tmp-write":
				fs.failTmp.Store(true)
			case "rename":
				fs.failRename.Store(true)
			}
			var done chan error
			if mode == "bad-snapshot" {
				done = make(chan error, 1)
				rw, err := w.BeginRewrite([]int{0, 1, 2, 99}, func(err error) { done <- err })
				if err != nil {
					t.Fatal(err)
				}
				rw.Snapshot(99, []byte{1, 5, 0}, 1) // a cut record
				for _, s := range c.shards {
					s.snap <- rw
				}
			} else {
				done = c.rewrite(t)
			}
			err := <-done
			if err == nil {
				t.Fatal("rewrite succeeded")
			}
			st := w.Stats()
			if st.LastRewriteOK || st.RewriteInProgress || st.RewriteFailures != 1 {
				t.Fatalf("stats: %+v", st)
			}
			if _, err := os.Stat(path + ".rewrite"); !os.IsNotExist(err) {
				t.Fatalf("temporary file left: %v", err)
			}
			time.Sleep(10 * time.Millisecond) // traffic goes on into the old file
			fs.failTmp.Store(false)
			fs.failRename.Store(false)
			want := c.halt()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := loadModel(t, path, LoadOptions{})
			compareModels(t, got, want)
		})
	}
}

// TestRewriteClearsWriteError: a rewrite from memory repairs a log whose
// writes failed.
func TestRewriteClearsWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.aof")
	fs := &faultFS{}
	w := openTest(t, Options{Path: path, Fsync: FsyncAlways, FS: fs, SyncInterval: time.Hour})
	a := Job{ID: idOf(0, 1)}
	appendSync(w, 0, AppendLoadJob(nil, &a), 1)
	fs.failWrite.Store(true) // the live file only
	b := Job{ID: idOf(0, 2)}
	if err := appendSync(w, 0, AppendLoadJob(nil, &b), 1); err == nil || w.Err() == nil {
		t.Fatal("write did not fail")
	}
	done := make(chan error, 1)
	rw, _ := w.BeginRewrite([]int{0}, func(err error) { done <- err })
	var snap []byte
	snap = AppendLoadJob(snap, &a)
	snap = AppendLoadJob(snap, &b)
	rw.Snapshot(0, snap, 2)
	rw.End(0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.Err() != nil {
		t.Fatalf("error state after the rewrite: %v", w.Err())
	}
	c := Job{ID: idOf(0, 3)}
	if err := appendSync(w, 0, AppendLoadJob(nil, &c), 1); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _ := loadModel(t, path, LoadOptions{})
	compareModels(t, got, model{a.ID: cloneJob(a), b.ID: cloneJob(b), c.ID: cloneJob(c)})
}

// TestWaitRewrite: CONFIG SET appendonly yes at run time.
func TestWaitRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wait.aof")
	// A stale file from an earlier run must not survive.
	stale := openTest(t, Options{Path: path})
	old := Job{ID: idOf(9, 9)}
	appendSync(stale, 9, AppendLoadJob(nil, &old), 1)
	stale.Close()

	w := openTest(t, Options{Path: path, Fsync: FsyncAlways, WaitRewrite: true})
	if st := w.Stats(); st.State != "wait-rewrite" {
		t.Fatalf("state %q", st.State)
	}
	c := startCluster(w, 4)
	time.Sleep(10 * time.Millisecond)
	if w.Stats().DurableAfterFsync != 0 || w.Stats().Fsyncs != 0 {
		t.Fatal("wrote before the rewrite")
	}
	if err := <-c.rewrite(t); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.State != "on" || st.BaseSize <= HeaderSize {
		t.Fatalf("after the rewrite: %+v", st)
	}
	time.Sleep(10 * time.Millisecond)
	want := c.halt()
	w.Close()
	got, _ := loadModel(t, path, LoadOptions{})
	compareModels(t, got, want)
}

func TestRewriteEmptyAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.aof")
	w := openTest(t, Options{Path: path})
	j := Job{ID: idOf(0, 1)}
	appendSync(w, 0, AppendLoadJob(nil, &j), 1)
	done := make(chan error, 1)
	if _, err := w.BeginRewrite(nil, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != HeaderSize {
		t.Fatalf("empty rewrite: %d bytes", fi.Size())
	}
	// Close during a rewrite abandons it and keeps the file.
	appendSync(w, 0, AppendLoadJob(nil, &j), 1)
	rw, err := w.BeginRewrite([]int{0}, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	rw.Snapshot(0, AppendLoadJob(nil, &j), 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("rewrite after Close: %v", err)
	}
	rw.End(0) // late: ignored
	if _, err := os.Stat(path + ".rewrite"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	got, _ := loadModel(t, path, LoadOptions{})
	if len(got) != 1 {
		t.Fatalf("%v", got)
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte(Magic)) {
		t.Fatal("header")
	}
}
