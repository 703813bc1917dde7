package tenant

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestLimitNames(t *testing.T) {
	for l := range NumLimits {
		got, ok := LimitByName(l.String())
		if !ok || got != l {
			t.Fatalf("LimitByName(%q) = %v, %v", l.String(), got, ok)
		}
	}
	if _, ok := LimitByName("max_job"); ok {
		t.Fatal("unknown name accepted")
	}
}

func TestLimitsZeroValueIsUnlimited(t *testing.T) {
	var l Limits
	for id := range NumLimits {
		if l.Get(id) != Unlimited || l.IsSet(id) {
			t.Fatalf("%v = %d", id, l.Get(id))
		}
	}
	if l.Burst() != Unlimited {
		t.Fatal("burst of unlimited rate")
	}
	l2 := l.With(MaxJobs, 0).With(ProduceRate, 100)
	if l2.Get(MaxJobs) != 0 || !l2.IsSet(MaxJobs) || l2.Get(ProduceRate) != 100 || l.IsSet(MaxJobs) {
		t.Fatalf("With: %+v (original %+v)", l2.Set(), l.Set())
	}
	if l2.Burst() != 100 {
		t.Fatalf("default burst = %d, want one second of the rate", l2.Burst())
	}
	if l3 := l2.With(ProduceBurst, 7); l3.Burst() != 7 {
		t.Fatalf("burst = %d", l3.Burst())
	}
	if l4 := l2.With(MaxJobs, -5); l4.IsSet(MaxJobs) {
		t.Fatal("negative With does not unset")
	}
}

func TestLimitsJSON(t *testing.T) {
	in := `{"max_jobs": 10, "produce_rate": 0, "consume_rate": null, "max_blocked_clients": 4611686018427387903}`
	var l Limits
	noErr(t, json.Unmarshal([]byte(in), &l))
	if l.Get(MaxJobs) != 10 || l.Get(ProduceRate) != 0 || l.IsSet(ConsumeRate) || l.Get(MaxBlockedClients) != MaxLimit {
		t.Fatalf("parsed %v", l.Set())
	}
	out, err := json.Marshal(l)
	noErr(t, err)
	if string(out) != `{"max_jobs":10,"produce_rate":0,"max_blocked_clients":4611686018427387903}` {
		t.Fatalf("marshal: %s", out)
	}
	var empty Limits
	out, _ = json.Marshal(empty)
	if string(out) != `{}` {
		t.Fatalf("marshal empty: %s", out)
	}
	// Unmarshal replaces whole.
	l = lim(MaxQueues, 3)
	noErr(t, json.Unmarshal([]byte(`{"max_jobs":1}`), &l))
	if l.IsSet(MaxQueues) || l.Get(MaxJobs) != 1 {
		t.Fatalf("not replaced whole: %v", l.Set())
	}
	for _, bad := range []string{
		`{"max_jobs": -1}`, `{"max_jobs": 1.5}`, `{"max_jobs": "10"}`, `{"max_jobs": 1e3}`,
		`{"max_job": 1}`, `{"MAX_JOBS": 1}`, `[1]`, `null`, `{"max_jobs": true}`,
		`{"max_jobs": 4611686018427387904}`, `{"max_jobs": 99999999999999999999}`, `{"max_jobs": {}}`,
	} {
		before := lim(MaxJobs, 5)
		l := before
		err := json.Unmarshal([]byte(bad), &l)
		if err == nil {
			t.Errorf("%s accepted: %v", bad, l.Set())
			continue
		}
		if !errors.Is(err, ErrInvalidLimits) && !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: error %v", bad, err)
		}
		if !l.Equal(&before) {
			t.Errorf("%s: changed the limits on error", bad)
		}
	}
}
