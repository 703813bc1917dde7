package aof

import (
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
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
