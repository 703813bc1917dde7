package tenant_test

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
	"disq/tenant"
)

var rateLimitRE = regexp.MustCompile(`^-RATELIMIT retry in ([1-9][0-9]*)ms$`)

// retryMillis parses a -RATELIMIT line, failing on anything else.
func retryMillis(t testing.TB, got string) int64 {
	t.Helper()
	m := rateLimitRE.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("got %s; want -RATELIMIT retry in <N>ms", got)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func jobsBytes(jobs, bytes int64) func(u tenant.Usage) bool {
	return func(u tenant.Usage) bool { return u.Jobs == jobs && u.Bytes == bytes }
}

// TestQuotaMaxJobs: -QUOTA max_jobs <held>/<max>, given back exactly by
// ACKJOB (queued and active jobs), DELJOB, FASTACK, expiry and DEBUG
// FLUSHALL; live changes apply to the next ADDJOB.
func TestQuotaMaxJobs(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_jobs": 2})
	a := e.dial("alpha", "pa")
	d := e.dial("", "")
	rejections := 0
	full := func(held, max int) {
		t.Helper()
		a.Expect("-QUOTA max_jobs "+strconv.Itoa(held)+"/"+strconv.Itoa(max), "ADDJOB", "q", "body", "0")
		rejections++
	}

	id1 := addJob(t, a, "q", "body")
	id2 := addJob(t, a, "q", "body")
	full(2, 2)
	full(2, 2)
	e.waitUsage("alpha", time.Second, "2 jobs, 8 bytes", jobsBytes(2, 8))

	// ACKJOB of a queued job.
	a.Expect(":1", "ACKJOB", id1)
	e.waitUsage("alpha", 5*time.Second, "1 job after ACKJOB", jobsBytes(1, 4))
	id3 := addJob(t, a, "q", "body")
	full(2, 2)
	// ACKJOB of a delivered job.
	got := a.GetJobs("NOHANG", "FROM", "q")
	if len(got) != 1 || got[0].ID != id2 {
		t.Fatalf("GETJOB: %+v; want %s", got, id2)
	}
	a.Expect(":1", "ACKJOB", id2)
	e.waitUsage("alpha", 5*time.Second, "1 job after ACKJOB of an active job", jobsBytes(1, 4))
	id4 := addJob(t, a, "q", "body")
	full(2, 2)
	// DELJOB.
	a.Expect(":1", "DELJOB", id3)
	e.waitUsage("alpha", 5*time.Second, "1 job after DELJOB", jobsBytes(1, 4))
	id5 := addJob(t, a, "q", "body")
	full(2, 2)
	// FASTACK.
	a.Expect(":2", "FASTACK", id4, id5)
	e.waitUsage("alpha", 5*time.Second, "0 jobs after FASTACK", jobsBytes(0, 0))
	// NACK and ENQUEUE do not release (the job is still held).
	id6 := addJob(t, a, "q", "body")
	a.GetJobs("NOHANG", "FROM", "q")
	a.Expect(":1", "NACK", id6)
	addJob(t, a, "q", "body")
	full(2, 2)
	a.Expect(":2", append([]string{"DELJOB"}, scanAll(t, a, "JSCAN")...)...)

	// Expiry (TTL).
	addJob(t, a, "q", "body", "TTL", "1")
	addJob(t, a, "q", "body", "TTL", "1")
	full(2, 2)
	e.waitUsage("alpha", 10*time.Second, "0 jobs after the TTL", jobsBytes(0, 0))
	if u := e.usage("alpha"); u.Events["expired"] != 2 {
		t.Errorf("expired events: %d; want 2", u.Events["expired"])
	}
	addJob(t, a, "q", "body")
	addJob(t, a, "q", "body")
	full(2, 2)

	// DEBUG FLUSHALL (an operator's, from the default tenant).
	d.Expect("+OK", "DEBUG", "FLUSHALL")
	u := e.waitUsage("alpha", 5*time.Second, "0 jobs after DEBUG FLUSHALL", jobsBytes(0, 0))
	if u.Queues != 0 {
		t.Errorf("queues after DEBUG FLUSHALL: %d; want 0", u.Queues)
	}
	addJob(t, a, "q", "body")

	// Live changes.
	e.setLimits("alpha", limits{"max_jobs": 3})
	addJob(t, a, "q", "body")
	addJob(t, a, "q", "body")
	full(3, 3)
	e.setLimits("alpha", limits{"max_jobs": 1})
	full(3, 1)
	e.setLimits("alpha", limits{"max_jobs": 0})
	full(3, 0)
	e.setLimits("alpha", limits{})
	addJob(t, a, "q", "body")

	u = e.usage("alpha")
	if u.QuotaRejections["max_jobs"] != uint64(rejections) {
		t.Errorf("max_jobs rejections in usage: %d; want %d", u.QuotaRejections["max_jobs"], rejections)
	}
	m := e.metrics()
	if v := m[`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="alpha"}`]; v != float64(rejections) {
		t.Errorf("metric max_jobs rejections: %v; want %d", v, rejections)
	}
	if v := m[`disq_tenant_jobs_held{tenant="alpha"}`]; v != 4 {
		t.Errorf("metric jobs held: %v; want 4", v)
	}
	// The default tenant was never limited.
	for i := 0; i < 5; i++ {
		addJob(t, d, "q", "body")
	}
}

// TestQuotaMaxBytes: -QUOTA max_bytes <held>/<max>, released by DELJOB.
func TestQuotaMaxBytes(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_bytes": 10})
	a := e.dial("alpha", "pa")
	id6 := addJob(t, a, "q", "666666")
	a.Expect("-QUOTA max_bytes 6/10", "ADDJOB", "q", "55555", "0")
	addJob(t, a, "q", "4444")
	a.Expect("-QUOTA max_bytes 10/10", "ADDJOB", "q", "1", "0")
	addJob(t, a, "q", "") // an empty body holds no byte
	e.waitUsage("alpha", time.Second, "3 jobs, 10 bytes", jobsBytes(3, 10))
	a.Expect(":1", "DELJOB", id6)
	e.waitUsage("alpha", 5*time.Second, "2 jobs, 4 bytes", jobsBytes(2, 4))
	addJob(t, a, "q", "666666")
	a.Expect("-QUOTA max_bytes 10/10", "ADDJOB", "q", "1", "0")
	if u := e.usage("alpha"); u.QuotaRejections["max_bytes"] != 3 || u.QuotaRejections["max_jobs"] != 0 {
		t.Errorf("rejections: %v; want max_bytes 3", u.QuotaRejections)
	}

	// ADDJOBs admitted by the tenant and then refused by the queue
	// (MAXLEN, PAUSED) give their reservation back.
	e.setLimits("alpha", limits{"max_bytes": 100})
	for i := 0; i < 5; i++ {
		a.Expect("-MAXLEN Queue is already longer than the specified MAXLEN count", "ADDJOB", "q", "0123456789", "0", "MAXLEN", "1")
	}
	a.Expect("+in", "PAUSE", "q", "in")
	for i := 0; i < 5; i++ {
		a.Expect(errPaused, "ADDJOB", "q", "0123456789", "0")
	}
	a.Expect("+none", "PAUSE", "q", "none")
	e.waitUsage("alpha", time.Second, "3 jobs, 10 bytes after refused ADDJOBs", jobsBytes(3, 10))
	for i := 0; i < 9; i++ {
		addJob(t, a, "q", "0123456789")
	}
	a.Expect("-QUOTA max_bytes 100/100", "ADDJOB", "q", "0", "0")
}

// TestQuotaMaxQueues: -QUOTA max_queues when an ADDJOB would create a
// queue; existing queues take jobs; the refused ADDJOB holds nothing; a
// flush gives the queues back.
func TestQuotaMaxQueues(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_queues": 2})
	a := e.dial("alpha", "pa")
	addJob(t, a, "q1", "x")
	addJob(t, a, "q2", "x")
	a.Expect("-QUOTA max_queues 2/2", "ADDJOB", "q3", "xyz", "0")
	a.Expect("-QUOTA max_queues 2/2", "ADDJOB", "q4", "xyz", "0")
	addJob(t, a, "q1", "x")
	u := e.waitUsage("alpha", time.Second, "3 jobs, 3 bytes", jobsBytes(3, 3))
	if u.Queues != 2 || u.QuotaRejections["max_queues"] != 2 {
		t.Errorf("usage: %d queues, %d max_queues rejections; want 2, 2", u.Queues, u.QuotaRejections["max_queues"])
	}
	a.Expect(":0", "QLEN", "q3")
	if got := scanAll(t, a, "QSCAN"); !sameSet(got, []string{"q1", "q2"}) {
		t.Errorf("QSCAN: %v; want [q1 q2]", got)
	}
	e.setLimits("alpha", limits{"max_queues": 3})
	addJob(t, a, "q3", "x")
	a.Expect("-QUOTA max_queues 3/3", "ADDJOB", "q4", "xyz", "0")
	e.dial("", "").Expect("+OK", "DEBUG", "FLUSHALL")
	e.waitUsage("alpha", 5*time.Second, "no queue", func(u tenant.Usage) bool { return u.Queues == 0 && u.Jobs == 0 })
	addJob(t, a, "q4", "x")
}

// TestQuotaPerRequestCaps: max_body_bytes and max_replicate answer with
// the request's own value, in that order, and hold nothing.
func TestQuotaPerRequestCaps(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_body_bytes": 4, "max_replicate": 0})
	a := e.dial("alpha", "pa")
	a.Expect("-QUOTA max_body_bytes 5/4", "ADDJOB", "q", "55555", "0", "REPLICATE", "1")
	a.Expect("-QUOTA max_replicate 1/0", "ADDJOB", "q", "4444", "0", "REPLICATE", "1")
	e.setLimits("alpha", limits{"max_body_bytes": 4, "max_replicate": 1})
	a.Expect("-QUOTA max_body_bytes 1000/4", "ADDJOB", "q", strings.Repeat("z", 1000), "0")
	addJob(t, a, "q", "4444", "REPLICATE", "1")
	addJob(t, a, "q", "")
	u := e.waitUsage("alpha", time.Second, "2 jobs, 4 bytes", jobsBytes(2, 4))
	if u.QuotaRejections["max_body_bytes"] != 2 || u.QuotaRejections["max_replicate"] != 1 {
		t.Errorf("rejections %v; want max_body_bytes 2, max_replicate 1", u.QuotaRejections)
	}
}

// TestQuotaProduceRate: jobs/s with a burst; over it -RATELIMIT retry in
// <N>ms, N the wait after which the same ADDJOB is admitted; rate 0 is
// -QUOTA produce_rate 0/0. A refused ADDJOB holds nothing.
func TestQuotaProduceRate(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"produce_rate": 5})
	a := e.dial("alpha", "pa")
	cmds := make([][]string, 10)
	for i := range cmds {
		cmds[i] = []string{"ADDJOB", "q", "x", "0"}
	}
	ok, limited := 0, 0
	var lastRetry int64
	t0 := time.Now()
	replies := a.Pipeline(cmds...)
	// A token comes back every 200 ms: a slow server may admit more.
	extra := int(time.Since(t0) / (200 * time.Millisecond))
	for _, r := range replies {
		if r.Kind == resp.KindSimple && testclient.IsJobID(string(r.Str)) {
			ok++
			continue
		}
		limited++
		lastRetry = retryMillis(t, r.String())
		if lastRetry > 200 {
			t.Errorf("retry hint %dms; want <= 200 (one job at 5/s)", lastRetry)
		}
	}
	if ok < 5 || ok > 5+extra || ok+limited != 10 {
		t.Fatalf("10 pipelined ADDJOBs at 5/s (burst 5): %d admitted, %d rate limited; want 5 (+%d), 5", ok, limited, extra)
	}
	time.Sleep(time.Duration(lastRetry)*time.Millisecond + 5*time.Millisecond)
	addJob(t, a, "q", "x")
	held := int64(ok + 1)
	u := e.waitUsage("alpha", time.Second, "the admitted jobs", jobsBytes(held, held))
	if u.RateLimited["produce_rate"] < uint64(limited) {
		t.Errorf("rate_limited produce_rate: %d; want >= 5", u.RateLimited["produce_rate"])
	}
	if v := e.metrics()[`disq_tenant_rate_limited_total{limit="produce_rate",tenant="alpha"}`]; v != float64(u.RateLimited["produce_rate"]) {
		t.Errorf("metric rate_limited: %v; want %d", v, u.RateLimited["produce_rate"])
	}

	// produce_burst: rate 1/s, burst 3. Through unlimited, so the bucket
	// starts full (a rate change carries the bucket's state over in units).
	e.setLimits("alpha", limits{})
	e.setLimits("alpha", limits{"produce_rate": 1, "produce_burst": 3})
	ok = 0
	for _, r := range a.Pipeline(cmds[:5]...) {
		if r.Kind == resp.KindSimple {
			ok++
		} else if n := retryMillis(t, r.String()); n > 1000 {
			t.Errorf("retry hint %dms at 1/s; want <= 1000", n)
		}
	}
	if ok != 3 {
		t.Errorf("burst 3: %d of 5 admitted; want 3", ok)
	}

	e.setLimits("alpha", limits{"produce_rate": 0})
	a.Expect("-QUOTA produce_rate 0/0", "ADDJOB", "q", "x", "0")
	e.waitUsage("alpha", time.Second, "the admitted jobs", jobsBytes(held+3, held+3))
}

