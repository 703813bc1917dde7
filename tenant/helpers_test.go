package tenant

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock for Options.Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newReg returns a Registry without persistence on a fake clock.
func newReg(t testing.TB) (*Registry, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	r, err := New(Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func ptr[T any](v T) *T { return &v }

// mustPut creates or replaces a tenant with password "pw-<name>".
func mustPut(t testing.TB, r *Registry, name string, l Limits) *Tenant {
	t.Helper()
	var pw *string
	if name != DefaultName {
		pw = ptr("pw-" + name)
	}
	tn, _, err := r.Put(name, pw, &l)
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	return tn
}

func lim(kv ...any) Limits {
	var l Limits
	for i := 0; i < len(kv); i += 2 {
		l = l.With(kv[i].(Limit), int64(kv[i+1].(int)))
	}
	return l
}

func wantErr(t testing.TB, err error, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", text)
	}
	if err.Error() != text {
		t.Fatalf("got error %q, want %q", err.Error(), text)
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// newRequestSafe is httptest.NewRequest without its panic on a bad target.
func newRequestSafe(method, target, body string) (r *http.Request, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r = httptest.NewRequest(method, target, rd)
	r.RemoteAddr = "127.0.0.1:1"
	return r, nil
}
