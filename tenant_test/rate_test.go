package tenant_test

import (
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// TestProduceRateLoopback: a produce_rate of 1,000 jobs/s admits 900 to
// 1,100 jobs/s over 3 seconds, counted on the wire (+ID against
// -RATELIMIT) by a client asking much faster than that. The burst (one
// second of the rate) is spent first, so that the window measures the
// rate. Not parallel: it measures time.
func TestProduceRateLoopback(t *testing.T) {
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"produce_rate": 1000})
	c := e.dial("alpha", "pa")
	const depth = 32
	cmds := make([][]string, depth)
	for i := range cmds {
		cmds[i] = []string{"ADDJOB", "rq", "x", "0", "TTL", "30"}
	}
	count := func(rs []resp.Reply) (ok, limited int) {
		for _, r := range rs {
			switch {
			case r.Kind == resp.KindSimple && testclient.IsJobID(string(r.Str)):
				ok++
			case rateLimitRE.MatchString(r.String()):
				limited++
			default:
				t.Fatalf("ADDJOB: %s", r)
			}
		}
		return
	}
	// Spend the burst.
	burst := 0
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, limited := count(c.Pipeline(cmds...))
		burst += ok
		if limited > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no RATELIMIT after %d jobs", burst)
		}
	}
	start := time.Now()
	admitted, refused, batches := 0, 0, 0
	var end time.Time
	for {
		ok, limited := count(c.Pipeline(cmds...))
		end = time.Now()
		admitted += ok
		refused += limited
		batches++
		if end.Sub(start) >= 3*time.Second {
			break
		}
	}
	el := end.Sub(start)
	rate := float64(admitted) / el.Seconds()
	t.Logf("burst %d; then %d admitted, %d rate limited in %v (%d batches of %d): %.0f jobs/s",
		burst, admitted, refused, el.Round(time.Millisecond), batches, depth, rate)
	if rate < 900 || rate > 1100 {
		t.Errorf("produce_rate 1000: admitted %.0f jobs/s over %v; want 900-1100", rate, el)
	}
	if asked := float64(admitted+refused) / el.Seconds(); asked < 2000 {
		t.Errorf("the client asked only %.0f/s: too slow to measure a 1000/s limit", asked)
	}
	if burst < 900 || burst > 1500 {
		t.Errorf("burst: %d admitted before the first RATELIMIT; want about 1000", burst)
	}
}
