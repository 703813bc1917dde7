package bench

import (
	"math"
	"sort"
	"testing"
)

// The connections of an open-loop run together send rate commands per
// second, evenly spaced.
func TestScheduleAggregateRateAndSpacing(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		n    int
	}{{1000, 1}, {1000, 7}, {20000, 25}, {333, 50}, {1e6, 3}} {
		const window = int64(1e9) // one second
		var times []int64
		for i := range tc.n {
			s := NewSchedule(tc.rate, tc.n, i)
			for {
				at := s.Advance()
				if at >= window {
					break
				}
				times = append(times, at)
			}
		}
		want := tc.rate // sends in one second
		if got := float64(len(times)); math.Abs(got-want) > float64(tc.n) {
			t.Errorf("rate %v over %d conns: %v sends in 1 s, want %v (+-%d)", tc.rate, tc.n, got, want, tc.n)
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		gap := 1e9 / tc.rate
		for i := 1; i < len(times); i++ {
			if d := float64(times[i] - times[i-1]); math.Abs(d-gap) > 2 {
				t.Fatalf("rate %v over %d conns: gap %v ns between sends %d and %d, want %v", tc.rate, tc.n, d, i-1, i, gap)
			}
		}
	}
}

// Intended times come from k, not from a running sum: no drift.
func TestScheduleNoDrift(t *testing.T) {
	s := NewSchedule(3, 1, 0) // 333333333.33 ns
	k := int64(3 * 3600 * 24) // a day of sends
	if got, want := s.At(k), int64(24*3600*1e9); got != want {
		t.Fatalf("At(%d) = %d, want %d", k, got, want)
	}
	s2 := NewSchedule(1000, 4, 3)
	if s2.Phase != 3e6 || s2.Interval != 4e6 {
		t.Fatalf("phase %v interval %v, want 3e6 and 4e6", s2.Phase, s2.Interval)
	}
}

func TestScheduleDue(t *testing.T) {
	s := NewSchedule(1000, 2, 1) // interval 2 ms, phase 1 ms: sends at 1, 3, 5 ... ms
	ms := int64(1e6)
	for _, tc := range []struct {
		now  int64
		want int64
	}{{0, 0}, {ms - 1, 0}, {ms, 1}, {3*ms - 1, 1}, {3 * ms, 2}, {10 * ms, 5}} {
		if got := s.Due(tc.now); got != tc.want {
			t.Errorf("Due(%d) = %d, want %d", tc.now, got, tc.want)
		}
	}
	s.Advance()
	s.Advance()
	if got := s.Due(3 * ms); got != 0 {
		t.Errorf("after two sends, Due(3ms) = %d, want 0", got)
	}
	if got := s.Due(10 * ms); got != 3 {
		t.Errorf("after two sends, Due(10ms) = %d, want 3", got)
	}
	if s.Next() != 5*ms {
		t.Errorf("Next = %d, want %d", s.Next(), 5*ms)
	}
	// Every send up to now, and only those, is due: Due agrees with At.
	s = NewSchedule(777, 3, 2)
	for now := int64(0); now < 50*ms; now += 123457 {
		due := s.Due(now)
		if due > 0 && s.At(s.K+due-1) > now {
			t.Fatalf("Due(%d) = %d but send %d is at %d", now, due, s.K+due-1, s.At(s.K+due-1))
		}
		if s.At(s.K+due) <= now {
			t.Fatalf("Due(%d) = %d misses send %d at %d", now, due, s.K+due, s.At(s.K+due))
		}
		if due > 0 {
			s.Advance()
		}
	}
}
