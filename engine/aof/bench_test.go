package aof

import (
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchAppend: producers (like shards) append batches of recsPer records of
// about 150 bytes, each with at most window batches waiting for OnDurable.
func benchAppend(b *testing.B, pol Fsync, producers, recsPer, window int, compress bool) {
	path := filepath.Join(b.TempDir(), "bench.aof")
	w, err := Open(Options{Path: path, Fsync: pol, Compress: compress, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([][]byte, producers)
	rng := rand.New(rand.NewPCG(1, 1))
	for p := range recs {
		for i := 0; i < recsPer; i++ {
			j := Job{ID: idOf(p, i), Tenant: []byte("default"), Queue: []byte("queue"), CTime: rng.Uint64(), Expire: 1 << 40,
				Retry: 300, Repl: 3, Holders: []byte(holderID(1) + holderID(2)), Body: []byte("a job body of some sixty bytes, like a small JSON document")}
			recs[p] = AppendLoadJob(recs[p], &j)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			sem := make(chan struct{}, window)
			release := func(err error) {
				if err != nil {
					b.Error(err)
				}
				<-sem
			}
			for next.Add(1) <= int64(b.N) {
				sem <- struct{}{}
				w.Append(&Batch{Producer: p, Records: recs[p], Count: recsPer, OnDurable: release})
			}
			for i := 0; i < window; i++ {
				sem <- struct{}{}
			}
		}(p)
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	st := w.Stats()
	w.Close()
	b.ReportMetric(float64(b.N*recsPer)/el.Seconds(), "records/s")
	b.ReportMetric(float64(st.Fsyncs), "fsyncs")
	b.ReportMetric(float64(st.BytesWritten)/el.Seconds()/1e6, "MB/s")
	if pol == FsyncAlways && st.RepliesBeforeFsync != 0 {
		b.Fatal("RepliesBeforeFsync")
	}
}

func BenchmarkAppendAlways(b *testing.B)   { benchAppend(b, FsyncAlways, 8, 16, 4, false) }
func BenchmarkAppendEverysec(b *testing.B) { benchAppend(b, FsyncEverysec, 8, 16, 4, false) }
func BenchmarkAppendNo(b *testing.B)       { benchAppend(b, FsyncNo, 8, 16, 4, false) }
func BenchmarkAppendEverysecS2(b *testing.B) {
	benchAppend(b, FsyncEverysec, 8, 16, 4, true)
}

// BenchmarkAppendAlwaysOneWaiter: every producer waits for each batch (the
// worst case for group commit: one client per shard).
func BenchmarkAppendAlwaysOneWaiter(b *testing.B) { benchAppend(b, FsyncAlways, 8, 1, 1, false) }

func BenchmarkAppendLoadJob(b *testing.B) {
	j := makeJob(rand.New(rand.NewPCG(1, 1)), 0, 1)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendLoadJob(buf[:0], &j)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeRecord(b *testing.B) {
	j := makeJob(rand.New(rand.NewPCG(1, 1)), 0, 1)
	enc := AppendLoadJob(nil, &j)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for i := 0; i < b.N; i++ {
		if _, _, err := DecodeRecord(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	path, _, _ := buildFile(b, b.TempDir(), 200, 100, true)
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		st, err := Load(path, LoadOptions{}, func(Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		n = st.Records
	}
	b.ReportMetric(float64(n*int64(b.N))/b.Elapsed().Seconds(), "records/s")
}
