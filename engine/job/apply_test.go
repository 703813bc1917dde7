package job

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Fixture times. Every fixture job is created at t0 with a 100 s TTL.
const (
	t0    Millis = 1_700_000_000_000 // creation time (unix ms)
	ttlMs Millis = 100_000           // lifetime: Expire = t0 + ttlMs
	n     Millis = t0 + 1_000        // the usual "now" of a table row
	jit   Millis = -123              // the fixed requeue jitter of every event
)

// Flag shorthands for the tables.
const (
	dl = FlagDelivered
	cr = FlagCountRequeue
	qo = FlagQueuedOnce
	dm = FlagDummy
	wq = FlagWillQueue
	ex = FlagExternal
)

var specID, _ = ParseID([]byte("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1"))

// mk returns a job created at t0 (TTL 100 s) in state s, with the given
// RETRY and DELAY (seconds), flags and requeue time. Every other field holds
// a distinct non-zero value (see fillBystanders), so the whole-struct
// comparisons of the tests catch a stray write.
func mk(s State, retry, delay uint32, flags Flags, qtime Millis) Job {
	j := Job{
		ID:     specID,
		CTime:  uint64(t0)*1_000_000 + 7,
		QTime:  qtime,
		Expire: t0 + ttlMs,
		Delay:  delay,
		Retry:  retry,
		Nacks:  2,
		AddDel: 1,
		State:  s,
		Flags:  flags,
	}
	fillBystanders(&j)
	return j
}

// applyFields are the fields the tests set explicitly; Apply reads them and
// writes some of them.
var applyFields = map[string]bool{
	"ID": true, "CTime": true, "QTime": true, "Expire": true, "Delay": true, "Retry": true,
	"Nacks": true, "AddDel": true, "State": true, "Flags": true,
}

// fillBystanders sets every integer field that is not in applyFields (body
// reference, queue, tenant, shard bookkeeping...) to a distinct non-zero
// value. It uses reflection so that fields added to Job later are covered
// without editing the tests.
func fillBystanders(j *Job) {
	v := reflect.ValueOf(j).Elem()
	for i := 0; i < v.NumField(); i++ {
		if applyFields[v.Type().Field(i).Name] {
			continue
		}
		switch fv := v.Field(i); fv.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			fv.SetUint(uint64(i + 3))
		case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
			fv.SetInt(int64(i + 3))
		}
	}
}

// dummy returns a dummy ACK record as the shard builds it for an unknown ID.
func dummy() Job {
	return Job{ID: specID, Expire: t0 + ttlMs, State: Acked, Flags: dm}
}

func ev(k EventKind) Event { return Event{Kind: k, Jitter: jit} }

// diffJob lists the fields that differ between got and want, one
// "Field: got X; want Y" per line.
func diffJob(got, want Job) string {
	var b strings.Builder
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "\n\t%s: got %v; want %v", gv.Type().Field(i).Name, fmtField(g), fmtField(w))
		}
	}
	return b.String()
}

func fmtField(v any) string {
	switch v := v.(type) {
	case Flags:
		return flagsString(v)
	case State:
		return v.String()
	}
	return fmt.Sprint(v)
}

// flagsString prints a flag set as the golden scripts do.
func flagsString(f Flags) string {
	names := [...]string{"delivered", "count-requeue", "queued-once", "dummy", "will-queue", "external"}
	if f == 0 {
		return "none"
	}
	var parts []string
	for i, name := range names {
		if f&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if rest := f >> len(names); rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint8(rest)<<len(names)))
	}
	return strings.Join(parts, "|")
}

type cell struct {
	s State
	k EventKind
}

