package shard

import (
	"time"

	"disq/engine/job"
)

// Admin work on a shard: these methods must run on the shard goroutine,
// inside an OpCall (see Do). They back the admin API and the metrics.

// Do runs fn on the shard goroutine and waits for it. Safe for concurrent
// use; never call it from the shard itself.
func (s *Shard) Do(fn func(s *Shard)) {
	done := make(chan struct{})
	b := GetBatch()
	b.Ops = append(b.Ops, Op{Kind: OpCall, Call: func(s *Shard) { fn(s); close(done) }})
	s.Push(b)
	<-done
}

// PauseQueue sets (set=true) and/or reports a queue's pause state, as the
// PAUSE command does, and broadcasts it with bcast. Shard goroutine only.
func (s *Shard) PauseQueue(tenant uint16, name []byte, state uint8, set, bcast bool) string {
	b := GetBatch()
	a := b.Arg(name)
	op := Op{Kind: OpPause, Tenant: tenant, A: a, B: b.NumArgs(), N: [6]int64{int64(state)}}
	if set {
		op.Flags |= FlagSetPause
	}
	if bcast {
		op.Flags |= FlagBcast
	}
	s.pause(b, &op)
	putBatch(b)
	if q := s.lookupQueue(tenant, name); q != nil {
		return pauseName(q.pause)
	}
	return "none"
}

// AdminChunk is how many jobs one call of PurgeQueue deletes, and how many
// records one call of FlushTenant, QueueWalk or TenantJobs visits: the
// admin API and the metrics call them in a loop (each call one op of the
// shard), so a purge of millions of jobs, or a scrape walking them, does
// not stop the shard's other queues and tenants for its whole length
// (purging 2,000,000 jobs at once took 0.32 s).
const AdminChunk = 16384

// PurgeQueue deletes up to max of the oldest jobs queued in a queue and
// returns how many it deleted and how many stay queued. Shard goroutine
// only.
func (s *Shard) PurgeQueue(tenant uint16, name []byte, max int) (n int64, left int) {
	q := s.lookupQueue(tenant, name)
	if q == nil {
		return 0, 0
	}
	s.idxs = q.ordered(&s.st, s.idxs[:0], max, false)
	for _, i := range s.idxs {
		if _, err := s.apply(i, s.st.get(i), job.Event{Kind: job.EvDelete}); err == nil {
			n++
		}
	}
	return n, q.live
}

// FlushTenant deletes the jobs of a deleted tenant, visiting at most
// budget records from record index from (0: the first call, which also
// answers the tenant's blocked clients), and returns where the next call
// resumes; 0 when it has finished, the tenant's queues dropped. Shard
// goroutine only.
func (s *Shard) FlushTenant(tenant uint16, from uint32, budget int) uint32 {
	if from == 0 {
		for _, w := range s.blocked {
			if w.tenant == tenant {
				if w.claim.Take() {
					s.finishWaiter(w, answerNull)
				} else {
					s.finishWaiter(w, nil)
				}
				s.unblock(w)
			}
		}
	}
	next := s.eachChunk(from, budget, func(i uint32, j *job.Job) {
		if j.Tenant == tenant {
			if r := s.repls[i]; r != nil {
				s.replFail(i, j, r, ErrRemoved)
			} else {
				_, _ = s.apply(i, j, job.Event{Kind: job.EvDelete})
			}
		}
	})
	if next != 0 {
		return next
	}
	for _, q := range s.queues {
		if q.tenant == tenant {
			q.refs, q.pause = 0, 0
			s.dropQueue(q)
		}
	}
	return 0
}

// QueueStat is one queue's figures for metrics.
type QueueStat struct {
	Tenant       uint16
	Queue        string
	Depth        int64
	InFlight     int64 // jobs of the queue held active here (delivered, delayed, copies)
	OldestAge    time.Duration
	Redeliveries uint64
}

// QueueStats appends this shard's queue figures to dst: depth and the
// oldest job's age (O(queues)). It returns where each queue landed in dst,
// by queue ID, for QueueWalk. Shard goroutine only.
func (s *Shard) QueueStats(dst []QueueStat) ([]QueueStat, map[uint32]int) {
	pos := make(map[uint32]int, len(s.queues))
	for _, q := range s.queues {
		pos[q.id] = len(dst)
		st := QueueStat{Tenant: q.tenant, Queue: string(q.name), Depth: int64(q.live)}
		if q.live > 0 {
			s.idxs = q.ordered(&s.st, s.idxs[:0], 1, false)
			if len(s.idxs) > 0 {
				ct := s.st.get(s.idxs[0]).CreatedAt()
				st.OldestAge = time.Duration(s.now-ct) * time.Millisecond
			}
		}
		dst = append(dst, st)
	}
	return dst, pos
}

// QueueWalk adds the in-flight and redelivery counts of the job records
// from index from to the entries of dst that pos names, visiting at most
// budget records, and returns where the next call resumes (0: done). The
// metrics call it in chunks (a walk of millions of records in one op
// stalled the shard at every scrape); a queue dropped and its ID reused
// between two chunks may see a few counts land on the old entry.
// Shard goroutine only.
func (s *Shard) QueueWalk(dst []QueueStat, pos map[uint32]int, from uint32, budget int) uint32 {
	return s.eachChunk(from, budget, func(i uint32, j *job.Job) {
		if k, ok := pos[j.Queue]; ok {
			if j.State == job.Active {
				dst[k].InFlight++
			}
			dst[k].Redeliveries += uint64(j.AddDel)
		}
	})
}

// TenantJobs counts a tenant's jobs by state among the records from index
// from, visiting at most budget of them, and returns where the next call
// resumes (0: done). Shard goroutine only.
func (s *Shard) TenantJobs(tenant uint16, from uint32, budget int) (queued, active, acked int64, next uint32) {
	next = s.eachChunk(from, budget, func(i uint32, j *job.Job) {
		if j.Tenant == tenant {
			switch j.State {
			case job.Queued:
				queued++
			case job.Active, job.WaitRepl:
				active++
			case job.Acked:
				acked++
			}
		}
	})
	return
}

// eachChunk calls fn for the records in use from index from (0: the
// first), at most budget of them, and returns where the next chunk starts
// (0: the end was reached).
func (s *Shard) eachChunk(from uint32, budget int, fn func(i uint32, j *job.Job)) uint32 {
	seen := 0
	return s.st.each(from, func(i uint32, j *job.Job) bool {
		fn(i, j)
		seen++
		return seen < budget
	})
}
