package shard

import (
	"disq/engine/job"
	"disq/netpoll/resp"
)

// Scans walk a shard by stable positions: queue indexes for QSCAN, record
// indexes for JSCAN. An object keeps its position for its whole life, so an
// iteration that resumes at a position returns every object present during
// the whole iteration at least once. The engine chains shards and encodes
// (position, shard) into the client's decimal cursor.
//
// Reply: a Part whose N is the next position (0 = this shard is done) and
// whose bytes are a uint32 LE item count followed by the RESP items.

func scanWork(op *Op) (count, steps int64, busy bool) {
	count = op.N[1]
	busy = op.Flags&FlagBusyLoop != 0
	steps = count * 10
	if count <= 0 {
		steps = 1
	}
	return
}

func (s *Shard) qscan(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	rb.Data = append(rb.Data, 0, 0, 0, 0)
	count, steps, busy := scanWork(op)
	minlen, maxlen, rate := op.N[2], op.N[3], op.N[4]
	pos := uint32(op.N[0])
	if pos == 0 {
		pos = 1
	}
	n := int64(0)
	for ; pos < uint32(len(s.qbyID)); pos++ {
		if !busy && (n >= count || steps <= 0) && steps < scanSteps(op) {
			break // at least one step per call, as upstream's do-while
		}
		steps--
		q := s.qbyID[pos]
		if q == nil || q.tenant != op.Tenant {
			continue
		}
		if int64(q.live) < minlen || (maxlen >= 0 && int64(q.live) > maxlen) || (rate > 0 && s.importRate(q) < rate) {
			continue
		}
		rb.Data = resp.AppendBulk(rb.Data, q.name)
		n++
	}
	next := int64(pos)
	if pos >= uint32(len(s.qbyID)) {
		next = 0
	}
	putCount(rb.Data[start:], n)
	end(rb, op.Sess, op.Seq, start, Part, next)
}

func (s *Shard) jscan(b *Batch, op *Op) {
	rb := s.begin(op.RQ)
	start := len(rb.Data)
	rb.Data = append(rb.Data, 0, 0, 0, 0)
	count, steps, busy := scanWork(op)
	mask := op.N[2]
	all := op.Flags&FlagReplyAll != 0
	var qid uint32
	if op.Flags&FlagQueueFilter != 0 {
		q := s.lookupQueue(op.Tenant, b.arg(op.A))
		if q == nil {
			putCount(rb.Data[start:], 0)
			end(rb, op.Sess, op.Seq, start, Part, 0)
			return
		}
		qid = q.id
	}
	pos := uint32(op.N[0])
	if pos == 0 {
		pos = 1
	}
	n := int64(0)
	for ; pos < s.st.next; pos++ {
		if !busy && (n >= count || steps <= 0) && steps < scanSteps(op) {
			break // at least one step per call, as upstream's do-while
		}
		steps--
		j := s.st.get(pos)
		if j.State == job.Free || j.Tenant != op.Tenant || j.Flags&job.FlagDummy != 0 {
			continue
		}
		if qid != 0 && j.Queue != qid {
			continue
		}
		if mask != 0 && mask&(1<<j.State) == 0 {
			continue
		}
		if all {
			rb.Data = s.appendShow(rb.Data, j)
		} else {
			rb.Data = append(rb.Data, '+')
			rb.Data = j.ID.AppendText(rb.Data)
			rb.Data = append(rb.Data, '\r', '\n')
		}
		n++
	}
	next := int64(pos)
	if pos >= s.st.next {
		next = 0
	}
	putCount(rb.Data[start:], n)
	end(rb, op.Sess, op.Seq, start, Part, next)
}

// scanSteps is the step budget of a call (the first step always runs).
func scanSteps(op *Op) int64 {
	_, steps, _ := scanWork(op)
	return steps
}

func putCount(b []byte, n int64) {
	b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
}
