package tenant_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/tenant"
)

// try sends an admin request from any goroutine (no t.Fatal) and returns
// the status.
func (e *env) try(method, path string, body any) (int, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.adminURL+path, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	res, err := e.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// TestConcurrentAdminUnderLoad: limits replaced in a loop, usage, list and
// metrics read, credentials rotated and a tenant created and deleted over
// and over through the admin API, while connections of two tenants run
// ADDJOB/GETJOB/ACKJOB/NACK/DELJOB/FASTACK. Run with -race, the server is
// built with -race: any race it reports fails the test, and the usage ends
// exactly at zero.
func TestConcurrentAdminUnderLoad(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_jobs": 1000})
	e.putTenant("beta", "pb", nil)

	// Load connections: 4 of alpha, 2 of beta (authenticated before the
	// password rotations start).
	var conns []*testclient.Conn
	for w := 0; w < 6; w++ {
		if w < 4 {
			conns = append(conns, e.dial("alpha", "pa"))
		} else {
			conns = append(conns, e.dial("beta", "pb"))
		}
	}

	stop := make(chan struct{})
	var admins sync.WaitGroup
	var adminCalls atomic.Int64
	admin := func(name string, f func(i int) error) {
		admins.Add(1)
		go func() {
			defer admins.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(i); err != nil {
					t.Errorf("admin %s: %v", name, err)
					return
				}
				adminCalls.Add(1)
			}
		}()
	}
	want := func(st int, err error, codes ...int) error {
		if err != nil {
			return err
		}
		for _, c := range codes {
			if st == c {
				return nil
			}
		}
		return fmt.Errorf("status %d; want %v", st, codes)
	}
	sets := []limits{
		{"max_jobs": 50},
		{"max_jobs": 5000, "max_bytes": 20000, "produce_rate": 20000},
		{},
		{"max_jobs": 0},
		{"max_queues": 3, "max_body_bytes": 30, "max_replicate": 1},
		{"produce_rate": 500, "produce_burst": 20, "produce_bytes_rate": 100000},
		{"consume_rate": 100000, "max_blocked_clients": 2, "max_connections": 100},
	}
	admin("limits", func(i int) error {
		st, err := e.try("PUT", "/v1/tenants/alpha/limits", sets[i%len(sets)])
		return want(st, err, 200)
	})
	admin("default-limits", func(i int) error {
		st, err := e.try("PUT", "/v1/tenants/default/limits", sets[(i+3)%len(sets)])
		time.Sleep(time.Millisecond)
		return want(st, err, 200)
	})
	admin("reads", func(i int) error {
		path := []string{"/v1/tenants/alpha/usage", "/v1/tenants", "/metrics", "/v1/tenants/beta", "/v1/tenants/alpha/limits"}[i%5]
		st, err := e.try("GET", path, nil)
		return want(st, err, 200)
	})
	admin("credentials", func(i int) error {
		st, err := e.try("POST", "/v1/tenants/beta/credentials", map[string]string{"password": "pb-" + strconv.Itoa(i)})
		time.Sleep(2 * time.Millisecond)
		return want(st, err, 200)
	})
	admin("churn", func(i int) error {
		st, err := e.try("PUT", "/v1/tenants/tmp", map[string]any{"password": "pt", "limits": limits{"max_jobs": int64(i % 10)}})
		if err := want(st, err, 200, 201); err != nil {
			return err
		}
		st, err = e.try("DELETE", "/v1/tenants/tmp", nil)
		time.Sleep(2 * time.Millisecond)
		return want(st, err, 204, 404)
	})

	// Load: the 6 connections, and one AUTHing into the churned tenant.
	var st mixStats
	var load sync.WaitGroup
	for w, c := range conns {
		load.Add(1)
		go func() {
			defer load.Done()
			if err := mixedWorker(c, uint64(100+w), 4000, 16, 5, &st, nil); err != nil {
				t.Errorf("load connection %d: %v", w, err)
			}
		}()
	}
	load.Add(1)
	go func() {
		defer load.Done()
		c := testclient.Dial(t, e.srv.Addr)
		for i := 0; i < 300; i++ {
			// AUTH may fail (tmp is deleted at times: the ADDJOB then goes
			// to default), and a deletion closes tmp's connections: dial
			// again.
			if _, err := pipeline(c, [][]string{{"AUTH", "tmp", "pt"}, {"ADDJOB", "tq", "x", "0"}, {"AUTH", "default", ""}}); err != nil {
				c = testclient.Dial(t, e.srv.Addr)
			}
		}
	}()
	load.Wait()
	close(stop)
	admins.Wait()
	t.Logf("%d ops (%d added, %d QUOTA, %d RATELIMIT) with %d admin calls", st.ops.Load(), st.added.Load(), st.quota.Load(), st.rateLimited.Load(), adminCalls.Load())
	if adminCalls.Load() < 100 {
		t.Errorf("only %d admin calls during the load", adminCalls.Load())
	}

	e.setLimits("alpha", limits{})
	e.setLimits("default", limits{})
	drain(t, e.dial("alpha", "pa"))
	drain(t, e.dial("", ""))
	var bpass string
	{
		var cr tenant.CredentialsResponse
		decodeJSON(t, e.api(200, "POST", "/v1/tenants/beta/credentials", nil), &cr)
		bpass = cr.Password
	}
	drain(t, e.dial("beta", bpass))
	for _, name := range []string{"alpha", "beta", "default"} {
		e.waitUsage(name, 5*time.Second, "0 jobs, 0 bytes", jobsBytes(0, 0))
	}
	e.dial("", "").Expect("+PONG", "PING")
	// The server is built with -race when this test runs with -race: it
	// prints what it finds to its log.
	checkLog(t, e.srv.Log(), "WARNING: DATA RACE")
}
