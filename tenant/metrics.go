package tenant

import (
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics. Every series has the prefix disq_ and the label tenant. The
// Registry keeps them in its own metrics.Set (Registry.Metrics), registered
// once when a tenant appears and unregistered when it is deleted: nothing is
// looked up per request (the hot path increments counters it holds, the
// gauges read the tenant's atomics at scrape time). One Set for all tenants
// (not one per tenant) so that each metric family comes out contiguous,
// as the Prometheus text format wants.
//
// Per tenant (on this node):
//
//	disq_tenant_jobs_<event>_total{tenant}            counter: added, delivered, acked, nacked, requeued, expired
//	disq_tenant_jobs_held{tenant}                     gauge
//	disq_tenant_bytes_held{tenant}                    gauge
//	disq_tenant_queues{tenant}                        gauge
//	disq_tenant_connections{tenant}                   gauge
//	disq_tenant_blocked_clients{tenant}               gauge
//	disq_tenant_quota_rejections_total{tenant,limit}  counter, one per limit that can refuse
//	disq_tenant_rate_limited_total{tenant,limit}      counter: produce_rate, produce_bytes_rate
//	disq_tenant_consume_throttled_total{tenant,limit} counter: consume_rate, max_blocked_clients
//	disq_tenant_limit{tenant,limit}                   gauge, the limit's value (-1 = unlimited; produce_burst: the effective burst)
//
// Registry-wide:
//
//	disq_tenants                                      gauge: tenants defined (default included)
//
// Per queue (see SetQueueStats), at most Options.MaxQueueSeries queues:
//
//	disq_queue_depth{tenant,queue}                    gauge: jobs queued
//	disq_queue_inflight{tenant,queue}                 gauge: jobs delivered, not acked
//	disq_queue_oldest_age_seconds{tenant,queue}       gauge: age of the oldest queued job
//	disq_queue_redeliveries_total{tenant,queue}       counter: redeliveries (per queue object)
//	disq_queue_series_omitted                         gauge: queues left out by the cap

// DefaultMaxQueueSeries is the default cap on queues with per-queue series
// on a node.
const DefaultMaxQueueSeries = 1000

// refusingLimits are the limits that can answer -QUOTA.
var refusingLimits = []Limit{MaxJobs, MaxBytes, MaxQueues, MaxBodyBytes, MaxReplicate,
	ProduceRate, ProduceBytesRate, MaxConnections}

// registerMetrics creates the tenant's series in set. Called once, when the
// tenant appears, under the Registry's write lock.
func (t *Tenant) registerMetrics(set *metrics.Set) {
	lbl := `tenant="` + t.name + `"` // names match [a-z0-9_-]: nothing to escape
	m := &t.m
	m.names = m.names[:0]
	counter := func(name string) *metrics.Counter {
		m.names = append(m.names, name)
		return set.NewCounter(name)
	}
	gauge := func(name string, f func() float64) {
		m.names = append(m.names, name)
		set.NewGauge(name, f)
	}
	for e := range NumEvents {
		m.events[e] = counter("disq_tenant_jobs_" + e.String() + "_total{" + lbl + "}")
	}
	for _, l := range refusingLimits {
		m.rejected[l] = counter(`disq_tenant_quota_rejections_total{` + lbl + `,limit="` + l.String() + `"}`)
	}
	m.rateLimited[0] = counter(`disq_tenant_rate_limited_total{` + lbl + `,limit="produce_rate"}`)
	m.rateLimited[1] = counter(`disq_tenant_rate_limited_total{` + lbl + `,limit="produce_bytes_rate"}`)
	m.throttled[0] = counter(`disq_tenant_consume_throttled_total{` + lbl + `,limit="consume_rate"}`)
	m.throttled[1] = counter(`disq_tenant_consume_throttled_total{` + lbl + `,limit="max_blocked_clients"}`)
	gauge("disq_tenant_jobs_held{"+lbl+"}", func() float64 { return float64(t.jobs.Load()) })
	gauge("disq_tenant_bytes_held{"+lbl+"}", func() float64 { return float64(t.bytes.Load()) })
	gauge("disq_tenant_queues{"+lbl+"}", func() float64 { return float64(t.queues.Load()) })
	gauge("disq_tenant_connections{"+lbl+"}", func() float64 { return float64(t.conns.Load()) })
	gauge("disq_tenant_blocked_clients{"+lbl+"}", func() float64 { return float64(t.blocked.Load()) })
	for l := range NumLimits {
		gauge(`disq_tenant_limit{`+lbl+`,limit="`+l.String()+`"}`, func() float64 {
			if l == ProduceBurst {
				return float64(t.lim.Load().Burst()) // the effective burst
			}
			return float64(t.lim.Load().Get(l))
		})
	}
}

// unregisterMetrics removes the tenant's series from set. The counters
// stay usable by whoever still holds the tenant.
func (t *Tenant) unregisterMetrics(set *metrics.Set) {
	for _, n := range t.m.names {
		set.UnregisterMetric(n)
	}
}

// QueueStat is one queue's state, as the engine reports it for the
// per-queue series.
type QueueStat struct {
	Tenant       uint16 // tenant index
	Queue        string
	Depth        int64         // jobs queued
	InFlight     int64         // jobs delivered and not acked
	OldestAge    time.Duration // age of the oldest queued job (0 if none)
	Redeliveries uint64        // jobs delivered again after a requeue (cumulative, per queue object)
}

// SetQueueStats installs the source of the per-queue series: f is called
// once per scrape (from the scraping goroutine, never from a hot path) and
// appends the stats of this node's queues to dst. f may take time (ask the
// shards); it must not call back into the Registry's write methods.
//
// Cardinality cap: at most Options.MaxQueueSeries queues get series
// (default DefaultMaxQueueSeries per node). The choice is sticky: a queue
// that has series keeps them while it exists, free places go to the
// deepest queues without series, and disq_queue_series_omitted counts the
// queues left out. Per-tenant totals are exact regardless.
func (r *Registry) SetQueueStats(f func(dst []QueueStat) []QueueStat) {
	r.qmu.Lock()
	r.qsrc = f
	r.qmu.Unlock()
}

// writeQueueSeries writes the per-queue families (a metrics writer of the
// Registry's Set).
func (r *Registry) writeQueueSeries(w io.Writer) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if r.qsrc == nil || r.maxQueueSeries <= 0 {
		return
	}
	stats := r.qsrc(r.qbuf[:0])
	r.qbuf = stats[:0]
	snap := r.snap.Load()
	type row struct {
		tenant string
		st     *QueueStat
	}
	key := func(st *QueueStat) string {
		return string([]byte{byte(st.Tenant >> 8), byte(st.Tenant)}) + st.Queue
	}
	present := make(map[string]int, len(stats))
	for i := range stats {
		if t := snap.byIndexLive(stats[i].Tenant); t != nil {
			present[key(&stats[i])] = i
		}
	}
	for k := range r.qsel {
		if _, ok := present[k]; !ok {
			delete(r.qsel, k)
		}
	}
	if len(r.qsel) < r.maxQueueSeries && len(present) > len(r.qsel) {
		var cand []int
		for k, i := range present {
			if _, ok := r.qsel[k]; !ok {
				cand = append(cand, i)
			}
		}
		slices.SortFunc(cand, func(a, b int) int {
			if c := cmp.Compare(stats[b].Depth, stats[a].Depth); c != 0 {
				return c
			}
			if c := cmp.Compare(stats[a].Tenant, stats[b].Tenant); c != 0 {
				return c
			}
			return strings.Compare(stats[a].Queue, stats[b].Queue)
		})
		for _, i := range cand {
			if len(r.qsel) >= r.maxQueueSeries {
				break
			}
			r.qsel[key(&stats[i])] = struct{}{}
		}
	}
	rows := make([]row, 0, len(r.qsel))
	for k := range r.qsel {
		st := &stats[present[k]]
		rows = append(rows, row{snap.byIndexLive(st.Tenant).name, st})
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.tenant, b.tenant); c != 0 {
			return c
		}
		return strings.Compare(a.st.Queue, b.st.Queue)
	})
	var b []byte
	family := func(name string, val func(st *QueueStat, b []byte) []byte) {
		for _, rw := range rows {
			b = append(b, name...)
			b = append(b, `{tenant="`...)
			b = append(b, rw.tenant...)
			b = append(b, `",queue="`...)
			b = appendLabelValue(b, rw.st.Queue)
			b = append(b, `"} `...)
			b = val(rw.st, b)
			b = append(b, '\n')
		}
	}
	family("disq_queue_depth", func(st *QueueStat, b []byte) []byte { return strconv.AppendInt(b, st.Depth, 10) })
	family("disq_queue_inflight", func(st *QueueStat, b []byte) []byte { return strconv.AppendInt(b, st.InFlight, 10) })
	family("disq_queue_oldest_age_seconds", func(st *QueueStat, b []byte) []byte {
		return strconv.AppendFloat(b, st.OldestAge.Seconds(), 'g', -1, 64)
	})
	family("disq_queue_redeliveries_total", func(st *QueueStat, b []byte) []byte {
		return strconv.AppendUint(b, st.Redeliveries, 10)
	})
	b = append(b, "disq_queue_series_omitted "...)
	b = strconv.AppendInt(b, int64(len(present)-len(rows)), 10)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

// appendLabelValue appends s escaped as a Prometheus label value: \\, \"
// and \n escaped, invalid UTF-8 replaced by U+FFFD.
func appendLabelValue(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// Metrics returns the Set holding the tenant series (the per-queue series
// are written by a metrics writer registered in it). It is not registered
// globally: pass it to metrics.RegisterSet to include it in
// metrics.WritePrometheus, or use Registry.WritePrometheus.
func (r *Registry) Metrics() *metrics.Set { return r.set }

// WritePrometheus writes the tenant and per-queue series and the Go and
// process metrics (go_*, process_*) in Prometheus text format. The engine's
// server-wide series come from elsewhere (Backend.WriteMetrics) and must not
// repeat these families.
func (r *Registry) WritePrometheus(w io.Writer) {
	r.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
