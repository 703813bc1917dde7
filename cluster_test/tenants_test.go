package cluster_test

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/testclient"
)

// Tenant definitions across the cluster: a change made through one node's
// admin API reaches every node (broadcast), a node that was down gets the
// newest definitions when its links come back (anti-entropy), and what a
// node receives is persisted in its tenants-file.

// propagation bounds how long a definition may take to reach a node.
const propagation = 10 * time.Second

// tenantCluster is a cluster whose nodes run the admin API (each on its
// own port, kept across restarts) and a tenants-file.
type tenantCluster struct {
	*cluster
	admin []int
	hc    *http.Client
}

const tenantsFile = "tenants.json"

func startTenantCluster(t *testing.T, n int) *tenantCluster {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = adminPort(t)
	}
	c := startNodesEach(t, n, func(i int) []string {
		return []string{"--admin-port", strconv.Itoa(ports[i]), "--tenants-file", tenantsFile}
	})
	tc := &tenantCluster{cluster: c, admin: ports, hc: &http.Client{Timeout: 5 * time.Second}}
	for i := range n {
		tc.waitAdmin(i)
	}
	meetAll(c)
	return tc
}

var (
	adminPortsMu sync.Mutex
	adminPorts   = map[int]bool{}
)

// adminPort returns a free port for an admin API above the ephemeral range
// and the ports testserver gives servers and buses (as tenant_test does),
// never the same twice in this test process.
func adminPort(t *testing.T) int {
	t.Helper()
	adminPortsMu.Lock()
	defer adminPortsMu.Unlock()
	for range 500 {
		p := 61000 + rand.IntN(4500)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil && !adminPorts[p] {
			_ = l.Close()
			adminPorts[p] = true
			return p
		} else if err == nil {
			_ = l.Close()
		}
	}
	t.Fatal("no free admin port")
	return 0
}

func (tc *tenantCluster) waitAdmin(i int) {
	tc.t.Helper()
	testclient.Eventually(tc.t, propagation, "admin API of node "+strconv.Itoa(i), func() bool {
		st, _, err := tc.request(i, "GET", "/healthz", "")
		return err == nil && st == http.StatusOK
	})
}

func (tc *tenantCluster) request(i int, method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(tc.admin[i])+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := tc.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(data)), err
}

// api sends an admin request to node i and fails unless the status is want.
func (tc *tenantCluster) api(i, want int, method, path, body string) string {
	tc.t.Helper()
	st, data, err := tc.request(i, method, path, body)
	if err != nil || st != want {
		tc.t.Fatalf("node %d: %s %s: status %d %s %v; want %d", i, method, path, st, data, err, want)
	}
	return data
}

// auth runs AUTH tenant password on a fresh connection to node i and
// returns the reply ("+OK", "-WRONGPASS ...").
func (tc *tenantCluster) auth(i int, tenant, password string) string {
	tc.t.Helper()
	c := tc.dial(i)
	defer c.Close()
	return c.Do("AUTH", tenant, password).String()
}

// limits returns tenant's limits on node i as JSON ("" if unknown there).
func (tc *tenantCluster) limits(i int, tenant string) string {
	tc.t.Helper()
	st, data, err := tc.request(i, "GET", "/v1/tenants/"+tenant+"/limits", "")
	if err != nil {
		tc.t.Fatalf("node %d: limits: %v", i, err)
	}
	if st != http.StatusOK {
		return ""
	}
	return data
}

// waitAll waits until check(i) holds on every node of idx and logs how
// long it took.
func (tc *tenantCluster) waitAll(what string, idx []int, check func(i int) bool) {
	tc.t.Helper()
	start := time.Now()
	for _, i := range idx {
		testclient.Eventually(tc.t, propagation, what+" on node "+strconv.Itoa(i), func() bool { return check(i) })
	}
	tc.t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
}

