package engine

import (
	"encoding/binary"

	"disq/netpoll/resp"
	"disq/shard"
)

// GETJOB over queues that live on several shards (architecture.md 2.5):
//
//  1. counts: every involved shard reports how many jobs each of its listed
//     queues can give (0 when paused out);
//  2. pop: the loop runs the spec's round-robin over the whole list on those
//     counts and asks each shard to pop exactly its share; the items come
//     back tagged with their queue and are interleaved in round-robin order.
//     (A job taken meanwhile by another client just makes the reply shorter.)
//  3. arm: if nothing was found and the client may block, every involved
//     shard re-checks its queues and parks a waiter sharing one Claim; the
//     first shard to claim it (a job arrived, or the timeout) answers.
//
// The session stops parsing from the start, so no later pipelined request
// runs in between, as Disque would not run it either.
type multiGet struct {
	queues  [][]byte   // the listed names, duplicates included (copies)
	dist    []int      // distinct-name index of each listed name
	names   [][]byte   // distinct names
	shardOf []int      // shard of each distinct name
	shards  []int      // involved shards, in order of first appearance
	ops     [][]int    // per op of the current phase (its Tag): distinct indexes of its args
	avail   []int      // phase 1: jobs available per distinct name
	order   []int      // phase 2: distinct index of each job to take, round-robin order
	items   [][][]byte // phase 2: popped items per distinct name
	count   int64
	timeout int64
	flags   uint16
	phase   int
	parts   int
	gate    gate // tenant admission, settled by the loop (not the shards)
}

func (s *Session) getJobMulti(queues [][]byte, count, timeout int64, flags uint16, g gate) {
	n := len(s.e.shards)
	m := &multiGet{count: count, timeout: timeout, flags: flags, gate: g}
	s.multi = m
	idx := make(map[string]int)
	for _, q := range queues {
		d, ok := idx[string(q)]
		if !ok {
			d = len(m.names)
			idx[string(q)] = d
			name := append([]byte(nil), q...)
			m.names = append(m.names, name)
			i := shard.Of(shard.Slot(s.tenant, q), n)
			m.shardOf = append(m.shardOf, i)
			if !containsInt(m.shards, i) {
				m.shards = append(m.shards, i)
			}
		}
		m.dist = append(m.dist, d)
		m.queues = append(m.queues, m.names[d])
	}
	m.avail = make([]int, len(m.names))
	seq, sl := s.alloc()
	sl.gather = gatherMulti
	sl.ctx = m
	s.block(seq, m.shards...)
	m.phase = 1
	for _, i := range m.shards {
		var ds []int
		for d := range m.names {
			if m.shardOf[d] == i {
				ds = append(ds, d)
			}
		}
		m.send(s, seq, i, shard.OpCounts, ds, nil)
	}
}

func appendUniqueInt(a []int, v int) []int {
	if containsInt(a, v) {
		return a
	}
	return append(a, v)
}

func containsInt(a []int, v int) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// send issues one op of the current phase for the distinct names ds.
func (m *multiGet) send(s *Session, seq uint32, i int, kind shard.Kind, ds []int, n []int64) *shard.Op {
	args := make([][]byte, len(ds))
	for k, d := range ds {
		args[k] = m.names[d]
	}
	op := s.opIn(s.ls.batch(i), seq, kind, args...)
	op.Tag = uint32(len(m.ops))
	op.Flags = m.flags & shard.FlagWithCounters
	copy(op.N[:], n)
	m.ops = append(m.ops, ds)
	m.parts++
	return op
}

