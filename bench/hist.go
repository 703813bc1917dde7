package bench

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to histMax, with three
// significant digits (a recorded value is within 0.1% of the true one).
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

// Hist is an HDR histogram of latencies in microseconds. Each connection
// records into its own; they are merged at the end (and, for the progress
// line, into a scratch copy about once a second).
type Hist struct {
	h       *hdr.Histogram
	clamped int64 // values above histMax, recorded as histMax
}

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{h: hdr.New(histMin, histMax, histDigits)} }

// Record adds one latency given in nanoseconds; negative values count as 0.
func (h *Hist) Record(ns int64) {
	us := ns / 1000
	if us < 0 {
		us = 0
	}
	if us > histMax {
		us = histMax
		h.clamped++
	}
	_ = h.h.RecordValue(us) // cannot fail: us is in range
}

// Merge adds every value of o to h.
func (h *Hist) Merge(o *Hist) {
	if o == nil {
		return
	}
	h.h.Merge(o.h)
	h.clamped += o.clamped
}

// Reset empties h.
func (h *Hist) Reset() { h.h.Reset(); h.clamped = 0 }

// Count returns the number of recorded values.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Quantile returns the value at percentile q (0..100) in microseconds.
func (h *Hist) Quantile(q float64) int64 { return h.h.ValueAtQuantile(q) }

// Percentiles summarises a histogram in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// Summary returns the count, mean and p50/p90/p99/p99.9/max of h in
// milliseconds (each within 0.1% of the recorded value).
func (h *Hist) Summary() Percentiles {
	if h == nil || h.Count() == 0 {
		return Percentiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	v := h.h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return Percentiles{
		Count: h.Count(),
		Mean:  h.h.Mean() / 1000,
		P50:   ms(v[0]),
		P90:   ms(v[1]),
		P99:   ms(v[2]),
		P999:  ms(v[3]),
		Max:   ms(h.h.Max()),
	}
}
