package tenant

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuotaMaxJobs(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxJobs, 10))
	for i := range 10 {
		noErr(t, tn.AdmitProduce(r.Now(), 1, 5, 5, 0))
		if tn.Jobs() != int64(i+1) {
			t.Fatalf("jobs %d", tn.Jobs())
		}
	}
	err := tn.AdmitProduce(r.Now(), 1, 5, 5, 0)
	wantErr(t, err, "QUOTA max_jobs 10/10")
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Limit != MaxJobs || qe.Used != 10 || qe.Max != 10 {
		t.Fatalf("%#v", err)
	}
	if tn.Jobs() != 10 || tn.Bytes() != 50 {
		t.Fatalf("refusal changed usage: %d %d", tn.Jobs(), tn.Bytes())
	}
	// A batch that does not fit is refused whole.
	tn.ReleaseJobs(3, 15)
	wantErr(t, tn.AdmitProduce(r.Now(), 4, 4, 1, 0), "QUOTA max_jobs 7/10")
	noErr(t, tn.AdmitProduce(r.Now(), 3, 3, 1, 0))
	tn.ReleaseJobs(10, 38)
	if tn.Jobs() != 0 || tn.Bytes() != 0 {
		t.Fatalf("after release: %d %d", tn.Jobs(), tn.Bytes())
	}
	noErr(t, tn.AdmitProduce(r.Now(), 1, 5, 5, 0))
	if tn.Rejections(MaxJobs) != 2 {
		t.Fatalf("rejections %d", tn.Rejections(MaxJobs))
	}
	// 0 means none allowed.
	_, err = r.SetLimits("acme", lim(MaxJobs, 0))
	noErr(t, err)
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 0, 0, 0), "QUOTA max_jobs 1/0")
}

func TestQuotaMaxBytes(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxBytes, 100, MaxJobs, 50))
	noErr(t, tn.AdmitProduce(r.Now(), 1, 60, 60, 0))
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 41, 41, 0), "QUOTA max_bytes 60/100")
	if tn.Jobs() != 1 || tn.Bytes() != 60 {
		t.Fatalf("max_bytes refusal left a job reservation: %d %d", tn.Jobs(), tn.Bytes())
	}
	noErr(t, tn.AdmitProduce(r.Now(), 1, 40, 40, 0))
	tn.ReleaseJobs(1, 60)
	noErr(t, tn.AdmitProduce(r.Now(), 1, 60, 60, 0))
	if tn.Bytes() != 100 {
		t.Fatal(tn.Bytes())
	}
}

func TestQuotaPerRequestCaps(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxBodyBytes, 1024, MaxReplicate, 2))
	noErr(t, tn.AdmitProduce(r.Now(), 1, 1024, 1024, 2))
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 2048, 2048, 0), "QUOTA max_body_bytes 2048/1024")
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 1, 1, 3), "QUOTA max_replicate 3/2")
	if tn.Jobs() != 1 || tn.Rejections(MaxBodyBytes) != 1 || tn.Rejections(MaxReplicate) != 1 {
		t.Fatal("counts")
	}
}

// The order of checks: body, replicate, produce rate, bytes rate, jobs, bytes.
func TestQuotaOrder(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxBodyBytes, 10, MaxReplicate, 1, ProduceRate, 0, MaxJobs, 0))
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 11, 11, 2), "QUOTA max_body_bytes 11/10")
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 10, 10, 2), "QUOTA max_replicate 2/1")
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 10, 10, 1), "QUOTA produce_rate 0/0")
	_, _ = r.SetLimits("acme", lim(ProduceRate, 1, ProduceBurst, 1, ProduceBytesRate, 0, MaxJobs, 0))
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 10, 10, 1), "QUOTA produce_bytes_rate 0/0")
	_, _ = r.SetLimits("acme", lim(ProduceRate, 1, ProduceBurst, 1, MaxJobs, 0))
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 10, 10, 1), "QUOTA max_jobs 0/0")
	// None of the refusals consumed the single produce token.
	_, _ = r.SetLimits("acme", lim(ProduceRate, 1, ProduceBurst, 1))
	noErr(t, tn.AdmitProduce(r.Now(), 1, 10, 10, 1))
	wantErr(t, tn.AdmitProduce(r.Now(), 1, 10, 10, 1), "RATELIMIT retry in 1000ms")
}