// TestQuotaProduceBytesRate: body bytes/s (bucket of one second).
func TestQuotaProduceBytesRate(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"produce_bytes_rate": 100})
	a := e.dial("alpha", "pa")
	body := strings.Repeat("b", 60)
	rs := a.Pipeline([]string{"ADDJOB", "q", body, "0"}, []string{"ADDJOB", "q", body, "0"})
	if rs[0].Kind != resp.KindSimple {
		t.Fatalf("first 60-byte ADDJOB at 100 B/s: %s", rs[0])
	}
	// 20 bytes short at 100 B/s: about 200 ms.
	n := retryMillis(t, rs[1].String())
	if n < 50 || n > 200 {
		t.Errorf("retry hint %dms; want about 200", n)
	}
	time.Sleep(time.Duration(n)*time.Millisecond + 5*time.Millisecond)
	addJob(t, a, "q", body)
	// A body above one second of the rate is admitted once the bucket is
	// full (slow, not impossible).
	time.Sleep(1100 * time.Millisecond)
	addJob(t, a, "q", strings.Repeat("B", 150))
	if got := a.DoS("ADDJOB", "q", "x", "0"); !rateLimitRE.MatchString(got) {
		t.Errorf("ADDJOB after a body above the bucket: %s; want -RATELIMIT", got)
	}
	e.setLimits("alpha", limits{"produce_bytes_rate": 0})
	a.Expect("-QUOTA produce_bytes_rate 0/0", "ADDJOB", "q", "x", "0")
	u := e.waitUsage("alpha", time.Second, "3 jobs, 270 bytes", jobsBytes(3, 270))
	if u.RateLimited["produce_bytes_rate"] < 2 || u.RateLimited["produce_rate"] != 0 {
		t.Errorf("rate_limited %v; want produce_bytes_rate >= 2", u.RateLimited)
	}
}

