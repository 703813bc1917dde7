package aof

import (
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestAppendNow: under everysec an idle writer writes the batch on the
// caller's goroutine and calls back before AppendNow returns; under always
// the batch goes to the writer goroutine (the fsync wait never runs on the
// caller); either way every record is in the file, in order.
func TestAppendNow(t *testing.T) {
	for _, policy := range []Fsync{FsyncEverysec, FsyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.aof")
			w := openTest(t, Options{Path: p, Fsync: policy})
			rng := rand.New(rand.NewPCG(1, 2))
			want := model{}
			inline := 0
			const n = 200
			done := make(chan error, n)
			for i := 0; i < n; i++ {
				j := makeJob(rng, 0, i)
				want[j.ID] = cloneJob(j)
				var called atomic.Bool
				w.AppendNow(&Batch{Records: AppendLoadJob(nil, &j), Count: 1, OnDurable: func(err error) {
					called.Store(true)
					done <- err
				}})
				if called.Load() {
					inline++ // under always a fast fsync could race this: see below
				}
			}
			for i := 0; i < n; i++ {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			switch {
			case policy == FsyncAlways && inline > n/4:
				// Answered before AppendNow returned only when the writer
				// goroutine was faster than this one (write + fsync).
				t.Errorf("always: %d batches answered before AppendNow returned; want them left to the writer goroutine", inline)
			case policy == FsyncEverysec && inline < n/2:
				t.Errorf("everysec: only %d of %d batches written inline by an idle writer", inline, n)
			}
			got, _ := loadModel(t, p, LoadOptions{})
			compareModels(t, got, want)
			t.Logf("%s: %d of %d batches written on the caller's goroutine", policy, inline, n)
		})
	}
}

// TestAppendNowSkipsFill: when the write would reach a chunk still being
// zero-filled, AppendNow hands the batch to the writer goroutine (which
// waits for the fill) instead of waiting on the caller's goroutine, a
// shard step that may run on an event loop.
func TestAppendNowSkipsFill(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.aof")
	w := openTest(t, Options{Path: p, Fsync: FsyncEverysec})
	// A fill "in flight" right at the data's end; this test plays the
	// filler and answers it below.
	w.wmu.Lock()
	w.filling, w.alloc, w.fillFrom = true, w.size, w.size
	w.wmu.Unlock()
	rng := rand.New(rand.NewPCG(3, 4))
	j := makeJob(rng, 0, 1)
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		w.AppendNow(&Batch{Records: AppendLoadJob(nil, &j), Count: 1, OnDurable: func(err error) { done <- err }})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("AppendNow waited for the zero fill on the caller's goroutine")
	}
	select {
	case err := <-done:
		t.Fatalf("the batch was written (err %v) before the fill ended", err)
	default:
	}
	w.fillDone <- fillResult{} // the fill ends; the writer goroutine goes on
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := loadModel(t, p, LoadOptions{})
	compareModels(t, got, model{j.ID: cloneJob(j)})
}
