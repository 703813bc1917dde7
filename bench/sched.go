package bench

import "math"

// Schedule paces the sends of one connection in open-loop mode (--rate).
//
// The total rate R is split evenly over the n connections that send, so
// each sends one command every n/R seconds; connection i starts i/n of an
// interval later than connection 0, which spreads the aggregate stream
// evenly: together the connections send one command every 1/R seconds.
// The intended time of the k-th send is computed from k (start + phase +
// k*interval), never by accumulating intervals, so rounding does not drift.
//
// A connection sends every command whose intended time has passed, late or
// not, and its latency is measured from the intended time: when the server
// stalls, the commands that could not be sent on time are charged the
// stall, which is the coordinated-omission correction.
type Schedule struct {
	Interval float64 // nanoseconds between two sends of this connection
	Phase    float64 // nanoseconds from the run start to send 0
	K        int64   // sends issued so far
}

// NewSchedule returns the schedule of connection i of n sharing rate sends
// per second. rate must be > 0 and 0 <= i < n.
func NewSchedule(rate float64, n, i int) Schedule {
	interval := float64(n) * 1e9 / rate
	return Schedule{Interval: interval, Phase: interval * float64(i) / float64(n)}
}

// At returns the intended time of send k, in nanoseconds since the run
// started.
func (s *Schedule) At(k int64) int64 {
	return int64(math.Round(s.Phase + float64(k)*s.Interval))
}

// Next returns the intended time of the next send.
func (s *Schedule) Next() int64 { return s.At(s.K) }

// Advance consumes the next send and returns its intended time.
func (s *Schedule) Advance() int64 {
	t := s.At(s.K)
	s.K++
	return t
}

// Due returns how many sends are due at now (intended time <= now) and
// not issued yet.
func (s *Schedule) Due(now int64) int64 {
	if float64(now) < s.Phase {
		return 0
	}
	last := int64(math.Floor((float64(now) - s.Phase) / s.Interval)) // index of the last due send
	for last >= 0 && s.At(last) > now {                              // rounding at the boundary
		last--
	}
	for s.At(last+1) <= now {
		last++
	}
	if d := last + 1 - s.K; d > 0 {
		return d
	}
	return 0
}