// TestApplyTable checks Apply on every (state, event) pair, with the
// variants that change the outcome. Each row gives the input record, the
// event, now, the exact effect set, the exact error, and the edit that turns
// the input into the expected output record (nil: unchanged). The whole
// record is compared, so a row also asserts that nothing else was written.
func TestApplyTable(t *testing.T) {
	covered := map[cell]int{}
	f := func(name string, in Job, e Event, now Millis, wantEff Effect, wantErr error, edit func(w *Job)) {
		t.Helper()
		covered[cell{in.State, e.Kind}]++
		label := e.Kind.String()
		if e.Sync {
			label += "(sync)"
		}
		if e.PausedIn {
			label += "(paused-in)"
		}
		name = fmt.Sprintf("%s × %s: %s", in.State, label, name)
		want := in
		if edit != nil {
			if wantErr != nil {
				t.Fatalf("%s: bad row: an error row must not edit the job", name)
			}
			edit(&want)
		}
		got := in
		eff, err := got.Apply(e, now)
		if err != wantErr {
			t.Errorf("%s: err = %v; want %v", name, err, wantErr)
		}
		if eff != wantEff {
			t.Errorf("%s: effect = %v; want %v", name, eff, wantEff)
		}
		if err != nil && got != in {
			t.Errorf("%s: job changed although Apply failed:%s", name, diffJob(got, in))
		} else if got != want {
			t.Errorf("%s: job:%s", name, diffJob(got, want))
		}
	}
	// refuse checks that e does not apply to any of the jobs.
	refuse := func(e Event, err error, jobs ...Job) {
		t.Helper()
		for _, in := range jobs {
			f("refused", in, e, n, 0, err, nil)
		}
	}

	// Representatives of every state, for the rows where the event does not
	// apply.
	var (
		free     = mk(Free, 10, 0, 0, 0)
		waitRepl = mk(WaitRepl, 10, 0, 0, 0)
		active   = mk(Active, 10, 0, dl|qo|cr, n+5_000)
		queued   = mk(Queued, 10, 0, qo|cr, n+5_000)
		acked    = mk(Acked, 10, 0, dl|qo|cr, 0)
		queued0  = mk(Queued, 0, 0, qo|cr, 0) // at-most-once, queued once
	)

	// EvAdd: only a free record can be created.
	f("immediate", mk(Free, 10, 0, 0, 0), ev(EvAdd), n, EffEnqueue|EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, qo|cr
	})
	f("immediate keeps unrelated flags", mk(Free, 10, 0, ex|wq, 0), ev(EvAdd), n, EffEnqueue|EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, ex|wq|qo|cr
	})
	f("immediate at-most-once: qtime never", mk(Free, 0, 0, 0, 0), ev(EvAdd), n, EffEnqueue|EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, 0, qo|cr
	})
	f("delayed: queue at creation+DELAY, not now+DELAY", mk(Free, 10, 5, 0, 0), ev(EvAdd), t0+300, EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime = Active, t0+5_000
	})
	f("delayed at-most-once", mk(Free, 0, 5, 0, 0), ev(EvAdd), t0+300, EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime = Active, t0+5_000
	})
	addSync := Event{Kind: EvAdd, Sync: true, Jitter: jit}
	f("wait for replication", mk(Free, 10, 0, 0, 0), addSync, n, EffSchedule, nil, func(w *Job) { w.State = WaitRepl })
	f("wait for replication, delayed", mk(Free, 10, 5, 0, 0), addSync, n, EffSchedule, nil, func(w *Job) { w.State = WaitRepl })
	f("wait for replication, at-most-once", mk(Free, 0, 0, 0, 0), addSync, n, EffSchedule, nil, func(w *Job) { w.State = WaitRepl })
	refuse(ev(EvAdd), ErrState, waitRepl, active, queued, acked, dummy())
	refuse(addSync, ErrState, waitRepl, active, queued, acked, dummy())

	// EvReplicated: the ADDJOB client gets its reply; first queueing.
	f("queued", mk(WaitRepl, 10, 0, 0, 0), ev(EvReplicated), n, EffEnqueue|EffSchedule|EffLogAdd|EffReplyAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, qo|cr
	})
	f("queued at-most-once", mk(WaitRepl, 0, 0, 0, 0), ev(EvReplicated), n, EffEnqueue|EffSchedule|EffLogAdd|EffReplyAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, 0, qo|cr
	})
	f("delayed", mk(WaitRepl, 10, 5, 0, 0), ev(EvReplicated), n, EffSchedule|EffLogAdd|EffReplyAdd, nil, func(w *Job) {
		w.State, w.QTime = Active, t0+5_000
	})
	f("delayed, replicated after the delay", mk(WaitRepl, 10, 5, 0, 0), ev(EvReplicated), t0+7_000, EffSchedule|EffLogAdd|EffReplyAdd, nil, func(w *Job) {
		w.State, w.QTime = Active, t0+5_000
	})
	refuse(ev(EvReplicated), ErrState, free, active, queued, acked, dummy())

	// EvReplica: a copy from the creator; qtime = now + DELAY + RETRY + jitter.
	f("copy", mk(Free, 10, 0, 0, 0), ev(EvReplica), n, EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Active, n+10_000+jit, cr
	})
	f("delayed copy", mk(Free, 10, 5, 0, 0), ev(EvReplica), n, EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Active, n+15_000+jit, cr
	})
	f("at-most-once copy waits for a queue request", mk(Free, 0, 5, 0, 0), ev(EvReplica), n, EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Active, 0, cr
	})
	refuse(ev(EvReplica), ErrState, waitRepl, active, queued, acked, dummy())

	// EvImport: queued at once, the queueing is not counted.
	f("new import", mk(Free, 10, 0, 0, 0), ev(EvImport), n, EffEnqueue|EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, qo|cr
	})
	f("new import with stale flags", mk(Free, 10, 5, cr|qo|ex, 0), ev(EvImport), n, EffEnqueue|EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, ex|qo|cr
	})
	f("new at-most-once import", mk(Free, 0, 0, 0, 0), ev(EvImport), n, EffEnqueue|EffSchedule|EffLogAdd, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, 0, qo|cr
	})
	f("held replica: not counted although count-requeue", mk(Active, 10, 0, cr, n+9_000), ev(EvImport), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, qo|cr
	})
	f("held, delivered", mk(Active, 10, 0, dl|qo|cr, n+9_000), ev(EvImport), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, dl|qo|cr
	})
	f("held at-most-once", mk(Active, 0, 0, cr, 0), ev(EvImport), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, 0, qo|cr
	})
	refuse(ev(EvImport), ErrState, waitRepl, queued, acked, dummy())

	// EvQueueRequest: first queueing asked by the creator (external
	// replication); clears count-requeue so it is not counted.
	f("queue now", mk(Active, 10, 0, cr, n+9_000), ev(EvQueueRequest), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, qo|cr
	})
	f("delayed: queue after DELAY from the request", mk(Active, 10, 5, cr, n+14_000), ev(EvQueueRequest), n, EffSchedule, nil, func(w *Job) {
		w.QTime, w.Flags = n+5_000, 0
	})
	f("at-most-once", mk(Active, 0, 0, cr, 0), ev(EvQueueRequest), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, 0, qo|cr
	})
	f("delayed at-most-once", mk(Active, 0, 5, cr, 0), ev(EvQueueRequest), n, EffSchedule, nil, func(w *Job) {
		w.QTime, w.Flags = n+5_000, 0
	})
	f("at-least-once queued before", mk(Active, 10, 0, dl|qo|cr, n+9_000), ev(EvQueueRequest), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, dl|qo|cr
	})
	refuse(ev(EvQueueRequest), ErrState, mk(Active, 0, 0, dl|qo|cr, 0)) // at-most-once, queued once
	refuse(ev(EvQueueRequest), ErrState, free, waitRepl, queued, acked, dummy())

	// EvDummyAck: ACKJOB of an unknown at-least-once ID.
	f("dummy ack", Job{ID: specID, Expire: t0 + ttlMs}, ev(EvDummyAck), n, EffSchedule|EffGC, nil, func(w *Job) {
		w.State, w.Flags = Acked, dm
	})
	f("dummy ack resets stale flags and qtime", mk(Free, 10, 0, dl|qo|cr, n+9_000), ev(EvDummyAck), n, EffSchedule|EffGC, nil, func(w *Job) {
		w.State, w.Flags, w.QTime = Acked, dm, 0
	})
	refuse(ev(EvDummyAck), ErrState, waitRepl, active, queued, acked, dummy())

	// EvDeliver / EvDequeue: leave the queue; the requeue clock is not
	// restarted, only rolled over by whole RETRY periods if it passed.
	for _, k := range []EventKind{EvDeliver, EvDequeue} {
		var d Flags
		if k == EvDeliver {
			d = dl
		}
		f("clock kept", mk(Queued, 10, 0, qo|cr, n+4_000), ev(k), n, EffDequeue|EffSchedule, nil, func(w *Job) {
			w.State, w.Flags = Active, qo|cr|d
		})
		f("clock kept, one ms before roll-over", mk(Queued, 10, 0, qo|cr, n+1), ev(k), n, EffDequeue|EffSchedule, nil, func(w *Job) {
			w.State, w.Flags = Active, qo|cr|d
		})
		f("clock rolled over once at qtime", mk(Queued, 10, 0, qo|cr, n), ev(k), n, EffDequeue|EffSchedule, nil, func(w *Job) {
			w.State, w.QTime, w.Flags = Active, n+10_000, qo|cr|d
		})
		f("clock rolled over 3 periods", mk(Queued, 10, 0, qo|cr, n-25_000), ev(k), n, EffDequeue|EffSchedule, nil, func(w *Job) {
			w.State, w.QTime, w.Flags = Active, n+5_000, qo|cr|d
		})
		f("at-most-once: never requeued", mk(Queued, 0, 0, qo|cr, 0), ev(k), n, EffDequeue|EffSchedule, nil, func(w *Job) {
			w.State, w.Flags = Active, qo|cr|d
		})
		f("already delivered", mk(Queued, 10, 0, dl|qo|cr, n+4_000), ev(k), n, EffDequeue|EffSchedule, nil, func(w *Job) {
			w.State = Active
		})
		refuse(ev(k), ErrState, free, waitRepl, active, acked, dummy())
	}

	// EvNack / EvEnqueue: queue an active job now.
	f("counts a nack", mk(Active, 10, 0, dl|qo|cr, n+4_000), ev(EvNack), n, EffCountNack|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Nacks = Queued, n+10_000+jit, 3
	})
	f("counts a nack, never a delivery", mk(Active, 10, 5, 0, t0+5_000), ev(EvNack), n, EffCountNack|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Nacks, w.Flags = Queued, n+10_000+jit, 3, qo|cr
	})
	f("nack counter wraps", with(mk(Active, 10, 0, dl|qo|cr, n+4_000), func(j *Job) { j.Nacks = 65535 }), ev(EvNack), n, EffCountNack|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Nacks = Queued, n+10_000+jit, 0
	})
	f("at-most-once before its first queueing", mk(Active, 0, 5, 0, t0+5_000), ev(EvNack), n, EffCountNack|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Nacks, w.Flags = Queued, 0, 3, qo|cr
	})
	refuse(ev(EvNack), ErrAtMostOnce, mk(Active, 0, 0, dl|qo|cr, 0))
	refuse(ev(EvNack), ErrState, free, waitRepl, queued, queued0, acked, dummy())

	f("count-requeue: counts a delivery", mk(Active, 10, 0, dl|qo|cr, n+4_000), ev(EvEnqueue), n, EffCountDelivery|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.AddDel = Queued, n+10_000+jit, 2
	})
	f("replica's first queueing counts", mk(Active, 10, 0, cr, n+4_000), ev(EvEnqueue), n, EffCountDelivery|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.AddDel, w.Flags = Queued, n+10_000+jit, 2, qo|cr
	})
	f("creator's first queueing does not count", mk(Active, 10, 5, 0, t0+5_000), ev(EvEnqueue), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, n+10_000+jit, qo|cr
	})
	f("additional-deliveries wraps", with(mk(Active, 10, 0, qo|cr, n+4_000), func(j *Job) { j.AddDel = 65535 }), ev(EvEnqueue), n, EffCountDelivery|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.AddDel = Queued, n+10_000+jit, 0
	})
	f("at-most-once before its first queueing", mk(Active, 0, 5, 0, t0+5_000), ev(EvEnqueue), n, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, 0, qo|cr
	})
	refuse(ev(EvEnqueue), ErrAtMostOnce, mk(Active, 0, 0, dl|qo|cr, 0))
	refuse(ev(EvEnqueue), ErrState, free, waitRepl, queued, queued0, acked, dummy())

	// EvWorking: postpone; refused after half the lifetime. The boundary
	// job lives 100 001 ms, so half is 50 000 ms (integer division): at
	// elapsed == 50 000 it is allowed, one ms later it is too late.
	odd := func(s State, fl Flags, q Millis) Job {
		return with(mk(s, 10, 0, fl, q), func(j *Job) { j.Expire = t0 + 100_001 })
	}
	f("postpone", mk(Active, 10, 0, dl|qo|cr, n+4_000), ev(EvWorking), n, EffSchedule|EffWorking, nil, func(w *Job) {
		w.QTime = n + 10_000 + jit
	})
	f("postpone at exactly half the lifetime", odd(Active, dl|qo|cr, n), ev(EvWorking), t0+50_000, EffSchedule|EffWorking, nil, func(w *Job) {
		w.QTime = t0 + 50_000 + 10_000 + jit
	})
	f("too late 1 ms after half the lifetime", odd(Active, dl|qo|cr, n), ev(EvWorking), t0+50_001, 0, ErrTooLate, nil)
	f("postpone a delayed job's first queueing by RETRY from now", mk(Active, 10, 50, 0, t0+50_000), ev(EvWorking), n, EffSchedule|EffWorking, nil, func(w *Job) {
		w.QTime = n + 10_000 + jit
	})
	f("at-most-once, delivered: qtime stays never", mk(Active, 0, 0, dl|qo|cr, 0), ev(EvWorking), n, EffSchedule|EffWorking, nil, nil)
	f("at-most-once, delayed, not queued yet: the first queueing is kept", mk(Active, 0, 5, 0, t0+5_000), ev(EvWorking), n, EffSchedule|EffWorking, nil, nil)
	f("at-most-once copy waiting for a queue request", mk(Active, 0, 0, cr, 0), ev(EvWorking), n, EffSchedule|EffWorking, nil, nil)
	f("dequeue and postpone", mk(Queued, 10, 0, qo|cr, n+4_000), ev(EvWorking), n, EffDequeue|EffSchedule|EffWorking, nil, func(w *Job) {
		w.State, w.QTime = Active, n+10_000+jit
	})
	f("dequeue at exactly half the lifetime", odd(Queued, qo|cr, n), ev(EvWorking), t0+50_000, EffDequeue|EffSchedule|EffWorking, nil, func(w *Job) {
		w.State, w.QTime = Active, t0+60_000+jit
	})
	f("at-most-once: out of the queue for good", mk(Queued, 0, 0, qo|cr, 0), ev(EvWorking), n, EffDequeue|EffSchedule|EffWorking, nil, func(w *Job) {
		w.State = Active
	})
	f("too late", odd(Queued, qo|cr, n), ev(EvWorking), t0+50_001, 0, ErrTooLate, nil)
	f("nothing to postpone", mk(WaitRepl, 10, 0, 0, 0), ev(EvWorking), n, 0, nil, nil)
	f("nothing to postpone at half the lifetime", odd(WaitRepl, 0, 0), ev(EvWorking), t0+50_000, 0, nil, nil)
	f("too late", odd(WaitRepl, 0, 0), ev(EvWorking), t0+50_001, 0, ErrTooLate, nil)
	f("acked: reply RETRY, nothing to postpone", acked, ev(EvWorking), n, 0, nil, nil)
	f("acked at half the lifetime", odd(Acked, dl, 0), ev(EvWorking), t0+50_000, 0, nil, nil)
	f("acked, too late", odd(Acked, dl, 0), ev(EvWorking), t0+50_001, 0, ErrTooLate, nil)
	f("dummy ack", dummy(), ev(EvWorking), n, 0, ErrAlreadyAcked, nil)
	f("dummy ack, whatever the time", dummy(), ev(EvWorking), t0-1, 0, ErrAlreadyAcked, nil)
	refuse(ev(EvWorking), ErrState, free)

	// EvAck: any state but acked goes to acked and starts GC.
	f("wait-repl: treated as replicated", mk(WaitRepl, 10, 0, 0, 0), ev(EvAck), n, EffReplyAdd|EffGC|EffSchedule, nil, func(w *Job) {
		w.State = Acked
	})
	f("active", mk(Active, 10, 0, dl|qo|cr, n+4_000), ev(EvAck), n, EffLogDel|EffGC|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime = Acked, 0
	})
	f("active at-most-once", mk(Active, 0, 0, dl|qo|cr, 0), ev(EvAck), n, EffLogDel|EffGC|EffSchedule, nil, func(w *Job) {
		w.State = Acked
	})
	f("queued", mk(Queued, 10, 0, qo|cr, n+4_000), ev(EvAck), n, EffDequeue|EffLogDel|EffGC|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime = Acked, 0
	})
	f("already acked: new GC attempt", acked, ev(EvAck), n, EffGC, ErrAlreadyAcked, nil)
	f("dummy ack", dummy(), ev(EvAck), n, EffGC, ErrAlreadyAcked, nil)
	refuse(ev(EvAck), ErrState, free)

	// EvDue: expiry first, then requeue of an active job.
	paused := Event{Kind: EvDue, PausedIn: true, Jitter: jit}
	exp := t0 + ttlMs
	for _, e := range []Event{ev(EvDue), paused} {
		f("expired: client told removed", mk(WaitRepl, 10, 0, 0, 0), e, exp, EffReplyAdd|EffFree|EffExpired, nil, func(w *Job) { w.State = Free })
		f("expired", mk(Active, 10, 0, dl|qo|cr, n), e, exp, EffLogDel|EffFree|EffExpired, nil, func(w *Job) { w.State = Free })
		f("expired late", mk(Active, 10, 0, dl|qo|cr, n), e, exp+5_000, EffLogDel|EffFree|EffExpired, nil, func(w *Job) { w.State = Free })
		f("expired", mk(Queued, 10, 0, qo|cr, n), e, exp, EffDequeue|EffLogDel|EffFree|EffExpired, nil, func(w *Job) { w.State = Free })
		f("expired", acked, e, exp, EffFree|EffExpired, nil, func(w *Job) { w.State = Free })
		f("expired", dummy(), e, exp, EffFree|EffExpired, nil, func(w *Job) { w.State = Free })
		f("not expired yet", mk(WaitRepl, 10, 0, 0, 0), e, exp-1, EffSchedule, nil, nil)
		f("queued: the clock rolls over lazily", mk(Queued, 10, 0, qo|cr, n-4_000), e, n, EffSchedule, nil, nil)
		f("acked, not expired", acked, e, exp-1, EffSchedule, nil, nil)
		f("dummy, not expired", dummy(), e, exp-1, EffSchedule, nil, nil)
		f("early timer", mk(Active, 10, 0, dl|qo|cr, n+1), e, n, EffSchedule, nil, nil)
		f("never requeued (at-most-once delivered)", mk(Active, 0, 0, dl|qo|cr, 0), e, n, EffSchedule, nil, nil)
		f("at-most-once copy waits for a queue request", mk(Active, 0, 0, cr, 0), e, n, EffSchedule, nil, nil)
		f("delayed at-most-once: queued even if paused", mk(Active, 0, 5, 0, t0+5_000), e, t0+5_000, EffEnqueue|EffSchedule, nil, func(w *Job) {
			w.State, w.QTime, w.Flags = Queued, 0, qo|cr
		})
		refuse(e, ErrState, free)
	}
	f("requeue counts a delivery", mk(Active, 10, 0, dl|qo|cr, n), ev(EvDue), n, EffCountDelivery|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.AddDel = Queued, n+10_000+jit, 2
	})
	f("late timer", mk(Active, 10, 0, dl|qo|cr, n-700), ev(EvDue), n, EffCountDelivery|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.AddDel = Queued, n+10_000+jit, 2
	})
	f("replica copy's requeue counts", mk(Active, 10, 0, cr, n), ev(EvDue), n, EffCountDelivery|EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.AddDel, w.Flags = Queued, n+10_000+jit, 2, qo|cr
	})
	f("end of DELAY: first queueing not counted", mk(Active, 10, 5, 0, t0+5_000), ev(EvDue), t0+5_000, EffEnqueue|EffSchedule, nil, func(w *Job) {
		w.State, w.QTime, w.Flags = Queued, t0+15_000+jit, qo|cr
	})
	f("requeue postponed by RETRY while paused in input", mk(Active, 10, 0, dl|qo|cr, n), paused, n, EffSchedule, nil, func(w *Job) {
		w.QTime = n + 10_000 + jit
	})
	f("late timer while paused: postponed from now, not from qtime", mk(Active, 10, 0, dl|qo|cr, n-700), paused, n, EffSchedule, nil, func(w *Job) {
		w.QTime = n + 10_000 + jit
	})
	f("end of DELAY postponed while paused in input", mk(Active, 10, 5, 0, t0+5_000), paused, t0+5_000, EffSchedule, nil, func(w *Job) {
		w.QTime = t0 + 15_000 + jit
	})
	f("replica requeue postponed while paused in input", mk(Active, 10, 0, cr, n), paused, n, EffSchedule, nil, func(w *Job) {
		w.QTime = n + 10_000 + jit
	})
	f("expiry wins over a due requeue", mk(Active, 10, 0, dl|qo|cr, exp-10), ev(EvDue), exp, EffLogDel|EffFree|EffExpired, nil, func(w *Job) {
		w.State = Free
	})

	// EvDelete: DELJOB, FASTACK, flush, GC completion.
	f("client told removed", mk(WaitRepl, 10, 0, 0, 0), ev(EvDelete), n, EffReplyAdd|EffFree, nil, func(w *Job) { w.State = Free })
	f("deleted", mk(Active, 10, 0, dl|qo|cr, n+4_000), ev(EvDelete), n, EffLogDel|EffFree, nil, func(w *Job) { w.State = Free })
	f("deleted", mk(Queued, 10, 0, qo|cr, n+4_000), ev(EvDelete), n, EffDequeue|EffLogDel|EffFree, nil, func(w *Job) { w.State = Free })
	f("GC complete", acked, ev(EvDelete), n, EffFree, nil, func(w *Job) { w.State = Free })
	f("dummy collected", dummy(), ev(EvDelete), n, EffFree, nil, func(w *Job) { w.State = Free })
	refuse(ev(EvDelete), ErrState, free)

	// Every (state, event) cell must have at least one row.
	for s := Free; s < numStates; s++ {
		for k := EventKind(0); k < numEvents; k++ {
			if covered[cell{s, k}] == 0 {
				t.Errorf("no row for state %v × event %v", s, k)
			}
		}
	}
	if len(eventNames) != int(numEvents) || len(stateNames) != int(numStates) {
		t.Errorf("name tables: got %d events, %d states; want %d, %d", len(eventNames), len(stateNames), numEvents, numStates)
	}
}

