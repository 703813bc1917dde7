package tenant_test

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/promtext"
)

// TestReadmeExample: the operator flow of the README with the real
// disq-admin binary:
//
//	disq-admin tenants create acme --password s3cret --limit max_jobs=2
//
// then two ADDJOBs of acme succeed (through redis-cli when it is on PATH,
// else the raw client), the third gets -QUOTA max_jobs 2/2, and /metrics
// (read with disq-admin metrics too) has
// disq_tenant_jobs_held{tenant="acme"} 2 and
// disq_tenant_quota_rejections_total{tenant="acme",limit="max_jobs"} 1.
func TestReadmeExample(t *testing.T) {
	t.Parallel()
	e := startEnv(t, "--admin-token", "tok-readme")
	admin := buildTool(t, "disq-admin")
	run := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, admin, append([]string{"--addr", e.adminURL, "--token", "tok-readme"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("disq-admin %s: %v", strings.Join(args, " "), err)
		}
		return out.String(), code
	}
	if out, code := run("tenants", "create", "acme", "--password", "s3cret", "--limit", "max_jobs=2"); code != 0 {
		t.Fatalf("disq-admin tenants create: exit %d\n%s", code, out)
	}
	if out, code := run("tenants", "create", "acme", "--password", "other"); code != 1 {
		t.Errorf("creating acme again: exit %d; want 1\n%s", code, out)
	}
	if out, code := run("limits", "get", "acme"); code != 0 || !strings.Contains(out, "max_jobs") || !strings.Contains(out, "2") {
		t.Errorf("disq-admin limits get acme: exit %d\n%s", code, out)
	}

	var replies []string
	if cli, err := exec.LookPath("redis-cli"); err == nil {
		for i := 0; i < 3; i++ {
			cmd := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(e.srv.Port), "--no-auth-warning",
				"--user", "acme", "--pass", "s3cret", "ADDJOB", "myqueue", "job-"+strconv.Itoa(i), "0")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("redis-cli: %v\n%s", err, out)
			}
			replies = append(replies, strings.TrimSpace(string(out)))
		}
	} else {
		c := e.dial("acme", "s3cret")
		for i := 0; i < 3; i++ {
			replies = append(replies, strings.TrimPrefix(c.DoS("ADDJOB", "myqueue", "job-"+strconv.Itoa(i), "0"), "+"))
		}
	}
	for i := 0; i < 2; i++ {
		if !strings.HasPrefix(replies[i], "D-") {
			t.Errorf("ADDJOB %d: %q; want a job ID", i+1, replies[i])
		}
	}
	if !strings.HasSuffix(replies[2], "QUOTA max_jobs 2/2") {
		t.Errorf("third ADDJOB: %q; want QUOTA max_jobs 2/2", replies[2])
	}

	m := e.metrics()
	if v, ok := m[`disq_tenant_jobs_held{tenant="acme"}`]; !ok || v != 2 {
		t.Errorf(`disq_tenant_jobs_held{tenant="acme"}: %v (present %v); want 2`, v, ok)
	}
	if v, ok := m[`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="acme"}`]; !ok || v != 1 {
		t.Errorf(`disq_tenant_quota_rejections_total{tenant="acme",limit="max_jobs"}: %v (present %v); want 1`, v, ok)
	}
	out, code := run("metrics")
	if code != 0 {
		t.Fatalf("disq-admin metrics: exit %d\n%s", code, out)
	}
	pm, err := promtext.Parse(out)
	if err != nil {
		t.Fatalf("disq-admin metrics output does not parse: %v", err)
	}
	if pm[`disq_tenant_jobs_held{tenant="acme"}`] != 2 || pm[`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="acme"}`] != 1 {
		t.Errorf("disq-admin metrics: jobs_held %v, rejections %v; want 2, 1",
			pm[`disq_tenant_jobs_held{tenant="acme"}`], pm[`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="acme"}`])
	}
	if out, code := run("usage", "acme"); code != 0 || !strings.Contains(out, "2") {
		t.Errorf("disq-admin usage acme: exit %d\n%s", code, out)
	}
	// Without the token, disq-admin reports the API's 401.
	cmd := exec.Command(admin, "--addr", e.adminURL, "tenants", "list")
	cmd.Env = append(cmd.Environ(), "DISQ_ADMIN_TOKEN=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("disq-admin without the token: %v\n%s", err, out)
	}
}
