package tenant

import (
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Tenant is one tenant on this node: its identity, its current limits and
// its usage. A *Tenant is stable for the tenant's life (replacing its
// definition updates it in place), so connections and shards may keep it.
// Every method is safe for concurrent use and the admission and accounting
// methods take no lock and do not allocate (refusals allocate their error).
type Tenant struct {
	lim   atomic.Pointer[Limits]
	meta  atomic.Pointer[meta]
	name  string
	index uint16

	// usage held on this node; each counter on its own cache line
	jobs    paddedInt64
	bytes   paddedInt64
	queues  paddedInt64
	conns   paddedInt64
	blocked paddedInt64

	produceJobs  bucket
	produceBytes bucket
	consume      bucket

	m tenantMetrics
}

type paddedInt64 struct {
	atomic.Int64
	_ [56]byte
}

// meta is the part of a tenant's definition that is not on the hot path.
type meta struct {
	version uint64
	cred    *credential // nil for default (requirepass)
	created time.Time
	updated time.Time
}

// Event names one of the counted job events.
type Event uint8

// The counted events (metrics disq_tenant_jobs_<name>_total).
const (
	EventAdded     Event = iota // a job was created on this node (ADDJOB, replication)
	EventDelivered              // a job was delivered by GETJOB
	EventAcked                  // a job was acknowledged (ACKJOB, FASTACK)
	EventNacked                 // a job was negatively acknowledged (NACK)
	EventRequeued               // a job was queued again by its retry timer or ENQUEUE
	EventExpired                // a job reached its TTL
	NumEvents
)

var eventNames = [NumEvents]string{"added", "delivered", "acked", "nacked", "requeued", "expired"}

// String returns the event's name as used in metric names and usage JSON.
func (e Event) String() string {
	if e < NumEvents {
		return eventNames[e]
	}
	return "event"
}

// Name returns the tenant's name.
func (t *Tenant) Name() string { return t.name }

// Index returns the tenant's index on this node (0 = default). Indexes are
// node-local: the AOF and the bus carry names.
func (t *Tenant) Index() uint16 { return t.index }

// Limits returns the tenant's current limits. The value is immutable; a
// change replaces it whole.
func (t *Tenant) Limits() *Limits { return t.lim.Load() }

// Version returns the version of the tenant's definition (0 for a default
// tenant never changed). It grows by one on every change.
func (t *Tenant) Version() uint64 { return t.meta.Load().version }

// Deleted reports whether the tenant was deleted. A deleted tenant refuses
// every admission with ErrTenantDeleted but still accepts releases, so the
// jobs and connections it still has drain exactly.
func (t *Tenant) Deleted() bool { return t.lim.Load().closed }

// HasPassword reports whether the tenant has a stored password (always
// false for default, whose password is requirepass).
func (t *Tenant) HasPassword() bool { return t.meta.Load().cred != nil }

// Jobs returns the jobs held on this node.
func (t *Tenant) Jobs() int64 { return t.jobs.Load() }

// Bytes returns the job body bytes held on this node.
func (t *Tenant) Bytes() int64 { return t.bytes.Load() }

// Queues returns the tenant's queue objects on this node.
func (t *Tenant) Queues() int64 { return t.queues.Load() }

// Connections returns the connections authenticated as the tenant.
func (t *Tenant) Connections() int64 { return t.conns.Load() }

// BlockedClients returns the tenant's clients blocked in GETJOB.
func (t *Tenant) BlockedClients() int64 { return t.blocked.Load() }

// reserve adds n to a when the result stays within max (max < 0: no
// limit). It returns the value before and whether it reserved. A CAS loop:
// concurrent reservations never exceed max, and a refusal changes nothing.
func reserve(a *paddedInt64, n, max int64) (int64, bool) {
	if max < 0 {
		return a.Add(n) - n, true
	}
	for {
		cur := a.Load()
		if cur+n > max {
			return cur, false
		}
		if a.CompareAndSwap(cur, cur+n) {
			return cur, true
		}
	}
}

func (t *Tenant) quota(l Limit, used, max int64) error {
	t.m.rejected[l].Inc()
	return &QuotaError{Limit: l, Used: used, Max: max}
}

// ProduceRated reports whether AdmitProduce reads its now argument: the
// tenant has a positive produce_rate or produce_bytes_rate (the caller
// may skip reading the clock otherwise).
func (t *Tenant) ProduceRated() bool {
	l := t.lim.Load()
	return l.p[ProduceRate] > 1 || l.p[ProduceBytesRate] > 1
}

// AdmitProduce admits an ADDJOB (or a batch of jobs) of the tenant and
// reserves the jobs and body bytes it will hold. now is a time on the
// Registry's clock (Registry.Now); jobs and bytes are what the request adds
// (bytes = body bytes); bodyMax is its largest body; replicate is the
// REPLICATE asked for (0 if none). The checks, in order:
//
//  1. max_body_bytes: bodyMax > max       → QUOTA max_body_bytes <bodyMax>/<max>
//  2. max_replicate: replicate > max      → QUOTA max_replicate <replicate>/<max>
//  3. produce_rate (bucket produce_burst) → RATELIMIT retry in <N>ms
//     (QUOTA produce_rate 0/0 when the rate is 0)
//  4. produce_bytes_rate (bucket 1 s)     → RATELIMIT retry in <N>ms
//     (QUOTA produce_bytes_rate 0/0 when the rate is 0)
//  5. max_jobs: held+jobs > max           → QUOTA max_jobs <held>/<max>
//  6. max_bytes: held+bytes > max         → QUOTA max_bytes <held>/<max>
//
// A refused request consumes nothing: tokens and reservations taken by the
// earlier steps are given back. Rates come before the hard limits so that
// the only transient effect of a give-back a concurrent request can see is a
// spurious RATELIMIT (retryable), never a spurious QUOTA.
//
// On success the caller owns the reservation: it must call ReleaseJobs with
// the same numbers when the jobs are freed (ack, expiry, delete, eviction,
// flush), or at once if the ADDJOB fails after admission.
func (t *Tenant) AdmitProduce(now, jobs, bytes, bodyMax, replicate int64) error {
	l := t.lim.Load()
	if l.closed {
		return ErrTenantDeleted
	}
	if m := l.p[MaxBodyBytes] - 1; m >= 0 && bodyMax > m {
		return t.quota(MaxBodyBytes, bodyMax, m)
	}
	if m := l.p[MaxReplicate] - 1; m >= 0 && replicate > m {
		return t.quota(MaxReplicate, replicate, m)
	}
	jr := l.p[ProduceRate] - 1
	if jr == 0 {
		return t.quota(ProduceRate, 0, 0)
	}
	if jr > 0 {
		if w := t.produceJobs.take(now, jobs, jr, l.Burst()); w > 0 {
			t.m.rateLimited[0].Inc()
			return &RateLimitError{Limit: ProduceRate, Retry: time.Duration(w)}
		}
	}
	br := l.p[ProduceBytesRate] - 1
	if br == 0 {
		t.produceJobs.refund(jobs, jr)
		return t.quota(ProduceBytesRate, 0, 0)
	}
	if br > 0 {
		if w := t.produceBytes.take(now, bytes, br, br); w > 0 {
			t.produceJobs.refund(jobs, jr)
			t.m.rateLimited[1].Inc()
			return &RateLimitError{Limit: ProduceBytesRate, Retry: time.Duration(w)}
		}
	}
	if used, ok := reserve(&t.jobs, jobs, l.p[MaxJobs]-1); !ok {
		t.produceJobs.refund(jobs, jr)
		t.produceBytes.refund(bytes, br)
		return t.quota(MaxJobs, used, l.p[MaxJobs]-1)
	}
	if used, ok := reserve(&t.bytes, bytes, l.p[MaxBytes]-1); !ok {
		t.jobs.Add(-jobs)
		t.produceJobs.refund(jobs, jr)
		t.produceBytes.refund(bytes, br)
		return t.quota(MaxBytes, used, l.p[MaxBytes]-1)
	}
	return nil
}

// ReleaseJobs gives back jobs and body bytes held: the shard calls it when a
// job record of the tenant is freed for any reason, and the engine when an
// admitted ADDJOB fails. Releasing exactly what was reserved or charged
// keeps the usage exact. Rate tokens are not given back.
func (t *Tenant) ReleaseJobs(jobs, bytes int64) {
	t.jobs.Add(-jobs)
	t.bytes.Add(-bytes)
}

// ChargeJobs counts jobs that arrive without admission (replicated from
// another node, loaded from the AOF): usage may then exceed the limits,
// which only refuses further produces. Release them with ReleaseJobs.
func (t *Tenant) ChargeJobs(jobs, bytes int64) {
	t.jobs.Add(jobs)
	t.bytes.Add(bytes)
}

// AdmitQueue admits the creation of a queue object of the tenant on this
// node (max_queues): the shard calls it before creating one and
// ReleaseQueue when it destroys it.
func (t *Tenant) AdmitQueue() error {
	l := t.lim.Load()
	if l.closed {
		return ErrTenantDeleted
	}
	if used, ok := reserve(&t.queues, 1, l.p[MaxQueues]-1); !ok {
		return t.quota(MaxQueues, used, l.p[MaxQueues]-1)
	}
	return nil
}

// ChargeQueue counts a queue object created without admission (by
// replication, AOF load or a GETJOB naming it).
func (t *Tenant) ChargeQueue() { t.queues.Add(1) }

// ReleaseQueue counts the destruction of a queue object.
func (t *Tenant) ReleaseQueue() { t.queues.Add(-1) }

// AdmitConnection admits one more connection of the tenant
// (max_connections), at AUTH: the error is QUOTA max_connections <n>/<max>.
// Pair it with ReleaseConnection when the connection closes or
// authenticates as another tenant.
func (t *Tenant) AdmitConnection() error {
	l := t.lim.Load()
	if l.closed {
		return ErrTenantDeleted
	}
	if used, ok := reserve(&t.conns, 1, l.p[MaxConnections]-1); !ok {
		return t.quota(MaxConnections, used, l.p[MaxConnections]-1)
	}
	return nil
}

// ChargeConnection counts a connection without the limit check (the
// default tenant's connections at accept, when the engine chooses not to
// refuse them there).
func (t *Tenant) ChargeConnection() { t.conns.Add(1) }

// ReleaseConnection counts a connection leaving the tenant.
func (t *Tenant) ReleaseConnection() { t.conns.Add(-1) }

// ConsumeRecheck is the wait ConsumeDelay and ConsumeGrant return while
// consume_rate is 0: the consumer waits and asks again (a live change of the
// limit takes effect at the next ask).
const ConsumeRecheck = time.Second

// ConsumeDelay charges jobs deliveries to consume_rate (bucket: one second
// of the rate). It returns 0 when the consumer may go now (the jobs are
// charged), else how long it must wait before asking again (nothing is
// charged): consume rates throttle, they never fail. A request larger than
// the bucket goes once the bucket is full and leaves it in debt.
func (t *Tenant) ConsumeDelay(now, jobs int64) time.Duration {
	l := t.lim.Load()
	r := l.p[ConsumeRate] - 1
	if r < 0 {
		return 0
	}
	if r == 0 {
		t.m.throttled[0].Inc()
		return ConsumeRecheck
	}
	if w := t.consume.take(now, jobs, r, r); w > 0 {
		t.m.throttled[0].Inc()
		return time.Duration(w)
	}
	return 0
}

// ConsumeGrant asks for up to want deliveries: it returns how many the
// consumer may take now (1..want, charged to consume_rate), or 0 and how
// long to wait before asking again. A GETJOB COUNT n uses it to cap n and
// gives back what it did not deliver with ConsumeReturn.
func (t *Tenant) ConsumeGrant(now, want int64) (int64, time.Duration) {
	l := t.lim.Load()
	r := l.p[ConsumeRate] - 1
	if r < 0 {
		return want, 0
	}
	if r == 0 {
		t.m.throttled[0].Inc()
		return 0, ConsumeRecheck
	}
	g, w := t.consume.grant(now, want, r, r)
	if g == 0 {
		t.m.throttled[0].Inc()
	}
	return g, time.Duration(w)
}

// ConsumeReturn gives back n deliveries granted by ConsumeGrant (or charged
// by ConsumeDelay) that did not happen.
func (t *Tenant) ConsumeReturn(n int64) {
	if r := t.lim.Load().p[ConsumeRate] - 1; r > 0 {
		t.consume.refund(n, r)
	}
}

// AdmitBlocked admits one more client blocked in GETJOB
// (max_blocked_clients). false means the client may not block now: the
// engine makes it wait (throttles) and asks again, rather than failing it.
// Pair a true with ReleaseBlocked when the client unblocks.
func (t *Tenant) AdmitBlocked() bool {
	l := t.lim.Load()
	if _, ok := reserve(&t.blocked, 1, l.p[MaxBlockedClients]-1); !ok {
		t.m.throttled[1].Inc()
		return false
	}
	return true
}

// ReleaseBlocked counts a blocked client leaving the blocked state.
func (t *Tenant) ReleaseBlocked() { t.blocked.Add(-1) }

// Count adds n to the event counter e (one atomic add; shards should sum
// locally and flush per batch).
func (t *Tenant) Count(e Event, n uint64) { t.m.events[e].AddInt64(int64(n)) }

// Counted returns the value of the event counter e.
func (t *Tenant) Counted(e Event) uint64 { return t.m.events[e].Get() }

// Rejections returns the QUOTA refusals counted for limit l.
func (t *Tenant) Rejections(l Limit) uint64 {
	if c := t.m.rejected[l]; c != nil {
		return c.Get()
	}
	return 0
}

// Usage is a tenant's usage on this node, as the admin API shows it.
type Usage struct {
	Tenant           string            `json:"tenant"`
	Jobs             int64             `json:"jobs"`
	Bytes            int64             `json:"bytes"`
	Queues           int64             `json:"queues"`
	Connections      int64             `json:"connections"`
	BlockedClients   int64             `json:"blocked_clients"`
	Events           map[string]uint64 `json:"jobs_total"`
	QuotaRejections  map[string]uint64 `json:"quota_rejections"`
	RateLimited      map[string]uint64 `json:"rate_limited"`
	ConsumeThrottled map[string]uint64 `json:"consume_throttled"`
	Node             map[string]int64  `json:"node,omitempty"` // Backend.TenantUsage extras
}

// Usage returns a snapshot of the tenant's usage and counters.
func (t *Tenant) Usage() Usage {
	u := Usage{
		Tenant: t.name, Jobs: t.jobs.Load(), Bytes: t.bytes.Load(), Queues: t.queues.Load(),
		Connections: t.conns.Load(), BlockedClients: t.blocked.Load(),
		Events: map[string]uint64{}, QuotaRejections: map[string]uint64{},
		RateLimited:      map[string]uint64{},
		ConsumeThrottled: map[string]uint64{},
	}
	for e := range NumEvents {
		u.Events[e.String()] = t.m.events[e].Get()
	}
	for l := range NumLimits {
		if c := t.m.rejected[l]; c != nil {
			u.QuotaRejections[l.String()] = c.Get()
		}
	}
	u.RateLimited[ProduceRate.String()] = t.m.rateLimited[0].Get()
	u.RateLimited[ProduceBytesRate.String()] = t.m.rateLimited[1].Get()
	u.ConsumeThrottled[ConsumeRate.String()] = t.m.throttled[0].Get()
	u.ConsumeThrottled[MaxBlockedClients.String()] = t.m.throttled[1].Get()
	return u
}

// drained reports whether nothing on this node refers to the tenant any
// more, so its index can be given to another tenant.
func (t *Tenant) drained() bool {
	return t.jobs.Load() == 0 && t.bytes.Load() == 0 && t.queues.Load() == 0 &&
		t.conns.Load() == 0 && t.blocked.Load() == 0
}

// setLimits installs new limits, carrying the buckets' debt over rate
// changes.
func (t *Tenant) setLimits(n *Limits, now int64) {
	if o := t.lim.Load(); o != nil {
		t.produceJobs.retune(now, o.Get(ProduceRate), n.Get(ProduceRate))
		t.produceBytes.retune(now, o.Get(ProduceBytesRate), n.Get(ProduceBytesRate))
		t.consume.retune(now, o.Get(ConsumeRate), n.Get(ConsumeRate))
	}
	t.lim.Store(n)
}

// tenantMetrics are the tenant's counters, created once when the tenant
// appears (see metrics.go). Unregistered counters keep working, so a
// deleted tenant's stragglers never touch a nil pointer.
type tenantMetrics struct {
	events      [NumEvents]*metrics.Counter
	rejected    [NumLimits]*metrics.Counter // nil for limits that never refuse
	rateLimited [2]*metrics.Counter         // produce_rate, produce_bytes_rate
	throttled   [2]*metrics.Counter         // consume_rate, max_blocked_clients
	names       []string                    // every series registered for the tenant
}
