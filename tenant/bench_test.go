package tenant

import "testing"

func BenchmarkAdmitProduceRelease(b *testing.B) {
	r, _ := newReg(b)
	tn := mustPut(b, r, "acme", lim(MaxJobs, 1<<40, MaxBytes, 1<<50, ProduceRate, 1<<40, ProduceBytesRate, 1<<50))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tn.AdmitProduce(r.Now(), 1, 100, 100, 0) == nil {
				tn.ReleaseJobs(1, 100)
			}
		}
	})
}

func BenchmarkAdmitProduceUnlimited(b *testing.B) {
	r, _ := newReg(b)
	tn := mustPut(b, r, "acme", Limits{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = tn.AdmitProduce(0, 1, 100, 100, 0)
			tn.ReleaseJobs(1, 100)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	r, _ := newReg(b)
	mustPut(b, r, "acme", Limits{})
	name, pw := []byte("acme"), []byte("pw-acme")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.Authenticate(name, pw)
	}
}

func BenchmarkAdmitProduceLimitedOneGoroutine(b *testing.B) {
	r, _ := newReg(b)
	tn := mustPut(b, r, "acme", lim(MaxJobs, 1<<40, MaxBytes, 1<<50, ProduceRate, 1<<40, ProduceBytesRate, 1<<50))
	b.ReportAllocs()
	now := r.Now()
	for b.Loop() {
		if tn.AdmitProduce(now, 1, 100, 100, 0) == nil {
			tn.ReleaseJobs(1, 100)
		}
	}
}
