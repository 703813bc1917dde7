// Package tenant is disq's multi-tenancy: the tenant registry, credentials,
// limits, usage accounting and admission (quotas and token buckets),
// persistence to the tenants-file, the admin HTTP API and the per-tenant
// metrics. The engine and the shards call it; it knows nothing of them.
//
// # Identity
//
// A connection belongs to one tenant. It starts in the built-in tenant
// "default" (index 0, always present); AUTH <tenant> <password> moves it to
// another (Registry.Authenticate, then Tenant.AdmitConnection on the new
// tenant and ReleaseConnection on the old). A wrong pair answers
// ErrWrongPass ("WRONGPASS invalid username-password pair or user is
// disabled.") and leaves the connection as it was. The default tenant's
// password is requirepass, read live (Options.DefaultPassword); without it,
// default has none. With no tenant besides default (Registry.Configured is
// false) disq behaves exactly like Disque.
//
// Passwords are stored as salted SHA-256 (16-byte random salt per
// credential, "sha256$salt$hash") and compared in constant time; an
// unknown tenant costs the same work as a wrong password, and
// Authenticate does not allocate. A fast hash on purpose: AUTH runs on the
// event loop, where PBKDF2-style slowness would let any client stall every
// connection of the loop; tenant passwords are machine credentials (the
// credentials route generates 130-bit ones). See credential.go.
//
// # Namespaces
//
// A tenant's queues and jobs live in its own namespace: the tenant name is
// part of the slot hash (shard.Slot) and of every queue key, and job
// records carry the tenant's node-local index (Tenant.Index). Indexes are
// node-local (the AOF and the bus carry names) and a deleted tenant's index
// is given to a new tenant only once nothing on the node refers to it any
// more (its jobs, bytes, queues, connections and blocked clients drained to
// zero), so a record's index never names the wrong tenant.
//
// # Quotas are per node
//
// Every limit applies on each node separately, as Kafka's quotas do: a
// tenant connected to N nodes may hold N × max_jobs jobs and produce at N ×
// produce_rate. Divide by the node count when a cluster-wide budget is
// meant. The limits (Limit, JSON names in snake case; absent = unlimited,
// 0 = none allowed, negative refused):
//
//	max_jobs            jobs held (any state)            ADDJOB: -QUOTA
//	max_bytes           body bytes held                  ADDJOB: -QUOTA
//	max_queues          queue objects                    queue creation: -QUOTA
//	max_body_bytes      largest body of one ADDJOB       ADDJOB: -QUOTA
//	max_replicate       largest REPLICATE                ADDJOB: -QUOTA
//	produce_rate        jobs/s, bucket produce_burst     ADDJOB: -RATELIMIT
//	produce_burst       jobs; default 1 s of produce_rate
//	produce_bytes_rate  body bytes/s, bucket 1 s         ADDJOB: -RATELIMIT
//	consume_rate        jobs/s delivered, bucket 1 s     GETJOB waits (throttle)
//	max_connections     authenticated connections        AUTH: -QUOTA
//	max_blocked_clients clients blocked in GETJOB        GETJOB waits (throttle)
//
// Hard limits answer "QUOTA <limit> <usage before the request>/<max>"
// (QuotaError); for the per-request caps the "usage" is the request's
// value (QUOTA max_body_bytes 2048/1024), and a rate of 0 answers
// "QUOTA produce_rate 0/0" (retrying would not help). Rates answer
// "RATELIMIT retry in <N>ms" (RateLimitError), N rounded up. Error strings
// carry no leading '-': the engine adds it.
//
// # Hot-path accounting
//
// Registry reads are lock-free: tenants by index and by name come from an
// immutable snapshot behind an atomic.Pointer, replaced whole by the
// writers (admin API, file load, peers), which a mutex serializes. A
// tenant's limits are one immutable *Limits behind an atomic pointer,
// replaced whole on change; usage is a set of atomic int64s, each on its
// own cache line. Admission takes no lock and allocates nothing unless it
// refuses.
//
// Usage is reserved at admission and given back exactly at release:
// AdmitProduce reserves jobs and bytes with a CompareAndSwap loop (never
// over-admitting under concurrency, and a refusal changes nothing), the
// shard calls ReleaseJobs with the same numbers when a job record is freed
// for any reason (ack, expiry, delete, eviction, flush) and the engine when
// an admitted ADDJOB fails later. Jobs arriving without admission (from a
// peer, from the AOF) are counted with ChargeJobs. Queues and connections
// work the same way (AdmitQueue/ChargeQueue/ReleaseQueue,
// AdmitConnection/ChargeConnection/ReleaseConnection), and so do blocked
// clients (AdmitBlocked/ReleaseBlocked). Usage cannot drift: the tests run
// 100,000 random mixed operations from several goroutines, with the limits
// changed live, and check that everything ends at exactly zero.
//
// Token buckets are GCRA (bucket.go): the whole state of a bucket is one
// int64 "theoretical arrival time" updated by CompareAndSwap, exact under
// concurrency (no per-loop approximation). A request larger than the
// bucket is admitted once the bucket is full and leaves it in debt, so a
// body above one second of produce_bytes_rate is slow, not impossible. A
// live rate change carries the debt over in units. Time is the Registry's
// clock in nanoseconds (Registry.Now, or Registry.NowFrom for a loop's
// cached time.Time); tests pass their own values.
//
// Order of the checks in AdmitProduce (the first failing one answers):
//
//  1. max_body_bytes      (the largest body of the request)
//  2. max_replicate       (the REPLICATE asked for)
//  3. produce_rate        (bucket of produce_burst jobs)
//  4. produce_bytes_rate  (bucket of one second)
//  5. max_jobs            (reserve)
//  6. max_bytes           (reserve)
//
// Per-request caps first (free to check), then the rates, then the
// capacity reservations. Every step gives back what the earlier steps took
// when a later one refuses; rates come before the reservations so that the
// only transient effect of such a give-back on a concurrent request is a
// retryable RATELIMIT, never a spurious QUOTA.
//
// Consumption throttles instead of failing: ConsumeGrant(now, want) returns
// how many deliveries the consumer may make now (and the engine gives back
// unused ones with ConsumeReturn), or 0 and how long to wait;
// ConsumeDelay(now, n) is the all-or-nothing form. AdmitBlocked false means
// the client must wait before blocking.
//
// Counters of job events (Count: added, delivered, acked, nacked,
// requeued, expired) are single atomic adds; shards should sum locally and
// flush per batch.
//
// # Persistence and the cluster
//
// With Options.File (the tenants-file directive) every change is written
// before it takes effect: the whole file, JSON
// {"format":"disq-tenants","version":1,"tenants":[...]}, to a temporary
// file in the same directory, fsync, rename, fsync of the directory, mode
// 0600. A change that cannot be written is refused and changes nothing; New
// refuses a file it cannot parse. Each tenant has a version, incremented by
// every change; deletions leave a tombstone with its version. Export and
// Apply/ApplyAll are the hooks for the cluster: a definition from a peer
// replaces the local one only when newer (higher version, then later
// update time, then the tie-breaks of Definition.newer), so every node
// converges to the newest definition.
//
// In a cluster every node holds every definition (the engine's tenant
// sync, engine/tenantsync.go, over the bus's TENANT messages): a change
// made on a node (Put, SetLimits, SetPassword, Delete: Watch reports it
// with Change.FromPeer false) is broadcast to every peer with an open
// link; when a link comes up (MEET, a restart, a reconnection after a
// failure or a partition) each side sends all its definitions; and every
// 5 s each node sends each peer a digest (name, version, fingerprint) to
// which the peer answers with what the digest shows missing, older or
// different. A receiving node installs them with ApplyAll (one write of
// the tenants-file per batch, so received definitions survive its
// restart) and never forwards them: only the node where a change was made
// broadcasts it, and the anti-entropy does the rest. Two changes of the
// same version made at once on two nodes are ordered by those
// tie-breaks, the same on every node. The built-in default tenant at
// version 0 (never changed) is not exchanged. Password hashes travel,
// never passwords; the bus is unauthenticated and unencrypted, as
// Disque's: keep it on a trusted network. Limits still apply per node
// (see Quotas are per node).
//
// # Admin API
//
// NewAdminHandler serves HTTP/JSON (openapi.json, OpenAPI 3.1, describes
// every route, schema and error; OpenAPI returns it), and ListenAdmin runs
// it on admin-bind:admin-port (port 0 disables it):
//
//	GET    /healthz                                       (never needs the token)
//	GET    /metrics
//	GET    /v1/tenants
//	GET    /v1/tenants/{name}
//	PUT    /v1/tenants/{name}                             {"password": "...", "limits": {...}}
//	DELETE /v1/tenants/{name}
//	GET    /v1/tenants/{name}/limits
//	PUT    /v1/tenants/{name}/limits                      {limits}, replaced whole
//	GET    /v1/tenants/{name}/usage
//	POST   /v1/tenants/{name}/credentials                 {"password": "..."} or {} to generate
//	POST   /v1/tenants/{name}/queues/{queue}/pause        {"state": "in|out|all", "bcast": bool}
//	POST   /v1/tenants/{name}/queues/{queue}/resume       (same body)
//	POST   /v1/tenants/{name}/queues/{queue}/purge        deletes the queued jobs, oldest
//	                                                      first, in chunks of 16,384
//
// PUT creates (201, password required) or replaces (200, password
// optional: absent keeps it); the limits object, when sent, replaces the
// old one whole (no per-limit merge; {} removes every limit, an absent
// limits object keeps the current one).
// Tenant names match [a-z0-9_-]{1,64}; default can be limited but neither
// deleted (409) nor given a password (its password is requirepass). Queue
// names in paths are percent-encoded ("%2F" stays inside the name). Bodies
// are at most 64 KiB (413), decoded strictly (unknown fields, trailing data,
// negative or non-integer limits: 400), and a refused request changes
// nothing. Errors are {"error": {"code": "...", "message": "..."}}. With
// admin-token set every route but /healthz needs "Authorization: Bearer
// <token>" (401); without it the API answers loopback peers only (403) and
// the log says so. Answers never contain password hashes.
//
// # Metrics
//
// See metrics.go for the series. The tenant series live in one
// metrics.Set (Registry.Metrics), created once when a tenant appears and
// removed when it is deleted; nothing is looked up per request. Per-queue
// series come from a snapshot callback (SetQueueStats) at scrape time,
// capped at Options.MaxQueueSeries queues per node (default 1000; sticky
// choice, deepest first; disq_queue_series_omitted counts the others).
// Registry.WritePrometheus writes them plus the Go and process metrics; the
// admin /metrics route appends Backend.WriteMetrics (the engine's
// server-wide series).
package tenant
