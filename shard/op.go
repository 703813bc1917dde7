package shard

import (
	"sync"
	"sync/atomic"
)

// Kind is the kind of an Op.
type Kind uint8

const (
	OpAddJob  Kind = iota + 1 // args: queue, body; N: repl, delay, retry, ttl, maxlen (0 = none)
	OpGetJob                  // args: queue names; N[0] count, N[1] timeout ms; Flags
	OpIDs                     // args: job IDs; Sub: IDAck, IDFastAck, IDNack, IDEnqueue, IDDequeue, IDDel
	OpWorking                 // args: job ID
	OpShow                    // args: job ID
	OpQLen                    // args: queue
	OpQPeek                   // args: queue; N[0] count
	OpQStat                   // args: queue
	OpPause                   // args: queue; N[0] new state bits, Flags&FlagSetPause: replace state
	OpCounts                  // args: queue names; reply: live count per queue (GETJOB across shards, phase 1)
	OpPopN                    // args: queue names; N[i] jobs to pop from each (up to 6 queues per op)
	OpCancel                  // drop the session's blocked GETJOB (client gone)
	OpFlush                   // DEBUG FLUSHALL: delete every job and queue
	OpQScan                   // N[0] cursor, N[1] count, N[2] minlen, N[3] maxlen (-1 none), N[4] importrate; Flags&FlagBusy
	OpJScan                   // N[0] cursor, N[1] count, N[2] state mask; args: [queue]; Flags
	OpSync                    // no-op; replies +OK (tests, barriers)
	OpBus                     // a message from another node: args message, sender ID (20 bytes)
	OpCall                    // run op.Call on the shard goroutine
)

// Sub-kinds of OpIDs.
const (
	IDAck uint8 = iota
	IDFastAck
	IDNack
	IDEnqueue
	IDDequeue
	IDDel
)

// Op flags.
const (
	FlagNoHang        uint16 = 1 << iota // GETJOB: never block
	FlagWithCounters                     // GETJOB: nacks and additional-deliveries
	FlagAsync                            // ADDJOB ASYNC
	FlagArm                              // GETJOB across shards: block with the shared Claim
	FlagSetPause                         // PAUSE: an in/out/all/none option was given
	FlagBusyLoop                         // QSCAN/JSCAN BUSYLOOP
	FlagReplyAll                         // JSCAN REPLY all
	FlagQueueFilter                      // JSCAN QUEUE given (first arg)
	FlagLeaving                          // the node is leaving: GETJOB answers -LEAVING instead of blocking
	FlagExternal                         // ADDJOB: this node keeps no copy (memory > 75% or leaving)
	FlagBcast                            // PAUSE bcast: send the resulting state to every node
	FlagGranted                          // GETJOB: N[0] jobs were granted by the tenant's consume rate
	FlagBlockAdmitted                    // GETJOB: the tenant's max_blocked_clients admitted a block
)

// Op is one command for a shard. The event loop fills it; the strings it
// names are copies in the Batch's Data (the loop's read buffer is reused).
type Op struct {
	Kind   Kind
	Sub    uint8
	Flags  uint16
	Tenant uint16 // tenant index on this node
	Slot   uint16 // routing slot of the queue (ADDJOB: goes into the job ID)
	Seq    uint32 // reply position on the connection
	Tag    uint32 // echoed in the Reply (requests made of several ops)
	A, B   uint32 // the op's arguments are Batch spans [A, B)
	N      [6]int64
	Sess   any          // reply target, opaque to the shard (engine session)
	RQ     *ReplyQueue  // the reply goes to this loop's completion queue
	Claim  *Claim       // GETJOB across shards: first shard to claim answers
	Call   func(*Shard) // OpCall: run on the shard goroutine (admin work)
}

// Name returns the command an op implements (slow log, stats).
func (op *Op) Name() string {
	switch op.Kind {
	case OpAddJob:
		return "addjob"
	case OpGetJob, OpCounts, OpPopN:
		return "getjob"
	case OpIDs:
		return [...]string{IDAck: "ackjob", IDFastAck: "fastack", IDNack: "nack", IDEnqueue: "enqueue",
			IDDequeue: "dequeue", IDDel: "deljob"}[op.Sub%6]
	case OpWorking:
		return "working"
	case OpShow:
		return "show"
	case OpQLen:
		return "qlen"
	case OpQPeek:
		return "qpeek"
	case OpQStat:
		return "qstat"
	case OpPause:
		return "pause"
	case OpFlush:
		return "debug"
	case OpQScan:
		return "qscan"
	case OpJScan:
		return "jscan"
	}
	return "internal"
}

type span struct{ off, n uint32 }

// Batch is the unit an event loop hands to a shard: every op it parsed for
// that shard during one pass, with copies of their arguments. Batches are
// recycled through a pool: after Push the loop must not touch it.
type Batch struct {
	Ops   []Op
	spans []span
	data  []byte
}

var batchPool = sync.Pool{New: func() any { return new(Batch) }}

// GetBatch returns an empty batch.
func GetBatch() *Batch { return batchPool.Get().(*Batch) }

func putBatch(b *Batch) {
	if cap(b.data) > 1<<20 {
		b.data = nil
	}
	clear(b.Ops) // drop Sess/RQ/Claim references
	b.Ops, b.spans, b.data = b.Ops[:0], b.spans[:0], b.data[:0]
	batchPool.Put(b)
}

// Arg copies s into the batch and returns its span index.
func (b *Batch) Arg(s []byte) uint32 {
	b.spans = append(b.spans, span{uint32(len(b.data)), uint32(len(s))})
	b.data = append(b.data, s...)
	return uint32(len(b.spans) - 1)
}

// NumArgs returns the number of spans (the next Arg's index).
func (b *Batch) NumArgs() uint32 { return uint32(len(b.spans)) }

// Len returns the number of ops.
func (b *Batch) Len() int { return len(b.Ops) }

// arg returns span i (aliases the batch: valid until the batch is recycled).
func (b *Batch) arg(i uint32) []byte {
	s := b.spans[i]
	return b.data[s.off : s.off+s.n : s.off+s.n]
}

// Claim lets several shards race to answer one GETJOB whose queues they
// share: the first CompareAndSwap(0, 1) answers, the others drop their
// waiter. The engine sets it to 2 when the client goes away.
type Claim struct{ state atomic.Int32 }

// Take claims the request; it reports false if someone else did.
func (c *Claim) Take() bool { return c == nil || c.state.CompareAndSwap(0, 1) }

// Cancel marks the request abandoned; it reports false if a shard already
// claimed it.
func (c *Claim) Cancel() bool { return c.state.CompareAndSwap(0, 2) }

// Open reports whether nobody has claimed or cancelled the request yet.
func (c *Claim) Open() bool { return c == nil || c.state.Load() == 0 }