func with(j Job, edit func(*Job)) Job { edit(&j); return j }

// TestApplyInvalidEvent: an unknown event kind never applies.
func TestApplyInvalidEvent(t *testing.T) {
	for s := Free; s < numStates; s++ {
		for _, k := range []EventKind{numEvents, 200, 255} {
			in := mk(s, 10, 0, qo|cr, n)
			j := in
			eff, err := j.Apply(Event{Kind: k}, n)
			if eff != 0 || err != ErrState || j != in {
				t.Errorf("%v %v: got (%v, %v, changed=%v); want (none, %v, false)", s, k, eff, err, j != in, ErrState)
			}
		}
	}
}

func TestEffectString(t *testing.T) {
	f := func(e Effect, want string) {
		t.Helper()
		if got := e.String(); got != want {
			t.Errorf("Effect(%#x).String() = %q; want %q", uint16(e), got, want)
		}
	}
	f(0, "none")
	f(EffEnqueue, "enqueue")
	f(EffEnqueue|EffSchedule|EffLogAdd, "enqueue|schedule|log-add")
	f(EffExpired|EffFree|EffDequeue|EffLogDel, "dequeue|free|log-del|expired")
	f(EffExpired<<1, "0x1000")
	f(EffGC|1<<15, "gc|0x8000")
	all := Effect(0)
	for i := range effectNames {
		all |= 1 << i
	}
	if all != EffExpired<<1-1 {
		t.Errorf("effectNames has %d names; the last Effect bit is %v", len(effectNames), uint16(EffExpired))
	}
}

