package bench

import "sync/atomic"

// Token layout: the 64-bit token written (as 16 hex digits) at the start
// of every body of at least TokenLen bytes: a 16-bit run nonce and the
// job's 48-bit sequence number in the run (the index it was claimed at from
// the shared producer budget, so no two jobs of a run share it). It makes
// bodies unique (the lmove pattern acknowledges with LREM by value) and
// lets the e2e workload find the producer's timestamps of a delivered job.
const tokSeqBits = 48

func makeToken(nonce uint16, seq uint64) uint64 {
	return uint64(nonce)<<tokSeqBits | seq&(1<<tokSeqBits-1)
}

func splitToken(t uint64) (nonce uint16, seq uint64) {
	return uint16(t >> tokSeqBits), t & (1<<tokSeqBits - 1)
}

// e2eSlot holds the timestamps of one job of the e2e workload.
type e2eSlot struct {
	tok   atomic.Uint64
	sent  atomic.Int64 // ADDJOB (intended) send time
	reply atomic.Int64 // ADDJOB reply read
	deliv atomic.Int64 // delivery read by a consumer
	done  atomic.Uint32
}

// tracker matches deliveries with the producers' ADDJOB reply times. It is
// a ring of slots indexed by job sequence number; the slot of a job is
// written by its producer when it sends the job and when it reads the
// ADDJOB reply, and by the consumer that receives the job. Whichever of
// the two last events comes second records the job's e2e latency
// (delivery - ADDJOB reply), so each job is recorded exactly once however
// the two goroutines interleave. A job can be delivered before its
// producer has read the ADDJOB reply (the server queues the job before it
// writes the reply): its latency is negative, recorded as 0, and counted
// in early.
//
// A slot is reused after len(ring) jobs; a job still queued by then is no
// longer tracked (counted in untracked). With -n the ring holds every job
// of the run (up to 2^21 jobs); with --duration it holds 2^20.
type tracker struct {
	nonce uint16
	mask  uint64
	ring  []e2eSlot
}

func newTracker(nonce uint16, jobs int64) *tracker {
	size := int64(1)
	for size < jobs && size < 1<<21 {
		size <<= 1
	}
	return &tracker{nonce: nonce, mask: uint64(size - 1), ring: make([]e2eSlot, size)}
}

func (t *tracker) slot(seq uint64) *e2eSlot { return &t.ring[seq&t.mask] }

// sent is called by the producer before it writes job seq.
func (t *tracker) sent(tok uint64, at int64) {
	_, seq := splitToken(tok)
	s := t.slot(seq)
	s.tok.Store(0)
	s.sent.Store(at)
	s.reply.Store(0)
	s.deliv.Store(0)
	s.done.Store(0)
	s.tok.Store(tok)
}

// replied is called by the producer when the ADDJOB reply is read; ok is
// false for an error reply (the job does not exist). It returns the e2e
// latency when this event completes the pair.
func (t *tracker) replied(tok uint64, at int64, ok bool) (lat int64, record bool) {
	_, seq := splitToken(tok)
	s := t.slot(seq)
	if s.tok.Load() != tok {
		return 0, false
	}
	if !ok {
		s.done.Store(1 << 16) // never completes
		return 0, false
	}
	s.reply.Store(at)
	if s.done.Add(1) == 2 {
		return s.deliv.Load() - at, true
	}
	return 0, false
}

// delivered is called by a consumer that read a job whose body starts with
// tok. It returns the time since the ADDJOB send (fromSend, when tracked)
// and the e2e latency when this event completes the pair.
func (t *tracker) delivered(tok uint64, at int64) (fromSend int64, tracked bool, lat int64, record bool) {
	nonce, seq := splitToken(tok)
	if nonce != t.nonce {
		return 0, false, 0, false
	}
	s := t.slot(seq)
	if s.tok.Load() != tok {
		return 0, false, 0, false
	}
	fromSend = at - s.sent.Load()
	s.deliv.Store(at)
	if s.done.Add(1) == 2 {
		return fromSend, true, at - s.reply.Load(), true
	}
	return fromSend, true, 0, false
}