// TestQuotaConsumeRate: consume_rate throttles GETJOB (the consumer waits,
// it is never failed): consuming N jobs one by one takes about
// (N - burst)/rate. Not parallel: it measures time.
func TestQuotaConsumeRate(t *testing.T) {
	e := startEnv(t)
	const rate, n = 5, 20
	e.putTenant("alpha", "pa", limits{"consume_rate": rate})
	a := e.dial("alpha", "pa")
	for i := 0; i < n; i++ {
		addJob(t, a, "q", "x")
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		r := a.Do("GETJOB", "TIMEOUT", "10000", "FROM", "q")
		if js := testclient.Jobs(t, r); len(js) != 1 {
			t.Fatalf("GETJOB %d: %s; want one job", i, r)
		}
	}
	el := time.Since(start)
	want := time.Duration(n-rate) * time.Second / rate // the first second's worth is the burst
	t.Logf("consumed %d jobs at consume_rate %d/s in %v (expected about %v)", n, rate, el, want)
	if el < want*8/10 || el > want*2 {
		t.Errorf("consuming %d jobs at %d/s took %v; want about %v (throttled, not failed)", n, rate, el, want)
	}
	if u := e.usage("alpha"); u.ConsumeThrottled["consume_rate"] == 0 {
		t.Errorf("consume_throttled consume_rate is 0")
	}
	// COUNT asks for many: a GETJOB still gets jobs, only as fast as the rate.
	for i := 0; i < n; i++ {
		addJob(t, a, "q", "x")
	}
	time.Sleep(time.Second) // full bucket
	start = time.Now()
	got := 0
	for got < n {
		got += len(a.GetJobs("TIMEOUT", "10000", "COUNT", "100", "FROM", "q"))
	}
	el = time.Since(start)
	if el < want*8/10 || el > want*2 {
		t.Errorf("consuming %d jobs with COUNT 100 at %d/s took %v; want about %v", n, rate, el, want)
	}
}

