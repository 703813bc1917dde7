package aof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// idOf builds a distinct job ID from a producer and a sequence number.
func idOf(producer, seq int) [24]byte {
	var id [24]byte
	binary.BigEndian.PutUint32(id[0:], 0xd15c0000|uint32(producer))
	binary.BigEndian.PutUint64(id[4:], uint64(seq))
	id[22], id[23] = 0x01, 0x01
	return id
}

func holderID(i int) string { return fmt.Sprintf("%040x", i+1) }

// makeJob returns a job with every field set from rng.
func makeJob(rng *rand.Rand, producer, seq int) Job {
	j := Job{
		ID:     idOf(producer, seq),
		State:  State(rng.IntN(2)),
		Flags:  JobFlags(rng.Uint32() & 0x37),
		CTime:  rng.Uint64(),
		Expire: rng.Int64(),
		Delay:  rng.Uint32(),
		Retry:  rng.Uint32(),
		Repl:   uint16(rng.Uint32()),
		Nacks:  uint16(rng.Uint32()),
		AddDel: uint16(rng.Uint32()),
		Tenant: []byte("tenant-" + fmt.Sprint(rng.IntN(3))),
		Queue:  []byte(fmt.Sprintf("queue-%d", rng.IntN(50))),
	}
	if rng.IntN(3) == 0 {
		j.Tenant = []byte("default")
	}
	for i := range rng.IntN(4) {
		j.Holders = append(j.Holders, holderID(i+rng.IntN(100))...)
	}
	j.Body = make([]byte, rng.IntN(300))
	for i := range j.Body {
		j.Body[i] = byte(rng.IntN(256))
	}
	return j
}

// cloneJob deep-copies a decoded job (its slices alias a reused buffer).
func cloneJob(j Job) Job {
	j.Tenant = bytes.Clone(j.Tenant)
	j.Queue = bytes.Clone(j.Queue)
	j.Holders = bytes.Clone(j.Holders)
	j.Body = bytes.Clone(j.Body)
	if j.Tenant == nil {
		j.Tenant = []byte{}
	}
	if j.Queue == nil {
		j.Queue = []byte{}
	}
	if j.Holders == nil {
		j.Holders = []byte{}
	}
	if j.Body == nil {
		j.Body = []byte{}
	}
	return j
}

func jobsEqual(a, b Job) bool {
	return a.ID == b.ID && a.State == b.State && a.Flags == b.Flags && a.CTime == b.CTime &&
		a.Expire == b.Expire && a.Delay == b.Delay && a.Retry == b.Retry && a.Repl == b.Repl &&
		a.Nacks == b.Nacks && a.AddDel == b.AddDel && bytes.Equal(a.Tenant, b.Tenant) &&
		bytes.Equal(a.Queue, b.Queue) && bytes.Equal(a.Holders, b.Holders) && bytes.Equal(a.Body, b.Body)
}

// model is the job set a log describes.
type model map[[24]byte]Job

func (m model) apply(r Record) error {
	switch r.Type {
	case RecLoadJob:
		m[r.Job.ID] = cloneJob(r.Job)
	case RecDelJob:
		delete(m, r.Job.ID)
	}
	return nil
}

func loadModel(t testing.TB, path string, opts LoadOptions) (model, LoadStats) {
	t.Helper()
	m := model{}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	st, err := Load(path, opts, m.apply)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m, st
}

func compareModels(t testing.TB, got, want model) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("job set: %d jobs, want %d", len(got), len(want))
	}
	n := 0
	for id, wj := range want {
		gj, ok := got[id]
		switch {
		case !ok:
			t.Errorf("job %x missing", id)
		case !jobsEqual(gj, wj):
			t.Errorf("job %x differs:\n got %+v\nwant %+v", id, gj, wj)
		default:
			continue
		}
		if n++; n > 5 {
			t.FailNow()
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected job %x", id)
			if n++; n > 5 {
				t.FailNow()
			}
		}
	}
}