// fileDef returns tenant's definition in node i's tenants-file.
func (tc *tenantCluster) fileDef(i int, tenant string) (map[string]any, bool) {
	tc.t.Helper()
	data, err := os.ReadFile(filepath.Join(tc.nodes[i].Dir, tenantsFile))
	if err != nil {
		tc.t.Fatalf("node %d: %v", i, err)
	}
	var doc struct {
		Tenants []map[string]any `json:"tenants"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		tc.t.Fatalf("node %d: tenants-file: %v\n%s", i, err, data)
	}
	for _, d := range doc.Tenants {
		if d["name"] == tenant {
			return d, true
		}
	}
	return nil, false
}

// TestTenantsReachEveryNode: create, limit change, credential rotation
// and deletion made on one node reach the others.
func TestTenantsReachEveryNode(t *testing.T) {
	tc := startTenantCluster(t, 3)
	all := []int{0, 1, 2}

	// Created on node 0: AUTH works on 1 and 2.
	tc.api(0, http.StatusCreated, "PUT", "/v1/tenants/acme", `{"password":"s3cret","limits":{"max_jobs":2}}`)
	tc.waitAll("create reaches", all, func(i int) bool { return tc.auth(i, "acme", "s3cret") == "+OK" })
	if got := tc.limits(2, "acme"); got != `{"max_jobs":2}` {
		t.Fatalf("node 2 limits %s", got)
	}

	// A limit change on node 1 reaches 0 and 2, and applies there.
	tc.api(1, http.StatusOK, "PUT", "/v1/tenants/acme/limits", `{"max_jobs":1}`)
	tc.waitAll("limit change reaches", all, func(i int) bool { return tc.limits(i, "acme") == `{"max_jobs":1}` })
	c := tc.dial(2)
	c.Expect("+OK", "AUTH", "acme", "s3cret")
	c.AddJob("q", "one", "REPLICATE", "1")
	if r := c.Do("ADDJOB", "q", "two", "0", "REPLICATE", "1").String(); !strings.HasPrefix(r, "-QUOTA max_jobs") {
		t.Fatalf("node 2, second ADDJOB with max_jobs 1: %s", r)
	}
	c.Close()

	// A credential rotation on node 2: the new password works everywhere,
	// the old one nowhere.
	tc.api(2, http.StatusOK, "POST", "/v1/tenants/acme/credentials", `{"password":"rotated"}`)
	tc.waitAll("rotation reaches", all, func(i int) bool {
		return tc.auth(i, "acme", "rotated") == "+OK" && strings.HasPrefix(tc.auth(i, "acme", "s3cret"), "-WRONGPASS")
	})

	// Deleted on node 2: gone everywhere, the tombstone persisted.
	tc.api(2, http.StatusNoContent, "DELETE", "/v1/tenants/acme", "")
	tc.waitAll("deletion reaches", all, func(i int) bool {
		return strings.HasPrefix(tc.auth(i, "acme", "rotated"), "-WRONGPASS") && tc.limits(i, "acme") == ""
	})
	for _, i := range all {
		d, ok := tc.fileDef(i, "acme")
		if !ok || d["deleted"] != true || d["version"] != float64(4) {
			t.Fatalf("node %d tenants-file: acme %v", i, d)
		}
	}
}

// TestTenantsAfterRestart: a node killed while definitions change gets the
// newest ones when it comes back (its links come up: anti-entropy), keeps
// them in its tenants-file, and has them after a restart on its own.
func TestTenantsAfterRestart(t *testing.T) {
	tc := startTenantCluster(t, 3)
	all := []int{0, 1, 2}
	tc.api(0, http.StatusCreated, "PUT", "/v1/tenants/beta", `{"password":"b","limits":{"max_jobs":3}}`)
	tc.api(0, http.StatusCreated, "PUT", "/v1/tenants/doomed", `{"password":"d"}`)
	tc.waitAll("creates reach", all, func(i int) bool {
		return tc.auth(i, "beta", "b") == "+OK" && tc.auth(i, "doomed", "d") == "+OK"
	})

	tc.kill(2)
	tc.api(0, http.StatusOK, "PUT", "/v1/tenants/beta/limits", `{"max_jobs":5}`)
	tc.api(1, http.StatusCreated, "PUT", "/v1/tenants/gamma", `{"password":"g"}`)
	tc.api(1, http.StatusNoContent, "DELETE", "/v1/tenants/doomed", "")
	tc.waitAll("changes reach the live nodes", []int{0, 1}, func(i int) bool {
		return tc.limits(i, "beta") == `{"max_jobs":5}` && tc.auth(i, "gamma", "g") == "+OK" && tc.limits(i, "doomed") == ""
	})

	tc.restart(2)
	tc.waitAdmin(2)
	tc.waitAll("newest definitions reach the restarted node", []int{2}, func(i int) bool {
		return tc.limits(i, "beta") == `{"max_jobs":5}` && tc.auth(i, "gamma", "g") == "+OK" && tc.limits(i, "doomed") == ""
	})
	if d, ok := tc.fileDef(2, "gamma"); !ok || d["password_hash"] == nil || d["version"] != float64(1) {
		t.Fatalf("node 2 tenants-file: gamma %v", d)
	}
	if d, ok := tc.fileDef(2, "doomed"); !ok || d["deleted"] != true {
		t.Fatalf("node 2 tenants-file: doomed %v", d)
	}

	// Node 2 alone (the others stopped): the definitions it received come
	// from its tenants-file.
	tc.nodes[0].Stop()
	tc.nodes[1].Stop()
	tc.restart(2)
	tc.waitAdmin(2)
	if r := tc.auth(2, "gamma", "g"); r != "+OK" {
		t.Fatalf("node 2 alone: AUTH gamma: %s", r)
	}
	if got := tc.limits(2, "beta"); got != `{"max_jobs":5}` {
		t.Fatalf("node 2 alone: beta limits %s", got)
	}
	if r := tc.auth(2, "doomed", "d"); !strings.HasPrefix(r, "-WRONGPASS") {
		t.Fatalf("node 2 alone: AUTH doomed: %s", r)
	}
}
