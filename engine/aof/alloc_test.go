//go:build !race

package aof

import (
	"math/rand/v2"
	"testing"
)

func TestRecordAllocs(t *testing.T) {
	j := makeJob(rand.New(rand.NewPCG(1, 1)), 0, 1)
	buf := make([]byte, 0, 4096)
	enc := AppendLoadJob(nil, &j)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendLoadJob(buf[:0], &j)
		buf = AppendDelJob(buf, j.ID, "default")
	}); n != 0 {
		t.Fatalf("Append*: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeRecord(enc); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("DecodeRecord: %v allocs", n)
	}
}

func TestEncoderAllocs(t *testing.T) {
	j := makeJob(rand.New(rand.NewPCG(1, 1)), 0, 1)
	recs := AppendLoadJob(nil, &j)
	for _, compress := range []bool{false, true} {
		e := batchEncoder{target: 1 << 20, compress: compress}
		var spare []byte
		run := func() {
			for i := 0; i < 20; i++ {
				e.add(recs, 1)
			}
			out := e.take(spare)
			spare = out[:0]
		}
		run()
		run()
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Fatalf("encoder (compress %v): %v allocs", compress, n)
		}
	}
}