// TestApplyRandomWalk drives records through random event sequences and
// checks invariants that must hold whatever the sequence:
//   - a failing Apply leaves the record unchanged;
//   - the effects agree with the state change (EffEnqueue iff it entered the
//     queue, EffDequeue iff it left it, EffFree iff it was freed);
//   - acked is final (only free can follow);
//   - counters move only with their count effect, by one;
//   - identity and parameters are never written;
//   - an active at-least-once job always has a requeue time;
//   - an at-most-once job is queued at most once per record lifetime
//     (imports aside, which move the single copy).
func TestApplyRandomWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fresh := func(now Millis) Job {
		retries := []uint32{0, 1, 10}
		delays := []uint32{0, 0, 2}
		j := Job{
			ID:     specID,
			CTime:  uint64(now) * 1_000_000,
			Expire: now + Millis(5_000+rng.IntN(60_000)),
			Delay:  delays[rng.IntN(len(delays))],
			Retry:  retries[rng.IntN(len(retries))],
		}
		fillBystanders(&j)
		return j
	}
	now := t0
	j := fresh(now)
	queueings, imported := 0, false
	for step := 0; step < 200_000; step++ {
		now += Millis(rng.IntN(1_500))
		e := Event{
			Kind:     EventKind(rng.IntN(int(numEvents))),
			Sync:     rng.IntN(2) == 0,
			PausedIn: rng.IntN(4) == 0,
			Jitter:   Millis(rng.IntN(500) - 250),
		}
		if rng.IntN(3) == 0 {
			// Fire the timer when it is due, as the shard would.
			e.Kind = EvDue
			if a := j.Awake(); a > now {
				now = a
			}
		}
		before := j
		eff, err := j.Apply(e, now)
		where := fmt.Sprintf("step %d: %v on %v (retry %d delay %d flags %s)", step, e.Kind, before.State, before.Retry, before.Delay, flagsString(before.Flags))
		if err != nil {
			if j != before {
				t.Fatalf("%s: failed with %v but changed the job:%s", where, err, diffJob(j, before))
			}
			if !errors.Is(err, ErrState) && !errors.Is(err, ErrAtMostOnce) && !errors.Is(err, ErrTooLate) && !errors.Is(err, ErrAlreadyAcked) {
				t.Fatalf("%s: unexpected error %v", where, err)
			}
			continue
		}
		if j.State >= numStates {
			t.Fatalf("%s: state %d", where, j.State)
		}
		entered := j.State == Queued && before.State != Queued
		left := before.State == Queued && j.State != Queued
		freed := j.State == Free
		if (eff&EffEnqueue != 0) != entered || (eff&EffDequeue != 0) != left || (eff&EffFree != 0) != freed {
			t.Fatalf("%s: %v -> %v with effects %v", where, before.State, j.State, eff)
		}
		if before.State == Acked && j.State != Acked && j.State != Free {
			t.Fatalf("%s: acked -> %v", where, j.State)
		}
		if j.State == Queued && j.Flags&(qo|cr) != qo|cr {
			t.Fatalf("%s: queued with flags %s", where, flagsString(j.Flags))
		}
		wantN, wantD := before.Nacks, before.AddDel
		if eff&EffCountNack != 0 {
			wantN++
		}
		if eff&EffCountDelivery != 0 {
			wantD++
		}
		if j.Nacks != wantN || j.AddDel != wantD {
			t.Fatalf("%s: effects %v: counters got (%d, %d); want (%d, %d)", where, eff, j.Nacks, j.AddDel, wantN, wantD)
		}
		id := before
		id.State, id.QTime, id.Flags, id.Nacks, id.AddDel = j.State, j.QTime, j.Flags, j.Nacks, j.AddDel
		if id != j {
			t.Fatalf("%s: wrote identity or parameters:%s", where, diffJob(j, id))
		}
		if j.State == Active && j.Retry > 0 && j.QTime == 0 {
			t.Fatalf("%s: active at-least-once job with no requeue time", where)
		}
		if e.Kind == EvImport {
			imported = true
		}
		if entered {
			queueings++
			if j.Retry == 0 && queueings > 1 && !imported {
				t.Fatalf("%s: at-most-once job queued %d times", where, queueings)
			}
		}
		if freed {
			j = fresh(now)
			queueings, imported = 0, false
		}
	}
}
