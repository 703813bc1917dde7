package job

// Millis is an absolute time in unix milliseconds, or a duration in
// milliseconds where a field says so.
type Millis int64

// State is a job's state on this node. The zero value is Free: the record
// holds no job.
type State uint8

const (
	Free     State = iota // record unused (not a Disque state)
	WaitRepl              // created here, ADDJOB client waits for replication
	Active                // held, not queued: delivered, delayed, a replica, dequeued
	Queued                // in this node's queue, deliverable
	Acked                 // acknowledged; kept only to garbage-collect copies
	numStates
)

var stateNames = [...]string{Free: "free", WaitRepl: "wait-repl", Active: "active", Queued: "queued", Acked: "acked"}

// String returns the name SHOW and JSCAN use.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "invalid"
}

// ParseState parses a JSCAN STATE name (case-insensitive).
func ParseState(b []byte) (State, bool) {
	for s := WaitRepl; s < numStates; s++ {
		if equalFold(b, stateNames[s]) {
			return s, true
		}
	}
	return Free, false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// Flags are per-node facts about a job that SHOW does not expose.
type Flags uint8

const (
	// FlagDelivered: this node handed the job to a consumer at least once.
	FlagDelivered Flags = 1 << iota
	// FlagCountRequeue: a queueing on this node counts as an additional
	// delivery. Set after the first local queueing and on replica copies;
	// cleared on imports and on "please queue it" requests.
	FlagCountRequeue
	// FlagQueuedOnce: the job was queued on this node at least once (an
	// at-most-once job can then never be queued again here).
	FlagQueuedOnce
	// FlagDummy: a dummy ACK (no queue, no body, no holders).
	FlagDummy
	// FlagWillQueue: announce (WILLQUEUE) before the next timer requeue.
	FlagWillQueue
	// FlagExternal: the node that created the job keeps no copy of it.
	FlagExternal
)

// Job is the record a shard stores for one job. It holds no pointers, so a
// slab of millions of them costs the garbage collector nothing to scan.
// Fields are ordered to pack into 104 bytes.
type Job struct {
	ID     ID     // binary job ID (see id.go)
	CTime  uint64 // creation time: ms*1e6 + sequence; the queue ordering key
	QTime  Millis // next (re)queue time; 0 = never (at-most-once, once queued)
	Expire Millis // absolute expiry time
	Body   uint64 // shard arena reference of the body
	// BodyLen is the body length in bytes.
	BodyLen uint32
	Queue   uint32 // shard queue index (0 = none, e.g. a dummy ACK)
	Delay   uint32 // DELAY, seconds
	Retry   uint32 // RETRY, seconds; 0 = at-most-once
	Repl    uint16 // requested replication factor
	Nacks   uint16 // NACK counter (wraps, as Disque's 16-bit counter)
	AddDel  uint16 // additional-deliveries counter (wraps)
	Tenant  uint16 // tenant index on this node (0 = default)
	State   State  // written only by Apply
	Flags   Flags
	TSlot   uint16 // shard timer wheel: level*64+slot+1, 0 = not scheduled
	QVer    uint32 // bumped on every queue entry/exit; stale queue entries differ
	TNext   uint32 // shard timer wheel: next/previous record in the slot list
	TPrev   uint32
	Holders uint32 // holder-set index in the shard (0 = this node only)
}

// RetryMillis returns RETRY in milliseconds.
func (j *Job) RetryMillis() Millis { return Millis(j.Retry) * 1000 }

// CreatedAt returns the creation time in milliseconds (from CTime).
func (j *Job) CreatedAt() Millis { return Millis(j.CTime / 1_000_000) }

// AtMostOnce reports whether the job is an at-most-once job (RETRY 0).
func (j *Job) AtMostOnce() bool { return j.Retry == 0 }

// Awake returns the time of the next action the shard must take on its own
// for this job (requeue, end of DELAY, expiry). Queued jobs only need their
// expiry: their requeue clock rolls over lazily.
func (j *Job) Awake() Millis {
	switch j.State {
	case Active:
		if j.QTime != 0 && j.QTime < j.Expire {
			return j.QTime
		}
	}
	return j.Expire
}

// NextRequeue returns the time the job would next be queued by this node's
// timer, as SHOW's next-requeue-within reports it, or 0 for never.
func (j *Job) NextRequeue(now Millis) Millis {
	if j.QTime == 0 {
		return 0
	}
	if j.State == Queued {
		return rollQTime(j.QTime, j.RetryMillis(), now)
	}
	return j.QTime
}

// rollQTime moves a requeue time that has passed while the job stayed queued
// forward by whole RETRY periods until it is in the future, which is what
// Disque's timer does one period at a time.
func rollQTime(q, retry, now Millis) Millis {
	if q > now || retry <= 0 {
		return q
	}
	k := (now-q)/retry + 1
	return q + k*retry
}

// The shard's memory budget counts on this size; TestJobSize pins it.
const recordSize = 104