func TestQuotaMaxQueues(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxQueues, 2))
	noErr(t, tn.AdmitQueue())
	noErr(t, tn.AdmitQueue())
	wantErr(t, tn.AdmitQueue(), "QUOTA max_queues 2/2")
	tn.ReleaseQueue()
	noErr(t, tn.AdmitQueue())
	tn.ChargeQueue() // unconditional: may exceed
	if tn.Queues() != 3 {
		t.Fatal(tn.Queues())
	}
	wantErr(t, tn.AdmitQueue(), "QUOTA max_queues 3/2")
	tn.ReleaseQueue()
	tn.ReleaseQueue()
	tn.ReleaseQueue()
	if tn.Queues() != 0 {
		t.Fatal(tn.Queues())
	}
}

func TestQuotaMaxConnections(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxConnections, 1))
	noErr(t, tn.AdmitConnection())
	wantErr(t, tn.AdmitConnection(), "QUOTA max_connections 1/1")
	tn.ReleaseConnection()
	noErr(t, tn.AdmitConnection())
	if tn.Connections() != 1 || tn.Rejections(MaxConnections) != 1 {
		t.Fatal("counts")
	}
}

func TestQuotaMaxBlockedClients(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxBlockedClients, 2))
	if !tn.AdmitBlocked() || !tn.AdmitBlocked() {
		t.Fatal("refused below the limit")
	}
	if tn.AdmitBlocked() {
		t.Fatal("third blocked client admitted")
	}
	tn.ReleaseBlocked()
	if !tn.AdmitBlocked() {
		t.Fatal("refused after release")
	}
	if tn.BlockedClients() != 2 || tn.m.throttled[1].Get() != 1 {
		t.Fatal("counts")
	}
}

func TestDeletedTenantRefusesButReleases(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", Limits{})
	noErr(t, tn.AdmitProduce(r.Now(), 1, 3, 3, 0))
	noErr(t, tn.AdmitConnection())
	noErr(t, r.Delete("acme"))
	if !tn.Deleted() {
		t.Fatal("not deleted")
	}
	for _, err := range []error{tn.AdmitProduce(r.Now(), 1, 1, 1, 0), tn.AdmitQueue(), tn.AdmitConnection()} {
		if !errors.Is(err, ErrTenantDeleted) {
			t.Fatalf("deleted tenant admitted: %v", err)
		}
	}
	tn.ReleaseJobs(1, 3)
	tn.ReleaseConnection()
	if !tn.drained() {
		t.Fatal("not drained")
	}
}

// No over-admission under concurrency: many goroutines race for 1,000 job
// slots and 1,000,000 bytes; exactly the limit is admitted.
func TestQuotaNoOverAdmit(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxJobs, 1000, MaxQueues, 100, MaxConnections, 50))
	var admitted, queues, conns atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if tn.AdmitProduce(r.Now(), 1, 10, 10, 0) == nil {
					admitted.Add(1)
				}
				if tn.AdmitQueue() == nil {
					queues.Add(1)
				}
				if tn.AdmitConnection() == nil {
					conns.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 1000 || tn.Jobs() != 1000 || tn.Bytes() != 10000 {
		t.Fatalf("admitted %d, held %d jobs %d bytes", admitted.Load(), tn.Jobs(), tn.Bytes())
	}
	if queues.Load() != 100 || conns.Load() != 50 {
		t.Fatalf("queues %d conns %d", queues.Load(), conns.Load())
	}
}