func gatherMulti(s *Session, seq uint32, sl *slot, r *shard.Reply, data []byte) {
	m := sl.ctx.(*multiGet)
	if m.phase == 3 {
		// The armed request: the first final answer wins.
		switch r.Code {
		case shard.Part:
			return
		case shard.OK:
			sl.buf = append(sl.buf[:0], data...)
		default:
			sl.buf = resp.AppendError(sl.buf[:0], codeError(r.Code))
		}
		got := int64(0)
		if r.Code == shard.OK && len(data) > 1 && data[0] == '*' && data[1] != '-' && data[1] != '0' {
			got = 1
		}
		m.settle(s, got)
		s.finish(sl)
		return
	}
	if r.Code != shard.Part || int(r.Tag) >= len(m.ops) {
		return
	}
	ds := m.ops[r.Tag]
	if m.phase == 1 {
		for k, d := range ds {
			if 4*k+4 <= len(data) {
				m.avail[d] = int(binary.LittleEndian.Uint32(data[4*k:]))
			}
		}
	} else {
		for len(data) >= 8 {
			k := int(binary.LittleEndian.Uint32(data))
			l := int(binary.LittleEndian.Uint32(data[4:]))
			if k >= len(ds) || 8+l > len(data) {
				break
			}
			d := ds[k]
			m.items[d] = append(m.items[d], append([]byte(nil), data[8:8+l]...))
			data = data[8+l:]
		}
	}
	if m.parts--; m.parts > 0 {
		return
	}
	m.ops = m.ops[:0]
	if m.phase == 1 {
		m.pop(s, seq, sl)
	} else {
		m.reply(s, seq, sl)
	}
}

// pop runs the round-robin over the counts and asks each shard for its share.
func (m *multiGet) pop(s *Session, seq uint32, sl *slot) {
	remain := append([]int(nil), m.avail...)
	take := make([]int64, len(m.names))
	for int64(len(m.order)) < m.count {
		progress := false
		for _, d := range m.dist {
			if remain[d] > 0 {
				remain[d]--
				take[d]++
				m.order = append(m.order, d)
				progress = true
				if int64(len(m.order)) == m.count {
					break
				}
			}
		}
		if !progress {
			break
		}
	}
	if len(m.order) == 0 {
		m.arm(s, seq, sl)
		return
	}
	m.phase = 2
	m.items = make([][][]byte, len(m.names))
	for _, i := range m.shards {
		var ds []int
		var n []int64
		for d := range m.names {
			if m.shardOf[d] == i && take[d] > 0 {
				ds = append(ds, d)
				n = append(n, take[d])
				if len(ds) == len(shard.Op{}.N) {
					m.send(s, seq, i, shard.OpPopN, ds, n)
					ds, n = nil, nil
				}
			}
		}
		if len(ds) > 0 {
			m.send(s, seq, i, shard.OpPopN, ds, n)
		}
	}
}

// reply assembles the popped items in round-robin order.
func (m *multiGet) reply(s *Session, seq uint32, sl *slot) {
	var out [][]byte
	for _, d := range m.order {
		if len(m.items[d]) > 0 {
			out = append(out, m.items[d][0])
			m.items[d] = m.items[d][1:]
		}
	}
	if len(out) == 0 {
		m.arm(s, seq, sl)
		return
	}
	b := resp.AppendArray(sl.buf[:0], len(out))
	for _, it := range out {
		b = append(b, it...)
	}
	sl.buf = b
	m.settle(s, int64(len(out)))
	s.finish(sl)
}

// settle gives back the admission of a multi-shard GETJOB once it is
// answered with got jobs (or its client went: got 0).
func (m *multiGet) settle(s *Session, got int64) {
	if s.multi == m {
		s.multi = nil
	}
	g := m.gate
	m.gate = gate{}
	if g.flags&shard.FlagGranted != 0 && g.n > got {
		s.t.ConsumeReturn(g.n - got)
	}
	if g.admitted {
		s.t.ReleaseBlocked()
	}
}

// arm answers NOHANG with a null array, or blocks on every involved shard.
func (m *multiGet) arm(s *Session, seq uint32, sl *slot) {
	if m.flags&shard.FlagNoHang != 0 {
		sl.buf = resp.AppendNullArray(sl.buf[:0])
		m.settle(s, 0)
		s.finish(sl)
		return
	}
	if g := &m.gate; g.flags&shard.FlagGranted != 0 && g.n > 1 {
		s.t.ConsumeReturn(g.n - 1) // keep one for the job it waits for
		g.n = 1
	}
	m.phase = 3
	claim := new(shard.Claim)
	s.blockClaim = claim
	for _, i := range m.shards {
		var args [][]byte
		for d := range m.names {
			if m.shardOf[d] == i {
				args = append(args, m.names[d])
			}
		}
		op := s.opIn(s.ls.batch(i), seq, shard.OpGetJob, args...)
		op.Flags = m.flags | shard.FlagArm
		op.Claim = claim
		op.N[1] = m.timeout
	}
}