// TestQuotaMaxBlockedClients: over max_blocked_clients a GETJOB waits (it
// is not failed), and is served once a place is free and a job comes.
func TestQuotaMaxBlockedClients(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_blocked_clients": 1})
	c1 := e.dial("alpha", "pa")
	c2 := e.dial("alpha", "pa")
	c1.Send("GETJOB", "TIMEOUT", "0", "FROM", "bq")
	e.waitUsage("alpha", 3*time.Second, "1 blocked client", func(u tenant.Usage) bool { return u.BlockedClients == 1 })
	c2.Send("GETJOB", "TIMEOUT", "0", "FROM", "bq")
	e.waitUsage("alpha", 3*time.Second, "a max_blocked_clients throttle", func(u tenant.Usage) bool {
		return u.ConsumeThrottled["max_blocked_clients"] > 0
	})
	if u := e.usage("alpha"); u.BlockedClients != 1 {
		t.Errorf("blocked clients: %d; want 1 (the limit)", u.BlockedClients)
	}
	c1.ExpectSilent(100*time.Millisecond, "GETJOB before any job")
	c2.ExpectSilent(100*time.Millisecond, "GETJOB before any job")
	a := e.dial("alpha", "pa")
	id1 := addJob(t, a, "bq", "one")
	id2 := addJob(t, a, "bq", "two")
	var mu sync.Mutex
	ids := map[string]bool{}
	for _, c := range []*testclient.Conn{c1, c2} {
		r, err := c.ReadTimeout(5 * time.Second)
		if err != nil {
			t.Fatalf("a waiting GETJOB was not served: %v", err)
		}
		js := testclient.Jobs(t, r)
		if len(js) != 1 {
			t.Fatalf("GETJOB: %s", r)
		}
		mu.Lock()
		ids[js[0].ID] = true
		mu.Unlock()
	}
	if !ids[id1] || !ids[id2] {
		t.Errorf("served %v; want %s and %s", ids, id1, id2)
	}
	e.waitUsage("alpha", 3*time.Second, "0 blocked clients", func(u tenant.Usage) bool { return u.BlockedClients == 0 })
}
