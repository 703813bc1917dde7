package job

import (
	"reflect"
	"testing"
	"unsafe"
)

func TestStateNames(t *testing.T) {
	f := func(s State, want string) {
		t.Helper()
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q; want %q", s, got, want)
		}
	}
	f(Free, "free")
	f(WaitRepl, "wait-repl")
	f(Active, "active")
	f(Queued, "queued")
	f(Acked, "acked")
	f(numStates, "invalid")
	f(255, "invalid")

	p := func(in string, want State, wantOK bool) {
		t.Helper()
		if got, ok := ParseState([]byte(in)); got != want || ok != wantOK {
			t.Errorf("ParseState(%q) = %v, %v; want %v, %v", in, got, ok, want, wantOK)
		}
	}
	p("wait-repl", WaitRepl, true)
	p("active", Active, true)
	p("queued", Queued, true)
	p("acked", Acked, true)
	p("QUEUED", Queued, true)
	p("Wait-Repl", WaitRepl, true)
	p("free", Free, false) // not a Disque state: JSCAN cannot ask for it
	p("", Free, false)
	p("queue", Free, false)
	p("queued ", Free, false)
	p("invalid", Free, false)
	p("acked\x00", Free, false)

	for k := EventKind(0); k < numEvents; k++ {
		if k.String() == "" || k.String() == "invalid" {
			t.Errorf("EventKind(%d) has no name", k)
		}
	}
	if got := numEvents.String(); got != "invalid" {
		t.Errorf("numEvents.String() = %q; want \"invalid\"", got)
	}
}

func TestJobAccessors(t *testing.T) {
	j := Job{CTime: 1_451_750_000_123_000_002, Retry: 300}
	if got := j.CreatedAt(); got != 1_451_750_000_123 {
		t.Errorf("CreatedAt() = %d; want 1451750000123", got)
	}
	if got := j.RetryMillis(); got != 300_000 {
		t.Errorf("RetryMillis() = %d; want 300000", got)
	}
	if j.AtMostOnce() {
		t.Errorf("AtMostOnce() with RETRY 300 = true; want false")
	}
	j.Retry = 0
	if !j.AtMostOnce() || j.RetryMillis() != 0 {
		t.Errorf("RETRY 0: AtMostOnce() = %v, RetryMillis() = %d; want true, 0", j.AtMostOnce(), j.RetryMillis())
	}
	j.Retry = 1<<32 - 1 // no overflow in milliseconds
	if got := j.RetryMillis(); got != (1<<32-1)*1000 {
		t.Errorf("RetryMillis() with RETRY 2^32-1 = %d; want %d", got, Millis(1<<32-1)*1000)
	}
}

// TestAwake: the timer of an active job fires at its requeue time when that
// comes before the expiry; every other state (queued included: its clock
// rolls over lazily) only needs the expiry.
func TestAwake(t *testing.T) {
	f := func(j Job, want Millis) {
		t.Helper()
		if got := j.Awake(); got != want {
			t.Errorf("%v job, qtime %d, expire %d: Awake() = %d; want %d", j.State, j.QTime, j.Expire, got, want)
		}
	}
	exp := t0 + ttlMs
	f(mk(Active, 10, 0, dl, n), n)
	f(mk(Active, 10, 0, dl, exp-1), exp-1)
	f(mk(Active, 10, 0, dl, exp), exp)
	f(mk(Active, 10, 0, dl, exp+1), exp)
	f(mk(Active, 0, 0, dl|qo, 0), exp)
	f(mk(Queued, 10, 0, qo|cr, n), exp)
	f(mk(WaitRepl, 10, 0, 0, 0), exp)
	f(mk(Acked, 10, 0, 0, 0), exp)
	f(dummy(), exp)
}

func TestNextRequeue(t *testing.T) {
	f := func(j Job, now, want Millis) {
		t.Helper()
		if got := j.NextRequeue(now); got != want {
			t.Errorf("%v job, qtime %d, retry %d: NextRequeue(%d) = %d; want %d", j.State, j.QTime, j.Retry, now, got, want)
		}
	}
	f(mk(Active, 10, 0, dl, n+500), n, n+500)
	f(mk(Active, 10, 0, dl, n-500), n, n-500) // overdue, not rolled: the timer requeues it
	f(mk(Active, 0, 0, dl, 0), n, 0)
	f(mk(Acked, 10, 0, 0, 0), n, 0)
	f(mk(Queued, 0, 0, qo|cr, 0), n, 0)
	f(mk(Queued, 10, 0, qo|cr, n+500), n, n+500)
	f(mk(Queued, 10, 0, qo|cr, n), n, n+10_000)
	f(mk(Queued, 10, 0, qo|cr, n-1), n, n+9_999)
	f(mk(Queued, 10, 0, qo|cr, n-10_000), n, n+10_000)
	f(mk(Queued, 10, 0, qo|cr, n-10_001), n, n+9_999)
	f(mk(Queued, 1, 0, qo|cr, n-3_600_000), n, n+1_000)
}

func TestRollQTime(t *testing.T) {
	f := func(q, retry, now, want Millis) {
		t.Helper()
		if got := rollQTime(q, retry, now); got != want {
			t.Errorf("rollQTime(%d, %d, %d) = %d; want %d", q, retry, now, got, want)
		}
	}
	f(100, 10, 99, 100) // not passed yet
	f(100, 10, 100, 110)
	f(100, 10, 105, 110)
	f(100, 10, 109, 110)
	f(100, 10, 110, 120)
	f(100, 10, 1000, 1010)
	f(0, 0, 1000, 0) // never stays never
	f(100, 0, 1000, 100)
	f(100, -1, 1000, 100)
	// Against a step-by-step model of Disque's timer: while the requeue time
	// has passed, move it by one RETRY.
	for q := Millis(0); q < 50; q++ {
		for now := Millis(0); now < 100; now++ {
			want := q
			for want <= now {
				want += 7
			}
			if got := rollQTime(q, 7, now); got != want {
				t.Fatalf("rollQTime(%d, 7, %d) = %d; want %d", q, now, got, want)
			}
		}
	}
}

// TestJobLayout guards the two promises of the Job comment: no pointers (a
// slab of records costs the GC nothing to scan) and fields ordered so the
// struct has no padding holes.
func TestJobLayout(t *testing.T) {
	typ := reflect.TypeFor[Job]()
	var sum uintptr
	for i := 0; i < typ.NumField(); i++ {
		fld := typ.Field(i)
		if hasPointers(fld.Type) {
			t.Errorf("Job.%s (%v) holds pointers", fld.Name, fld.Type)
		}
		sum += fld.Type.Size()
	}
	size := unsafe.Sizeof(Job{})
	if padded := (sum + 7) &^ 7; size != padded {
		t.Errorf("unsafe.Sizeof(Job{}) = %d; want %d (fields total %d bytes: reorder them to close the padding)", size, padded, sum)
	}
	t.Logf("Job is %d bytes", size)
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Slice, reflect.String,
		reflect.Chan, reflect.Func, reflect.Interface:
		return true
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