// appendSync appends a batch and waits for its callback.
func appendSync(w *Writer, producer int, recs []byte, count int) error {
	ch := make(chan error, 1)
	w.Append(&Batch{Producer: producer, Records: recs, Count: count, OnDurable: func(err error) { ch <- err }})
	return <-ch
}

func openTest(t testing.TB, opts Options) *Writer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

// buildFile builds a log of nb batches with per records each (LoadJob and
// DelJob) with the real writer and returns its bytes, the batch ends and the
// model.
func buildFile(t testing.TB, dir string, nb, per int, compress bool) (string, []int64, model) {
	t.Helper()
	return buildFileOpt(t, dir, nb, per, compress, false)
}

// buildFileSmall builds a file of small jobs (short bodies, no holders).
func buildFileSmall(t testing.TB, dir string, nb, per int, compress bool) (string, []int64, model) {
	t.Helper()
	return buildFileOpt(t, dir, nb, per, compress, true)
}

func buildFileOpt(t testing.TB, dir string, nb, per int, compress, small bool) (string, []int64, model) {
	t.Helper()
	path := filepath.Join(dir, "build.aof")
	w := openTest(t, Options{Path: path, Fsync: FsyncNo, Compress: compress})
	rng := rand.New(rand.NewPCG(1, 2))
	m := model{}
	ends := []int64{HeaderSize}
	seq := 0
	for b := 0; b < nb; b++ {
		var recs []byte
		for i := 0; i < per; i++ {
			if i%4 == 3 && len(m) > 0 {
				for id := range m {
					recs = AppendDelJob(recs, id, "default")
					delete(m, id)
					break
				}
				continue
			}
			j := makeJob(rng, 0, seq)
			if small {
				j.Body, j.Holders = j.Body[:min(len(j.Body), 8)], nil
				if compress {
					j.Body = []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
				}
			}
			seq++
			recs = AppendLoadJob(recs, &j)
			m[j.ID] = cloneJob(j)
		}
		if err := appendSync(w, 0, recs, per); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, w.Stats().CurrentSize)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ends, m
}

// ---- fault injection ------------------------------------------------------

var errNoSpace = &os.PathError{Op: "write", Path: "fake", Err: syscall.ENOSPC}

// faultFS wraps the OS file system with switchable failures.
type faultFS struct {
	OSFS
	failWrite   atomic.Bool // WriteAt writes half then fails
	failSync    atomic.Bool
	failRename  atomic.Bool
	failTmp     atomic.Bool // writes to *.rewrite fail
	failDirSync atomic.Bool
	writes      atomic.Int64
	syncs       atomic.Int64
	syncDelay   time.Duration
}

func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs, tmp: strings.HasSuffix(name, ".rewrite")}, nil
}

func (fs *faultFS) Rename(o, n string) error {
	if fs.failRename.Load() {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: syscall.EIO}
	}
	return os.Rename(o, n)
}

func (fs *faultFS) SyncDir(dir string) error {
	if fs.failDirSync.Load() {
		return syscall.EIO
	}
	return OSFS{}.SyncDir(dir)
}

type faultFile struct {
	*os.File
	fs  *faultFS
	tmp bool
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.writes.Add(1)
	if !f.tmp && f.fs.failWrite.Load() || f.tmp && f.fs.failTmp.Load() {
		n, _ := f.File.WriteAt(b[:len(b)/2], off) // a partial write, then ENOSPC
		return n, errNoSpace
	}
	return f.File.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.syncDelay > 0 {
		time.Sleep(f.fs.syncDelay)
	}
	if f.fs.failSync.Load() && !f.tmp {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// collector records callback outcomes per producer in order.
type collector struct {
	mu   sync.Mutex
	seen map[int][]int
	errs []error
}

func (c *collector) cb(producer, seq int) func(error) {
	return func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.seen == nil {
			c.seen = map[int][]int{}
		}
		c.seen[producer] = append(c.seen[producer], seq)
		if err != nil {
			c.errs = append(c.errs, err)
		}
	}
}

var _ = errors.Is

func xxhashSum(b []byte) uint64 { return xxhash.Sum64(b) }
