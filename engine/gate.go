package engine

import (
	"time"

	"disq/shard"
	"disq/tenant"
)

// GETJOB admission for tenants with consume_rate or max_blocked_clients.
// Both limits throttle, they never fail (tenant/doc.go): a GETJOB the
// tenant may not run now is left unparsed in the connection's input, the
// session stops reading, and the loop looks again after the wait the tenant
// names. Nothing is dispatched meanwhile, so the connection's replies keep
// their order and the client just sees a slower GETJOB.
//
//   - consume_rate: the request's COUNT is capped to what the bucket grants
//     (at least 1); what the shard does not deliver goes back to the bucket.
//   - max_blocked_clients: a GETJOB that may block (no NOHANG) needs a
//     place before it is dispatched, even when a job may be ready, since
//     whether it blocks is only known on the shard. The place is given back
//     when the request is answered or the client goes.

// admitRetry is how long a GETJOB refused a blocked-client place waits
// before asking again.
const admitRetry = 100 * time.Millisecond

// gate is what the admission granted to the GETJOB being dispatched.
type gate struct {
	on       bool
	n        int64  // jobs granted by consume_rate (FlagGranted)
	flags    uint16 // FlagGranted, FlagBlockAdmitted
	admitted bool
}

// gated reports whether GETJOB admission applies to the session's tenant.
func (s *Session) gated() bool {
	l := s.t.Limits()
	return l.IsSet(tenant.ConsumeRate) || l.IsSet(tenant.MaxBlockedClients)
}

// admitGetJob decides whether the GETJOB args may be dispatched now. It
// returns 0 and fills s.gate when it may, else how long to wait. Requests
// the command will refuse (syntax) pass without charge.
func (s *Session) admitGetJob(args [][]byte) time.Duration {
	count, nohang := int64(1), false
	for j := 1; j < len(args); j++ {
		switch {
		case eqFold(args[j], "from"):
			j = len(args)
		case eqFold(args[j], "nohang"):
			nohang = true
		case eqFold(args[j], "count") && j+1 < len(args):
			if v, ok := parseInt(args[j+1]); ok && v > 0 {
				count = v
			}
			j++
		case eqFold(args[j], "timeout"):
			j++
		}
	}
	now := s.e.reg.Now()
	g := gate{on: true, n: count}
	l := s.t.Limits()
	if l.IsSet(tenant.ConsumeRate) && l.Get(tenant.ConsumeRate) >= 0 {
		n, wait := s.t.ConsumeGrant(now, count)
		if n == 0 {
			return max(wait, time.Millisecond)
		}
		g.n, g.flags = n, shard.FlagGranted
	}
	if !nohang && l.IsSet(tenant.MaxBlockedClients) {
		if !s.t.AdmitBlocked() {
			if g.flags&shard.FlagGranted != 0 {
				s.t.ConsumeReturn(g.n)
			}
			return admitRetry
		}
		g.admitted = true
		g.flags |= shard.FlagBlockAdmitted
	}
	s.gate = g
	return 0
}

// ungate gives back what admission granted to a GETJOB that did not use it
// (refused by the command itself).
func (s *Session) ungate() {
	g := s.gate
	s.gate = gate{}
	if g.flags&shard.FlagGranted != 0 {
		s.t.ConsumeReturn(g.n)
	}
	if g.admitted {
		s.t.ReleaseBlocked()
	}
}

// hold stops the session reading for d, then has the loop parse again.
func (s *Session) hold(d time.Duration) {
	if s.holding {
		return
	}
	s.holding = true
	c, ls := s.conn, s.ls
	time.AfterFunc(d, func() {
		_ = ls.loop.ExecuteFunc(func() {
			s.holding = false
			if !s.closed {
				_ = c.Wake()
			}
		})
	})
}
