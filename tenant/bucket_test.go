package tenant

import (
	"errors"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestBucketBurstRefill(t *testing.T) {
	var b bucket
	now := int64(1000 * ms)
	// rate 10/s, capacity 5: five at once, then one per 100 ms.
	for i := range 5 {
		if w := b.take(now, 1, 10, 5); w != 0 {
			t.Fatalf("take %d refused (wait %d)", i, w)
		}
	}
	if w := b.take(now, 1, 10, 5); w != 100*ms {
		t.Fatalf("wait = %v, want 100ms", time.Duration(w))
	}
	if w := b.take(now+40*ms, 1, 10, 5); w != 60*ms {
		t.Fatalf("wait = %v, want 60ms", time.Duration(w))
	}
	if w := b.take(now+100*ms, 1, 10, 5); w != 0 {
		t.Fatalf("refused after refill: %v", time.Duration(w))
	}
	// A long idle time refills to the capacity, not beyond.
	now += 10_000 * ms
	n := 0
	for b.take(now, 1, 10, 5) == 0 {
		n++
	}
	if n != 5 {
		t.Fatalf("after idle admitted %d, want 5", n)
	}
}

func TestBucketLargeRequestGoesIntoDebt(t *testing.T) {
	var b bucket
	// 1000 bytes/s, a 3000-byte body: admitted when full, then 3 s of debt.
	if w := b.take(0, 3000, 1000, 1000); w != 0 {
		t.Fatal("large request refused on a full bucket")
	}
	if w := b.take(0, 1, 1000, 1000); w != 2001*ms {
		t.Fatalf("wait after debt = %v, want 2.001s", time.Duration(w))
	}
	if w := b.take(2001*ms, 1, 1000, 1000); w != 0 {
		t.Fatalf("refused after the debt: %v", time.Duration(w))
	}
}

func TestBucketRetune(t *testing.T) {
	var b bucket
	// Drain a 1/s bucket 10 deep into debt, then raise the rate to 1000/s:
	// the 10 units owed take 10 ms, not 10 s.
	b.take(0, 11, 1, 1)
	if w := b.take(0, 1, 1, 1); w < 10*int64(time.Second) {
		t.Fatalf("wait %v", time.Duration(w))
	}
	b.retune(0, 1, 1000)
	if w := b.take(0, 1, 1000, 1000); w != 0 && w > 11*ms {
		t.Fatalf("wait after retune = %v, want about 10ms", time.Duration(w))
	}
	// From unlimited (or 0) the bucket starts full.
	var c bucket
	c.tat.Store(1 << 50)
	c.retune(5, Unlimited, 10)
	if w := c.take(5, 10, 10, 10); w != 0 {
		t.Fatalf("not full after retune from unlimited: %v", time.Duration(w))
	}
}

func TestBucketGrantRefund(t *testing.T) {
	var b bucket
	g, w := b.grant(0, 100, 10, 10)
	if g != 10 || w != 0 {
		t.Fatalf("grant = %d, %d; want 10, 0", g, w)
	}
	g, w = b.grant(0, 1, 10, 10)
	if g != 0 || w != 100*ms {
		t.Fatalf("grant on empty = %d, %v", g, time.Duration(w))
	}
	b.refund(4, 10)
	if g, _ = b.grant(0, 100, 10, 10); g != 4 {
		t.Fatalf("grant after refund = %d, want 4", g)
	}
	if g, _ = b.grant(250*ms, 100, 10, 10); g != 2 {
		t.Fatalf("grant after 250ms = %d, want 2", g)
	}
}

func TestNsForSaturates(t *testing.T) {
	if nsFor(1<<62, 1) != maxSpan || nsFor(0, 5) != 0 || nsFor(3, 1) != 3e9 {
		t.Fatal("nsFor")
	}
	if unitsIn(1<<62, 1<<62) <= 0 {
		t.Fatal("unitsIn overflow")
	}
}

// The produce buckets through AdmitProduce, with the Registry's injected clock.
func TestProduceRateWithInjectedClock(t *testing.T) {
	r, clk := newReg(t)
	tn := mustPut(t, r, "acme", lim(ProduceRate, 10, ProduceBurst, 3))
	admit := func() error { return tn.AdmitProduce(r.Now(), 1, 10, 10, 0) }
	for i := range 3 {
		if err := admit(); err != nil {
			t.Fatalf("burst job %d: %v", i, err)
		}
	}
	err := admit()
	wantErr(t, err, "RATELIMIT retry in 100ms")
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Limit != ProduceRate || rl.Retry != 100*time.Millisecond {
		t.Fatalf("error %#v", err)
	}
	clk.Advance(30 * time.Millisecond)
	wantErr(t, admit(), "RATELIMIT retry in 70ms")
	clk.Advance(70 * time.Millisecond)
	noErr(t, admit())
	if tn.Jobs() != 4 || tn.Bytes() != 40 {
		t.Fatalf("held %d jobs %d bytes", tn.Jobs(), tn.Bytes())
	}
	if got := tn.m.rateLimited[0].Get(); got != 2 {
		t.Fatalf("rate-limited counter = %d", got)
	}
	// A rate-limited request holds nothing.
	wantErr(t, admit(), "RATELIMIT retry in 100ms")
	if tn.Jobs() != 4 {
		t.Fatal("refused produce reserved a job")
	}

	// Retry rounds up to whole milliseconds: rate 3/s -> 333.33 ms.
	_, err = r.SetLimits("acme", lim(ProduceRate, 3, ProduceBurst, 1))
	noErr(t, err)
	clk.Advance(time.Hour)
	noErr(t, admit())
	wantErr(t, admit(), "RATELIMIT retry in 334ms")

	// Live change to 0: none allowed, and that is a hard refusal.
	_, err = r.SetLimits("acme", lim(ProduceRate, 0))
	noErr(t, err)
	wantErr(t, admit(), "QUOTA produce_rate 0/0")
	// Live change to absent: unlimited.
	_, err = r.SetLimits("acme", Limits{})
	noErr(t, err)
	for range 10000 {
		noErr(t, admit())
	}
	// Back to a rate: the bucket starts full with the default burst (1 s).
	_, err = r.SetLimits("acme", lim(ProduceRate, 50))
	noErr(t, err)
	n := 0
	for admit() == nil {
		n++
	}
	if n != 50 {
		t.Fatalf("default burst admitted %d, want 50", n)
	}
}

func TestProduceBytesRate(t *testing.T) {
	r, clk := newReg(t)
	tn := mustPut(t, r, "acme", lim(ProduceBytesRate, 1000, ProduceRate, 100))
	noErr(t, tn.AdmitProduce(r.Now(), 1, 600, 600, 0))
	err := tn.AdmitProduce(r.Now(), 1, 600, 600, 0)
	wantErr(t, err, "RATELIMIT retry in 200ms")
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Limit != ProduceBytesRate {
		t.Fatalf("limit %v", rl.Limit)
	}
	// The job token taken by step 3 was given back: 99 more jobs of 0 bytes pass.
	for i := range 99 {
		if err := tn.AdmitProduce(r.Now(), 1, 0, 0, 0); err != nil {
			t.Fatalf("job %d: %v (token not refunded?)", i, err)
		}
	}
	// A body larger than one second of the rate passes once the bucket is full.
	clk.Advance(time.Second)
	noErr(t, tn.AdmitProduce(r.Now(), 1, 5000, 5000, 0))
	clk.Advance(time.Second)
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 1, 1, 0), "RATELIMIT retry in 3001ms")
	_, err = r.SetLimits("acme", lim(ProduceBytesRate, 0))
	noErr(t, err)
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 1, 1, 0), "QUOTA produce_bytes_rate 0/0")
}

