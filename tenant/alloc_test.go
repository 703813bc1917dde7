//go:build !race

package tenant

import "testing"

// The hot path allocates nothing (refusals excepted: they return an error
// value). Non-race only: the race detector allocates.
func TestHotPathAllocs(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxJobs, 1<<40, MaxBytes, 1<<50, MaxQueues, 1<<40, MaxConnections, 1<<40,
		MaxBlockedClients, 1<<40, MaxBodyBytes, 1<<20, MaxReplicate, 5, ProduceRate, 1<<40,
		ProduceBytesRate, 1<<50, ConsumeRate, 1<<40))
	name, pw := []byte("acme"), []byte("pw-acme")
	cases := map[string]func(){
		"AdmitProduce+ReleaseJobs": func() {
			if tn.AdmitProduce(r.Now(), 1, 100, 100, 3) != nil {
				t.Fatal("refused")
			}
			tn.ReleaseJobs(1, 100)
		},
		"AdmitQueue+ReleaseQueue": func() {
			if tn.AdmitQueue() != nil {
				t.Fatal("refused")
			}
			tn.ReleaseQueue()
		},
		"AdmitConnection+ReleaseConnection": func() {
			if tn.AdmitConnection() != nil {
				t.Fatal("refused")
			}
			tn.ReleaseConnection()
		},
		"AdmitBlocked+ReleaseBlocked": func() {
			if !tn.AdmitBlocked() {
				t.Fatal("refused")
			}
			tn.ReleaseBlocked()
		},
		"ConsumeGrant+ConsumeReturn": func() {
			g, _ := tn.ConsumeGrant(r.Now(), 10)
			tn.ConsumeReturn(g)
		},
		"ConsumeDelay":   func() { _ = tn.ConsumeDelay(r.Now(), 1) },
		"Count":          func() { tn.Count(EventDelivered, 1) },
		"ByIndex+Limits": func() { _ = r.ByIndex(1).Limits().Get(MaxJobs) },
		"Authenticate": func() {
			if _, err := r.Authenticate(name, pw); err != nil {
				t.Fatal(err)
			}
		},
		"AuthenticateWrong":   func() { _, _ = r.Authenticate(name, []byte("nope")) },
		"AuthenticateUnknown": func() { _, _ = r.Authenticate([]byte("who"), pw) },
		"AuthenticateDefault": func() { _, _ = r.Authenticate([]byte(DefaultName), pw) },
	}
	for n, f := range cases {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocations per call", n, a)
		}
	}
}
