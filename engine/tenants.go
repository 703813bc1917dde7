package engine

import (
	"fmt"
	"io"
	"strings"

	"disq/shard"
	"disq/tenant"
)

// Tenants: every session belongs to a tenant (the built-in "default" until
// AUTH <tenant> <password>); the tenant's name is part of every slot hash
// and its node-local index is carried by ops, queues and job records, so
// one tenant's commands never see another's queues or jobs. Admission runs
// on the event loop (tenant.AdmitProduce reserves jobs and bytes); the
// shards give back what they refuse or free through acct.

// acct implements shard.Accounting on the tenant registry.
type acct struct{ reg *tenant.Registry }

func (a acct) t(i uint16) *tenant.Tenant {
	if t := a.reg.ByIndex(i); t != nil {
		return t
	}
	return a.reg.Default()
}

func (a acct) AdmitQueue(i uint16) error        { return a.t(i).AdmitQueue() }
func (a acct) ChargeQueue(i uint16)             { a.t(i).ChargeQueue() }
func (a acct) ReleaseQueue(i uint16)            { a.t(i).ReleaseQueue() }
func (a acct) ChargeJob(i uint16, bytes int64)  { a.t(i).ChargeJobs(1, bytes) }
func (a acct) ReleaseJob(i uint16, bytes int64) { a.t(i).ReleaseJobs(1, bytes) }
func (a acct) Count(i uint16, ev int, n uint64) { a.t(i).Count(tenant.Event(ev), n) }
func (a acct) ConsumeReturn(i uint16, n int64)  { a.t(i).ConsumeReturn(n) }
func (a acct) AdmitBlocked(i uint16) bool       { return a.t(i).AdmitBlocked() }
func (a acct) ReleaseBlocked(i uint16)          { a.t(i).ReleaseBlocked() }
func (e *Engine) tenantName(i uint16) string    { return acct{e.reg}.t(i).Name() }
func (e *Engine) tenantIndex(name []byte) (uint16, bool) {
	if t := e.reg.ByName(string(name)); t != nil && !t.Deleted() {
		return t.Index(), true
	}
	return 0, false
}

// Registry returns the node's tenant registry.
func (e *Engine) Registry() *tenant.Registry { return e.reg }

// setTenant moves the session to tenant t.
func (s *Session) setTenant(t *tenant.Tenant) {
	s.t = t
	s.tenant = t.Name()
	s.tenantIdx = t.Index()
}

// AUTH <password> (requirepass, the default tenant) | AUTH <tenant> <password>
func cmdAuth(s *Session, args [][]byte) {
	e := s.e
	switch len(args) {
	case 2:
		pass := e.Config().RequirePass
		if pass == "" {
			s.replyError(errNoPassSet)
			return
		}
		if !checkPassword(args[1], pass) {
			s.authed = false
			s.replyError(errInvalidPass)
			return
		}
		if err := s.switchTenant(e.reg.Default()); err != nil {
			s.replyError(err.Error())
			return
		}
		s.authed = true
		s.replyOK()
	case 3:
		t, err := e.reg.Authenticate(args[1], args[2])
		if err != nil {
			s.replyError(errWrongPass)
			return
		}
		if err := s.switchTenant(t); err != nil {
			s.replyError(err.Error())
			return
		}
		s.authed = true
		s.replyOK()
	default:
		s.replyError(errSyntax)
	}
}

// switchTenant admits the connection in t (max_connections) and leaves the
// current tenant.
func (s *Session) switchTenant(t *tenant.Tenant) error {
	if t == s.t {
		return nil
	}
	if err := t.AdmitConnection(); err != nil {
		return err
	}
	s.t.ReleaseConnection()
	s.setTenant(t)
	return nil
}

// admitProduce applies the tenant's produce limits to an ADDJOB.
func (s *Session) admitProduce(bodyLen, repl int64) error {
	var now int64 // the clock only matters to the rate limits
	if s.t.ProduceRated() {
		now = s.e.reg.Now()
	}
	return s.t.AdmitProduce(now, 1, bodyLen, bodyLen, repl)
}

// tenantDeleted closes the connections of a deleted tenant and drops its
// jobs and queues on every shard (run by the registry's watcher).
func (e *Engine) tenantDeleted(t *tenant.Tenant) {
	idx := t.Index()
	for _, ls := range e.loopList() {
		l := ls
		_ = l.loop.ExecuteFunc(func() {
			for x := range l.sessions {
				if x.t == t {
					x.closeNow()
				}
			}
		})
	}
	go func() {
		for _, sh := range e.shards {
			doChunks(sh, func(s *shard.Shard, from uint32) uint32 {
				return s.FlushTenant(idx, from, shard.AdminChunk)
			})
		}
		e.log.Info("tenant deleted: connections closed, jobs and queues dropped", "tenant", t.Name())
	}()
}

// ---- tenant.Backend for the admin API --------------------------------------

type adminBackend struct{ e *Engine }

// AdminBackend returns the engine's side of the admin API.
func (e *Engine) AdminBackend() tenant.Backend { return adminBackend{e} }

func (b adminBackend) tenantIdx(name string) (uint16, error) {
	t := b.e.reg.ByName(name)
	if t == nil || t.Deleted() {
		return 0, tenant.ErrNotFound
	}
	return t.Index(), nil
}