// No drift: 100,000 random mixed reserve/release operations from several
// goroutines, with the limits changed live meanwhile, end with every usage
// counter exactly 0 once everything held is released, and never above a
// limit that stayed fixed.
func TestQuotaNoDrift(t *testing.T) {
	r, clk := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxJobs, 500, MaxBytes, 200_000, MaxQueues, 40,
		MaxConnections, 30, MaxBlockedClients, 20, ProduceRate, 1_000_000, ConsumeRate, 1_000_000))
	const workers, opsPer = 8, 12_500 // 100,000 operations
	var maxJobsSeen atomic.Int64
	stop := make(chan struct{})
	var admin sync.WaitGroup
	admin.Go(func() { // live limit changes (jobs/bytes caps fixed)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l := lim(MaxJobs, 500, MaxBytes, 200_000, MaxQueues, 40+i%5, MaxConnections, 30,
				MaxBlockedClients, 20, ProduceRate, 500_000+i%3*250_000, ConsumeRate, 1_000_000)
			if _, err := r.SetLimits("acme", l); err != nil {
				t.Error(err)
				return
			}
			clk.Advance(time.Millisecond)
			time.Sleep(50 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			type held struct{ jobs, bytes int64 }
			var jobs []held
			var queues, conns, blocked int
			for range opsPer {
				switch op := rng.IntN(10); op {
				case 0, 1, 2:
					n := int64(1 + rng.IntN(3))
					b := int64(rng.IntN(2000))
					if tn.AdmitProduce(r.Now(), n, b, b, int64(rng.IntN(3))) == nil {
						jobs = append(jobs, held{n, b})
					}
					if j := tn.Jobs(); j > maxJobsSeen.Load() {
						maxJobsSeen.Store(j)
					}
				case 3, 4:
					if len(jobs) > 0 {
						i := rng.IntN(len(jobs))
						tn.ReleaseJobs(jobs[i].jobs, jobs[i].bytes)
						jobs[i] = jobs[len(jobs)-1]
						jobs = jobs[:len(jobs)-1]
					}
				case 5:
					if tn.AdmitQueue() == nil {
						queues++
					} else if queues > 0 {
						tn.ReleaseQueue()
						queues--
					}
				case 6:
					if tn.AdmitConnection() == nil {
						conns++
					} else if conns > 0 {
						tn.ReleaseConnection()
						conns--
					}
				case 7:
					if tn.AdmitBlocked() {
						blocked++
					} else if blocked > 0 {
						tn.ReleaseBlocked()
						blocked--
					}
				case 8:
					g, _ := tn.ConsumeGrant(r.Now(), int64(1+rng.IntN(5)))
					tn.ConsumeReturn(g / 2)
				case 9:
					b := int64(rng.IntN(100))
					tn.ChargeJobs(1, b) // replicated in
					jobs = append(jobs, held{1, b})
				}
			}
			for _, h := range jobs {
				tn.ReleaseJobs(h.jobs, h.bytes)
			}
			for range queues {
				tn.ReleaseQueue()
			}
			for range conns {
				tn.ReleaseConnection()
			}
			for range blocked {
				tn.ReleaseBlocked()
			}
		})
	}
	wg.Wait()
	close(stop)
	admin.Wait()
	u := tn.Usage()
	if u.Jobs != 0 || u.Bytes != 0 || u.Queues != 0 || u.Connections != 0 || u.BlockedClients != 0 {
		t.Fatalf("usage drifted: %+v", u)
	}
	t.Logf("max jobs seen %d; rejections %v", maxJobsSeen.Load(), u.QuotaRejections)
}

// TestProduceRated: the caller may skip the clock exactly when no positive
// produce rate applies (a rate of 0 refuses without reading it).
func TestProduceRated(t *testing.T) {
	r, _ := newReg(t)
	cases := []struct {
		name string
		l    Limits
		want bool
	}{
		{"none", lim(), false},
		{"jobs", lim(MaxJobs, 5, MaxBytes, 100), false},
		{"zero-rate", lim(ProduceRate, 0), false},
		{"zero-bytes-rate", lim(ProduceBytesRate, 0), false},
		{"rate", lim(ProduceRate, 1), true},
		{"bytes-rate", lim(ProduceBytesRate, 10), true},
		{"consume-only", lim(ConsumeRate, 10), false},
	}
	for i, c := range cases {
		tn := mustPut(t, r, fmt.Sprintf("t%d", i), c.l)
		if got := tn.ProduceRated(); got != c.want {
			t.Errorf("%s: ProduceRated %v, want %v", c.name, got, c.want)
		}
	}
}