func TestConsumeRate(t *testing.T) {
	r, clk := newReg(t)
	tn := mustPut(t, r, "acme", lim(ConsumeRate, 10))
	if d := tn.ConsumeDelay(r.Now(), 10); d != 0 {
		t.Fatalf("first 10: %v", d)
	}
	if d := tn.ConsumeDelay(r.Now(), 1); d != 100*time.Millisecond {
		t.Fatalf("delay %v, want 100ms", d)
	}
	clk.Advance(100 * time.Millisecond)
	if d := tn.ConsumeDelay(r.Now(), 1); d != 0 {
		t.Fatalf("after refill: %v", d)
	}
	g, w := tn.ConsumeGrant(r.Now(), 5)
	if g != 0 || w != 100*time.Millisecond {
		t.Fatalf("grant %d %v", g, w)
	}
	clk.Advance(time.Second)
	if g, _ = tn.ConsumeGrant(r.Now(), 100); g != 10 {
		t.Fatalf("grant %d, want 10", g)
	}
	tn.ConsumeReturn(3)
	if g, _ = tn.ConsumeGrant(r.Now(), 100); g != 3 {
		t.Fatalf("grant after return %d, want 3", g)
	}
	if tn.m.throttled[0].Get() != 2 {
		t.Fatalf("throttled counter %d", tn.m.throttled[0].Get())
	}
	_, err := r.SetLimits("acme", lim(ConsumeRate, 0))
	noErr(t, err)
	if d := tn.ConsumeDelay(r.Now(), 1); d != ConsumeRecheck {
		t.Fatalf("rate 0: %v", d)
	}
	if g, w := tn.ConsumeGrant(r.Now(), 1); g != 0 || w != ConsumeRecheck {
		t.Fatalf("rate 0 grant: %d %v", g, w)
	}
	_, err = r.SetLimits("acme", Limits{})
	noErr(t, err)
	if d := tn.ConsumeDelay(r.Now(), 1<<40); d != 0 {
		t.Fatal("unlimited consume throttled")
	}
	if g, _ := tn.ConsumeGrant(r.Now(), 77); g != 77 {
		t.Fatal("unlimited grant")
	}
}

// One real-clock check: a 1,000 jobs/s limit admits 900-1,100 jobs/s over
// 3 seconds. The bucket (default burst: one second) is drained first so the
// window measures the rate; the producer sleeps per the RATELIMIT hint.
func TestProduceRateRealClock(t *testing.T) {
	t.Parallel()
	r, err := New(Options{})
	noErr(t, err)
	tn := mustPut(t, r, "acme", lim(ProduceRate, 1000))
	for tn.AdmitProduce(r.Now(), 1, 0, 0, 0) == nil {
		tn.ReleaseJobs(1, 0)
	}
	start := time.Now()
	var n int64
	for time.Since(start) < 3*time.Second {
		err := tn.AdmitProduce(r.Now(), 1, 0, 0, 0)
		if err == nil {
			n++
			tn.ReleaseJobs(1, 0)
			continue
		}
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			t.Fatal(err)
		}
		time.Sleep(rl.Retry)
	}
	// Take the credit earned by the end of the window too: a scheduling
	// stall (a loaded machine) leaves tokens in the bucket, not lost.
	for tn.AdmitProduce(r.Now(), 1, 0, 0, 0) == nil {
		n++
		tn.ReleaseJobs(1, 0)
	}
	rate := float64(n) / time.Since(start).Seconds()
	t.Logf("admitted %d jobs in %v: %.0f jobs/s", n, time.Since(start), rate)
	if rate < 900 || rate > 1100 {
		t.Fatalf("rate %.0f jobs/s outside 900-1100", rate)
	}
}
