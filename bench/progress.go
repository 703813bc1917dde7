package bench

import (
	"fmt"
	"io"
	"time"
)

// progress writes the live progress line: elapsed time, jobs completed,
// jobs/s over the last second, requests in flight, p50/p99 so far.
type progress struct {
	w        io.Writer
	label    string
	lastJobs int64
	lastAt   time.Time
	scratch  *Hist
	e2e      bool
}

func newProgress(w io.Writer, label string, e2e bool) *progress {
	return &progress{w: w, label: label, scratch: NewHist(), e2e: e2e}
}

func (p *progress) line(r *phase, now time.Time) {
	jobs := r.completed.Load()
	if r.workload == Produce || !r.measured {
		jobs = r.produced.Load()
	}
	since := p.lastAt
	if since.IsZero() {
		since = r.start
	}
	rate := float64(jobs-p.lastJobs) / now.Sub(since).Seconds()
	p.lastJobs, p.lastAt = jobs, now
	var inflight int64
	p.scratch.Reset()
	for _, w := range r.workers {
		inflight += w.inflight.Load()
		if !r.measured {
			continue
		}
		w.mu.Lock()
		if p.e2e {
			p.scratch.Merge(w.e2e)
		} else {
			for _, h := range w.hist {
				p.scratch.Merge(h)
			}
		}
		w.mu.Unlock()
	}
	lat := ""
	if p.scratch.Count() > 0 {
		s := p.scratch.Summary()
		lat = fmt.Sprintf("  p50 %.3f ms  p99 %.3f ms", s.P50, s.P99)
	}
	errs := ""
	if n := r.errors.Load(); n > 0 {
		errs = fmt.Sprintf("  errors %d", n)
	}
	fmt.Fprintf(p.w, "\r%s %5.1fs  %d jobs  %.0f jobs/s  in flight %d%s%s\x1b[K",
		p.label, now.Sub(r.start).Seconds(), jobs, rate, inflight, lat, errs)
}

func (p *progress) clear() { fmt.Fprint(p.w, "\r\x1b[K") }
