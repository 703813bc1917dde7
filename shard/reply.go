package shard

import "sync"

// Code is the outcome of an op when it is not a plain reply. The engine maps
// codes to Disque's error lines (engine/errors.go), so every wire text lives
// in one place.
type Code uint8

const (
	OK               Code = iota // the reply bytes are Data[Start:End]
	Part                         // a partial result: N and/or Data[Start:End], combined by the engine
	ErrMaxLen                    // -MAXLEN
	ErrPaused                    // -PAUSED
	ErrNoJob                     // -NOJOB (WORKING)
	ErrTooLate                   // -TOOLATE
	ErrAcked                     // -ACKED (WORKING on a dummy ACK)
	ErrIDCollision               // -ERR Internal error creating the job
	ErrRemoved                   // -NOREPL job removed (expired?) before...
	ErrLeaving                   // -LEAVING
	ErrOOM                       // -OOM
	ErrNoReplTimeout             // -NOREPL Timeout reached before replicating...
	ErrMisconf                   // the log could not be written: the error text is the reply bytes
	ErrQuota                     // a tenant limit: the error line (without '-') is the reply bytes
)

// Reply is one completed op, or one part of a command that spans shards.
type Reply struct {
	Sess       any
	Seq        uint32
	Tag        uint32 // the op's Tag
	Code       Code
	Start, End uint32 // reply bytes in the batch's Data
	N          int64  // Part: a count (ACKJOB across shards...)
	Usec       uint32 // time the shard spent executing the op
}

// ReplyBatch carries replies from one shard to one event loop.
type ReplyBatch struct {
	Items []Reply
	Data  []byte
}

var replyPool = sync.Pool{New: func() any { return new(ReplyBatch) }}

// Bytes returns the reply bytes of r (aliases the batch).
func (b *ReplyBatch) Bytes(r *Reply) []byte { return b.Data[r.Start:r.End] }

// Release recycles the batch; the loop calls it after writing the replies.
func (b *ReplyBatch) Release() {
	clear(b.Items)
	b.Items = b.Items[:0]
	if cap(b.Data) > 4<<20 {
		b.Data = nil
	}
	b.Data = b.Data[:0]
	replyPool.Put(b)
}

// ReplyQueue is an event loop's completion queue: shards push reply batches,
// the loop takes them all in one drain. Wake is called (outside the lock)
// when the queue goes from idle to pending; it must schedule a drain on the
// loop (EventLoop.Execute) and not block.
type ReplyQueue struct {
	mu      sync.Mutex
	batches []*ReplyBatch
	armed   bool
	Wake    func()
}

// Push hands b to the loop. Safe for concurrent use.
func (q *ReplyQueue) Push(b *ReplyBatch) {
	q.mu.Lock()
	q.batches = append(q.batches, b)
	wake := !q.armed
	q.armed = true
	q.mu.Unlock()
	if wake {
		q.Wake()
	}
}

// Hold marks the queue armed so pushes do not wake the loop: the loop is
// about to drain it itself (after running shard steps inline).
func (q *ReplyQueue) Hold() {
	q.mu.Lock()
	q.armed = true
	q.mu.Unlock()
}

// Take appends every pending batch to dst and re-arms the wake-up. Called on
// the loop.
func (q *ReplyQueue) Take(dst []*ReplyBatch) []*ReplyBatch {
	q.mu.Lock()
	dst = append(dst, q.batches...)
	clear(q.batches)
	q.batches = q.batches[:0]
	q.armed = false
	q.mu.Unlock()
	return dst
}
