package tenant

import (
	"errors"
	"strconv"
	"time"
)

// QuotaError is the refusal of a request over a hard limit. Its Error is the
// RESP error line without the leading '-':
//
//	QUOTA <limit> <usage before the request>/<max>
//
// For the per-request caps (max_body_bytes, max_replicate) the "usage" is
// the request's own value (the largest body, the REPLICATE asked for); for a
// rate set to 0 it is 0 ("QUOTA produce_rate 0/0": nothing is admitted, and
// retrying does not help).
type QuotaError struct {
	Limit Limit
	Used  int64
	Max   int64
}

func (e *QuotaError) Error() string { return string(e.AppendWire(make([]byte, 0, 48))) }

// AppendWire appends the error line (without '-' and CRLF) to dst.
func (e *QuotaError) AppendWire(dst []byte) []byte {
	dst = append(dst, "QUOTA "...)
	dst = append(dst, e.Limit.String()...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, e.Used, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, e.Max, 10)
}

// RateLimitError is the refusal of a produce over a rate. Its Error is
//
//	RATELIMIT retry in <N>ms
//
// with N the milliseconds (rounded up, at least 1) after which the same
// request would be admitted if nothing else consumed the bucket.
type RateLimitError struct {
	Limit Limit // ProduceRate or ProduceBytesRate
	Retry time.Duration
}

func (e *RateLimitError) Error() string { return string(e.AppendWire(make([]byte, 0, 32))) }

// RetryMillis returns the retry hint in whole milliseconds (at least 1).
func (e *RateLimitError) RetryMillis() int64 {
	ms := (int64(e.Retry) + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	return max(ms, 1)
}

// AppendWire appends the error line (without '-' and CRLF) to dst.
func (e *RateLimitError) AppendWire(dst []byte) []byte {
	dst = append(dst, "RATELIMIT retry in "...)
	dst = strconv.AppendInt(dst, e.RetryMillis(), 10)
	return append(dst, "ms"...)
}

// ErrWrongPass is Authenticate's refusal: the Redis 6 error line.
var ErrWrongPass = errors.New("WRONGPASS invalid username-password pair or user is disabled.")

// ErrTenantDeleted is returned by the admission checks of a tenant that was
// deleted while connections still used it: the client must authenticate
// again (the engine should close such connections; see Registry.Watch).
var ErrTenantDeleted = errors.New("NOAUTH tenant deleted, authenticate again")

// Registry and admin errors; test them with errors.Is.
var (
	ErrNotFound         = errors.New("not found")
	ErrInvalidName      = errors.New("invalid tenant name: it must match [a-z0-9_-]{1,64}")
	ErrDefaultTenant    = errors.New("not allowed on the default tenant")
	ErrPasswordRequired = errors.New("a password is required to create a tenant")
	ErrInvalidPassword  = errors.New("invalid password: it must be 1 to 512 bytes")
	ErrTooManyTenants   = errors.New("too many tenants")
	ErrUnavailable      = errors.New("unavailable")
	ErrInvalidArgument  = errors.New("invalid argument")
)
