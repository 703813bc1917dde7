package tenant_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/tenant"
)

// TestTenantDeletion: deleting a tenant closes its connections (a blocked
// GETJOB included), drops its jobs and queues, and leaves other tenants
// alone; a tenant created again with the same name starts empty.
func TestTenantDeletion(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("gamma", "pg", nil)
	e.putTenant("delta", "pd", nil)
	g1 := e.dial("gamma", "pg")
	g2 := e.dial("gamma", "pg")
	gBlocked := e.dial("gamma", "pg")
	dl := e.dial("delta", "pd")
	def := e.dial("", "")
	var gIDs []string
	for i := 0; i < 10; i++ {
		gIDs = append(gIDs, addJob(t, g1, "q", "gamma-body"))
		addJob(t, g1, "other", "gamma-body")
	}
	g1.GetJobs("NOHANG", "COUNT", "3", "FROM", "q")
	dID := addJob(t, dl, "q", "delta-body")
	defID := addJob(t, def, "q", "default-body")
	gBlocked.Send("GETJOB", "TIMEOUT", "0", "FROM", "empty")
	e.waitUsage("gamma", 3*time.Second, "20 jobs, 3 connections", func(u tenant.Usage) bool {
		return u.Jobs == 20 && u.Connections == 3
	})

	e.api(204, "DELETE", "/v1/tenants/gamma", nil)
	for _, c := range []*testclient.Conn{g1, g2, gBlocked} {
		c.ExpectClosed(5*time.Second, "a deleted tenant's connection")
	}
	e.dial("", "").Expect(errWrongPass, "AUTH", "gamma", "pg")
	e.api(404, "GET", "/v1/tenants/gamma/usage", nil)
	// Others: untouched.
	dl.Expect(":1", "QLEN", "q")
	def.Expect(":1", "QLEN", "q")
	if showState(t, dl, dID) != "queued" || showState(t, def, defID) != "queued" {
		t.Errorf("other tenants' jobs changed by gamma's deletion")
	}
	if u := e.usage("delta"); u.Jobs != 1 || u.Connections != 1 {
		t.Errorf("delta usage: %+v", u)
	}
	// Same name again: nothing of the old gamma.
	e.putTenant("gamma", "pg2", nil)
	g := e.dial("gamma", "pg2")
	testclient.Eventually(t, 5*time.Second, "the old gamma's jobs gone", func() bool {
		return len(scanAll(t, g, "JSCAN")) == 0 && len(scanAll(t, g, "QSCAN")) == 0
	})
	g.Expect(":0", "QLEN", "q")
	for _, id := range gIDs {
		g.Expect("(nil)", "SHOW", id)
	}
	if u := e.usage("gamma"); u.Jobs != 0 || u.Bytes != 0 || u.Queues != 0 || u.Connections != 1 {
		t.Errorf("the new gamma's usage: %+v", u)
	}
	if info := g.Info("jobs"); info["registered_jobs"] != "0" {
		t.Errorf("the new gamma's INFO registered_jobs: %s", info["registered_jobs"])
	}
	addJob(t, g, "q", "new")
	g.Expect(":1", "QLEN", "q")
}

// TestTenantsFilePersistence: tenant definitions (passwords, limits, the
// default tenant's limits, deletions) survive a restart.
func TestTenantsFilePersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEnvIn(t, dir, "--tenants-file", "tenants.json")
	e.putTenant("alpha", "pa", limits{"max_jobs": 2, "produce_rate": 1000, "max_connections": 5})
	e.putTenant("beta", "pb", limits{"max_body_bytes": 3})
	e.putTenant("gone", "px", nil)
	e.setLimits("default", limits{"max_queues": 7})
	var cr tenant.CredentialsResponse
	decodeJSON(t, e.api(200, "POST", "/v1/tenants/beta/credentials", nil), &cr)
	e.api(204, "DELETE", "/v1/tenants/gone", nil)

	before := map[string]tenant.TenantView{}
	var list tenant.TenantList
	decodeJSON(t, e.api(200, "GET", "/v1/tenants", nil), &list)
	for _, v := range list.Tenants {
		before[v.Name] = v
	}
	var file struct {
		Format  string            `json:"format"`
		Version int               `json:"version"`
		Tenants []json.RawMessage `json:"tenants"`
	}
	path := filepath.Join(dir, "tenants.json")
	decodeJSON(t, []byte(readFile(t, path)), &file)
	if file.Format != "disq-tenants" || file.Version != 1 {
		t.Errorf("tenants-file header: %+v", file)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tenants-file mode: %v %v; want 0600", fi.Mode(), err)
	}

	e.srv.Restart()
	testclient.Eventually(t, 10*time.Second, "the admin API after the restart", func() bool {
		st, _, _ := e.requestNoFail("GET", "/healthz")
		return st == 200
	})
	decodeJSON(t, e.api(200, "GET", "/v1/tenants", nil), &list)
	if len(list.Tenants) != len(before) {
		t.Errorf("after the restart: %d tenants; want %d", len(list.Tenants), len(before))
	}
	for _, v := range list.Tenants {
		b, ok := before[v.Name]
		if !ok {
			t.Errorf("after the restart: unexpected tenant %s", v.Name)
			continue
		}
		if !v.Limits.Equal(&b.Limits) || v.Version != b.Version || v.HasPassword != b.HasPassword || !v.Created.Equal(b.Created) {
			t.Errorf("after the restart %s is %+v; was %+v", v.Name, v, b)
		}
	}
	e.api(404, "GET", "/v1/tenants/gone", nil)
	d := e.dial("", "")
	d.Expect(errWrongPass, "AUTH", "gone", "px")
	d.Expect(errWrongPass, "AUTH", "beta", "pb")
	b := e.dial("beta", cr.Password)
	b.Expect("-QUOTA max_body_bytes 4/3", "ADDJOB", "q", "xxxx", "0")
	a := e.dial("alpha", "pa")
	addJob(t, a, "q", "x")
	addJob(t, a, "q", "x")
	a.Expect("-QUOTA max_jobs 2/2", "ADDJOB", "q", "x", "0")
	if m := e.metrics(); m[`disq_tenant_limit{limit="max_queues",tenant="default"}`] != 7 {
		t.Errorf("default's max_queues after the restart: %v", m[`disq_tenant_limit{limit="max_queues",tenant="default"}`])
	}
	// A change after the restart is persisted too.
	e.setLimits("alpha", limits{"max_jobs": 3})
	if !strings.Contains(readFile(t, path), `"max_jobs": 3`) {
		t.Errorf("tenants-file after a change: %s", readFile(t, path))
	}
}

// requestNoFail is a GET that reports transport errors as status 0.
func (e *env) requestNoFail(method, path string) (int, []byte, error) {
	req, err := http.NewRequest(method, e.adminURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := e.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	return res.StatusCode, nil, nil
}
