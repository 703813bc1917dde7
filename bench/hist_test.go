package bench

import (
	"math"
	"testing"
	"time"
)

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*want }

func TestHistPercentiles(t *testing.T) {
	h := NewHist()
	for us := int64(1); us <= 10000; us++ { // 1 µs .. 10 ms, uniform
		h.Record(us * 1000)
	}
	s := h.Summary()
	if s.Count != 10000 {
		t.Fatalf("count %d", s.Count)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50, 5}, {"p90", s.P90, 9}, {"p99", s.P99, 9.9}, {"p999", s.P999, 9.99}, {"max", s.Max, 10}, {"mean", s.Mean, 5.0005}} {
		if !near(c.got, c.want, 0.002) {
			t.Errorf("%s = %v ms, want %v (0.2%%)", c.name, c.got, c.want)
		}
	}
}

func TestHistMergeEqualsRecordingAll(t *testing.T) {
	a, b, all := NewHist(), NewHist(), NewHist()
	for i := int64(0); i < 5000; i++ {
		v := (i*i)%7919*1000 + 500
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	m := NewHist()
	m.Merge(a)
	m.Merge(b)
	m.Merge(nil)
	if m.Summary() != all.Summary() {
		t.Fatalf("merged %+v != all %+v", m.Summary(), all.Summary())
	}
	m.Reset()
	if m.Count() != 0 || m.Summary() != (Percentiles{}) {
		t.Fatalf("after Reset: %+v", m.Summary())
	}
}

func TestHistEdges(t *testing.T) {
	h := NewHist()
	h.Record(-5000)            // clock skew between goroutines: counts as 0
	h.Record(999)              // below 1 µs
	h.Record(int64(time.Hour)) // above the range: clamped
	if h.Count() != 3 || h.clamped != 1 {
		t.Fatalf("count %d clamped %d", h.Count(), h.clamped)
	}
	if s := h.Summary(); s.P50 != 0 || !near(s.Max, 600000, 0.001) {
		t.Fatalf("summary %+v", s)
	}
	var nilHist *Hist
	if nilHist.Summary() != (Percentiles{}) {
		t.Fatal("nil histogram summary not zero")
	}
}
