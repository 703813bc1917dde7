package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Limit names one of a tenant's limits. Its String is the limit's JSON name,
// which is also the name in -QUOTA errors and the "limit" metric label.
type Limit uint8

// The limits, in the order they appear in JSON documents.
const (
	MaxJobs           Limit = iota // jobs held on this node (all states)
	MaxBytes                       // job body bytes held on this node
	MaxQueues                      // queue objects on this node
	MaxBodyBytes                   // largest job body one ADDJOB may carry
	MaxReplicate                   // largest REPLICATE an ADDJOB may ask for
	ProduceRate                    // jobs/s admitted by ADDJOB (token bucket)
	ProduceBurst                   // bucket size of ProduceRate, in jobs (default: one second of ProduceRate)
	ProduceBytesRate               // body bytes/s admitted by ADDJOB (bucket: one second)
	ConsumeRate                    // jobs/s delivered by GETJOB (throttles; bucket: one second)
	MaxConnections                 // connections authenticated as the tenant on this node
	MaxBlockedClients              // clients blocked in GETJOB on this node (throttles)
	NumLimits                      // number of limits (not a limit)
)

var limitNames = [NumLimits]string{
	"max_jobs", "max_bytes", "max_queues", "max_body_bytes", "max_replicate",
	"produce_rate", "produce_burst", "produce_bytes_rate", "consume_rate",
	"max_connections", "max_blocked_clients",
}

// String returns the limit's snake-case JSON name.
func (l Limit) String() string {
	if l < NumLimits {
		return limitNames[l]
	}
	return "limit(" + strconv.Itoa(int(l)) + ")"
}

// LimitByName returns the limit whose JSON name is s.
func LimitByName(s string) (Limit, bool) {
	for i, n := range limitNames {
		if n == s {
			return Limit(i), true
		}
	}
	return 0, false
}

// Unlimited is what Limits.Get returns for a limit that is not set.
const Unlimited int64 = -1

// Limits is one tenant's limits document: a value per Limit, each either a
// non-negative number (0 = none allowed) or Unlimited. The zero value has no
// limit set. A Limits is a value: With returns a modified copy.
//
// In JSON it is an object whose keys are the set limits' names; an absent
// key (or null) means unlimited; negative, fractional, non-numeric values and
// unknown keys are refused.
type Limits struct {
	p      [NumLimits]int64 // value+1; 0 = unlimited (so the zero value is "no limits")
	closed bool             // the tenant was deleted: everything is refused
}

// Get returns the value of limit l, or Unlimited.
func (l *Limits) Get(id Limit) int64 { return l.p[id] - 1 }

// IsSet reports whether limit id has a value.
func (l *Limits) IsSet(id Limit) bool { return l.p[id] != 0 }

// With returns a copy of l with limit id set to v; a negative v unsets it.
// Values above MaxLimit are clamped to it.
func (l Limits) With(id Limit, v int64) Limits {
	switch {
	case v < 0:
		l.p[id] = 0
	case v > MaxLimit:
		l.p[id] = MaxLimit + 1
	default:
		l.p[id] = v + 1
	}
	return l
}

// MaxLimit is the largest value a limit may have.
const MaxLimit int64 = 1<<62 - 1

// Burst returns the effective bucket size of ProduceRate in jobs: the
// ProduceBurst limit when set, else one second of ProduceRate (Unlimited when
// the rate is).
func (l *Limits) Burst() int64 {
	if l.p[ProduceBurst] != 0 {
		return l.p[ProduceBurst] - 1
	}
	return l.p[ProduceRate] - 1
}

// Equal reports whether l and o set the same limits to the same values.
func (l *Limits) Equal(o *Limits) bool { return l.p == o.p }

// Set returns the set limits with their values, in Limit order.
func (l *Limits) Set() map[string]int64 {
	m := make(map[string]int64)
	for i := range NumLimits {
		if l.p[i] != 0 {
			m[limitNames[i]] = l.p[i] - 1
		}
	}
	return m
}

// MarshalJSON writes the set limits in Limit order.
func (l Limits) MarshalJSON() ([]byte, error) {
	b := append(make([]byte, 0, 64), '{')
	first := true
	for i := range NumLimits {
		if l.p[i] == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, limitNames[i]...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, l.p[i]-1, 10)
	}
	return append(b, '}'), nil
}

// ErrInvalidLimits wraps every error about a limits document.
var ErrInvalidLimits = errors.New("invalid limits")

// UnmarshalJSON parses a limits object strictly (see Limits). It replaces
// l whole: limits absent from the document are unlimited.
func (l *Limits) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		return fmt.Errorf("%w: limits must be an object, not null", ErrInvalidLimits)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%w: limits must be an object of integers", ErrInvalidLimits)
	}
	var n Limits
	for k, raw := range m {
		id, ok := LimitByName(k)
		if !ok {
			return fmt.Errorf("%w: unknown limit %q", ErrInvalidLimits, k)
		}
		raw = bytes.TrimSpace(raw)
		if bytes.Equal(raw, []byte("null")) {
			continue
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %s must be an integer, got %s", ErrInvalidLimits, k, truncate(string(raw), 32))
		}
		if v < 0 {
			return fmt.Errorf("%w: %s must not be negative (omit it for unlimited)", ErrInvalidLimits, k)
		}
		if v > MaxLimit {
			return fmt.Errorf("%w: %s is above the maximum %d", ErrInvalidLimits, k, MaxLimit)
		}
		n.p[id] = v + 1
	}
	*l = n
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