func (b adminBackend) PauseQueue(tn, queue, state string, bcast bool) (string, error) {
	idx, err := b.tenantIdx(tn)
	if err != nil {
		return "", err
	}
	var bits uint8
	set := true
	switch state {
	case "none":
	case "in":
		bits = 1
	case "out":
		bits = 2
	case "all":
		bits = 3
	case "state":
		set = false
	default:
		return "", tenant.ErrInvalidArgument
	}
	sh := b.e.shards[shard.Of(shard.Slot(tn, []byte(queue)), len(b.e.shards))]
	var res string
	sh.Do(func(s *shard.Shard) { res = s.PauseQueue(idx, []byte(queue), bits, set, bcast) })
	return res, nil
}

func (b adminBackend) PurgeQueue(tn, queue string) (int64, error) {
	idx, err := b.tenantIdx(tn)
	if err != nil {
		return 0, err
	}
	sh := b.e.shards[shard.Of(shard.Slot(tn, []byte(queue)), len(b.e.shards))]
	// In chunks of the oldest AdminChunk jobs, the shard's other work
	// running in between; at most as many jobs as were queued at the
	// first chunk, so producers adding as fast cannot keep it going.
	var total int64
	limit, want := int64(-1), shard.AdminChunk
	for {
		var n int64
		var left int
		sh.Do(func(s *shard.Shard) { n, left = s.PurgeQueue(idx, []byte(queue), want) })
		total += n
		if limit < 0 {
			limit = n + int64(left)
		}
		if n == 0 || left == 0 || total >= limit {
			return total, nil
		}
		want = int(min(int64(shard.AdminChunk), limit-total))
	}
}

func (b adminBackend) TenantUsage(tn string) map[string]int64 {
	idx, err := b.tenantIdx(tn)
	if err != nil {
		return nil
	}
	var q, a, k int64
	for _, sh := range b.e.shards {
		doChunks(sh, func(s *shard.Shard, from uint32) uint32 {
			x, y, z, next := s.TenantJobs(idx, from, shard.AdminChunk)
			q, a, k = q+x, a+y, k+z
			return next
		})
	}
	return map[string]int64{"jobs_queued": q, "jobs_active": a, "jobs_acked": k}
}

// WriteMetrics writes the server-wide families (the registry writes the
// tenant and queue series and the Go/process metrics).
func (b adminBackend) WriteMetrics(w io.Writer) {
	e := b.e
	var sb strings.Builder
	sb.WriteString("# HELP disq_commands_total Commands processed, by command.\n# TYPE disq_commands_total counter\n")
	loops := e.loopList()
	for i, c := range e.cmdList {
		var calls int64
		for _, ls := range loops {
			calls += ls.stats.cmds[i].calls.Load()
		}
		fmt.Fprintf(&sb, "disq_commands_total{cmd=%q} %d\n", c.Name, calls)
	}
	sb.WriteString("# HELP disq_command_duration_seconds_total Time spent executing commands, by command.\n# TYPE disq_command_duration_seconds_total counter\n")
	for i, c := range e.cmdList {
		var us int64
		for _, ls := range loops {
			us += ls.stats.cmds[i].usec.Load()
		}
		fmt.Fprintf(&sb, "disq_command_duration_seconds_total{cmd=%q} %g\n", c.Name, float64(us)/1e6)
	}
	sb.WriteString("# HELP disq_shard_jobs Job records held, by shard.\n# TYPE disq_shard_jobs gauge\n")
	for i, sh := range e.shards {
		fmt.Fprintf(&sb, "disq_shard_jobs{shard=\"%d\"} %d\n", i, sh.Stats.Jobs.Load())
	}
	sb.WriteString("# HELP disq_shard_inbox_batches Batches waiting in a shard's inbox.\n# TYPE disq_shard_inbox_batches gauge\n")
	for i, sh := range e.shards {
		fmt.Fprintf(&sb, "disq_shard_inbox_batches{shard=\"%d\"} %d\n", i, sh.InboxLen())
	}
	fmt.Fprintf(&sb, "# HELP disq_connected_clients Client connections.\n# TYPE disq_connected_clients gauge\ndisq_connected_clients %d\n", e.clients.Load())
	fmt.Fprintf(&sb, "# HELP disq_used_memory_bytes Memory used as the maxmemory levels count it.\n# TYPE disq_used_memory_bytes gauge\ndisq_used_memory_bytes %d\n", e.mem.used.Load())
	_, _ = io.WriteString(w, sb.String())
	if c := e.cluster(); c != nil {
		c.WritePrometheus(w)
	}
}

// queueStats feeds the registry's per-queue series (called per scrape).
func (e *Engine) queueStats(dst []tenant.QueueStat) []tenant.QueueStat {
	var buf []shard.QueueStat
	for _, sh := range e.shards {
		var pos map[uint32]int
		sh.Do(func(s *shard.Shard) { buf, pos = s.QueueStats(buf) })
		doChunks(sh, func(s *shard.Shard, from uint32) uint32 {
			return s.QueueWalk(buf, pos, from, shard.AdminChunk)
		})
	}
	for _, q := range buf {
		dst = append(dst, tenant.QueueStat{Tenant: q.Tenant, Queue: q.Queue, Depth: q.Depth,
			InFlight: q.InFlight, OldestAge: q.OldestAge, Redeliveries: q.Redeliveries})
	}
	return dst
}

// doChunks runs fn on sh's goroutine, one shard op per call, from record
// index 0 until fn returns 0 (the index to resume from), so a walk over
// millions of records lets the shard's other work run in between.
func doChunks(sh *shard.Shard, fn func(s *shard.Shard, from uint32) uint32) {
	for from, first := uint32(0), true; first || from != 0; first = false {
		at := from
		sh.Do(func(s *shard.Shard) { from = fn(s, at) })
	}
}
