package tenant

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRegistryDefault(t *testing.T) {
	r, _ := newReg(t)
	d := r.Default()
	if d == nil || d.Name() != DefaultName || d.Index() != 0 || r.ByIndex(0) != d || r.ByName(DefaultName) != d {
		t.Fatal("default tenant missing")
	}
	if r.Configured() {
		t.Fatal("configured with only default")
	}
	if d.Version() != 0 || d.HasPassword() {
		t.Fatal("default version/password")
	}
	// default can be limited, not deleted, and takes no password.
	tn, created, err := r.Put(DefaultName, nil, ptr(lim(MaxJobs, 5)))
	noErr(t, err)
	if created || tn != d || d.Limits().Get(MaxJobs) != 5 || d.Version() != 1 {
		t.Fatalf("limit default: created=%v version=%d", created, d.Version())
	}
	if _, _, err := r.Put(DefaultName, ptr("pw"), ptr(Limits{})); !errors.Is(err, ErrDefaultTenant) {
		t.Fatalf("default password: %v", err)
	}
	if _, err := r.SetPassword(DefaultName, "pw"); !errors.Is(err, ErrDefaultTenant) {
		t.Fatalf("default rotate: %v", err)
	}
	if err := r.Delete(DefaultName); !errors.Is(err, ErrDefaultTenant) {
		t.Fatalf("delete default: %v", err)
	}
	if r.Configured() {
		t.Fatal("limiting default configures tenants")
	}
}

func TestRegistryCreateReplaceDelete(t *testing.T) {
	r, clk := newReg(t)
	var changes []string
	r.Watch(func(c Change) { changes = append(changes, c.Kind.String()+":"+c.Tenant.Name()) })

	if _, _, err := r.Put("acme", nil, ptr(Limits{})); !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("create without password: %v", err)
	}
	if _, _, err := r.Put("acme", ptr(""), ptr(Limits{})); !errors.Is(err, ErrInvalidPassword) {
		t.Fatalf("empty password: %v", err)
	}
	if _, _, err := r.Put("acme", ptr(strings.Repeat("x", 513)), nil); !errors.Is(err, ErrInvalidPassword) {
		t.Fatalf("long password: %v", err)
	}
	tn, created, err := r.Put("acme", ptr("s3cret"), ptr(lim(MaxJobs, 10)))
	noErr(t, err)
	if !created || tn.Index() != 1 || tn.Version() != 1 || !r.Configured() || r.ByName("acme") != tn || r.ByIndex(1) != tn {
		t.Fatalf("create: %v %d %d", created, tn.Index(), tn.Version())
	}
	created1 := tn.meta.Load().created
	clk.Advance(time.Second)
	// Replace: password optional (kept), limits replaced whole.
	tn2, created, err := r.Put("acme", nil, ptr(lim(MaxQueues, 3)))
	noErr(t, err)
	if created || tn2 != tn || tn.Version() != 2 || tn.Limits().IsSet(MaxJobs) || tn.Limits().Get(MaxQueues) != 3 {
		t.Fatalf("replace: created=%v v=%d limits=%v", created, tn.Version(), tn.Limits().Set())
	}
	if m := tn.meta.Load(); !m.created.Equal(created1) || !m.updated.After(created1) {
		t.Fatal("timestamps")
	}
	if _, err := r.Authenticate([]byte("acme"), []byte("s3cret")); err != nil {
		t.Fatal("password not kept on replace")
	}
	// nil limits keep the current ones.
	if _, _, err := r.Put("acme", ptr("s3cret"), nil); err != nil || tn.Limits().Get(MaxQueues) != 3 || tn.Version() != 3 {
		t.Fatalf("nil limits: %v %v v%d", err, tn.Limits().Set(), tn.Version())
	}
	_, err = r.SetPassword("acme", "n3w")
	noErr(t, err)
	if _, err := r.Authenticate([]byte("acme"), []byte("s3cret")); !errors.Is(err, ErrWrongPass) {
		t.Fatal("old password still valid")
	}
	if tn.Version() != 4 {
		t.Fatal(tn.Version())
	}
	_, err = r.SetLimits("acme", lim(MaxJobs, 1))
	noErr(t, err)
	if tn.Version() != 5 {
		t.Fatal(tn.Version())
	}
	noErr(t, r.Delete("acme"))
	if r.ByName("acme") != nil || r.Configured() || !tn.Deleted() {
		t.Fatal("not deleted")
	}
	if err := r.Delete("acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := r.SetLimits("acme", Limits{}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := r.SetPassword("acme", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	// Re-created: the version continues past the tombstone.
	tn3 := mustPut(t, r, "acme", Limits{})
	if tn3 == tn || tn3.Version() != 7 {
		t.Fatalf("recreate version %d", tn3.Version())
	}
	want := []string{"created:acme", "updated:acme", "updated:acme", "updated:acme", "updated:acme", "deleted:acme", "created:acme"}
	if !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes %v", changes)
	}
}

func TestRegistryNames(t *testing.T) {
	r, _ := newReg(t)
	for _, ok := range []string{"a", "acme", "a-b_c", "0", strings.Repeat("z", 64), "default"} {
		if !ValidName(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "Acme", "a b", "a/b", "a.b", "é", strings.Repeat("z", 65), "a\x00"} {
		if ValidName(bad) {
			t.Errorf("%q accepted", bad)
		}
		if _, _, err := r.Put(bad, ptr("pw"), ptr(Limits{})); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Put(%q): %v", bad, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	pass := "rp"
	var mu sync.Mutex
	r, err := New(Options{DefaultPassword: func() string { mu.Lock(); defer mu.Unlock(); return pass }})
	noErr(t, err)
	acme := mustPut(t, r, "acme", Limits{})
	var calls atomic.Int64
	ctHook = func() { calls.Add(1) }
	defer func() { ctHook = nil }()

	check := func(name, pw string, want *Tenant) {
		t.Helper()
		before := calls.Load()
		got, err := r.Authenticate([]byte(name), []byte(pw))
		if want == nil {
			if got != nil || !errors.Is(err, ErrWrongPass) {
				t.Fatalf("AUTH %s %s: %v %v", name, pw, got, err)
			}
			if err.Error() != "WRONGPASS invalid username-password pair or user is disabled." {
				t.Fatal(err.Error())
			}
		} else if got != want || err != nil {
			t.Fatalf("AUTH %s %s: %v %v", name, pw, got, err)
		}
		if calls.Load() == before && !(name == DefaultName && pass == "") {
			t.Fatalf("AUTH %s did not use the constant-time compare", name)
		}
	}
	check("acme", "pw-acme", acme)
	check("acme", "pw-acmf", nil)
	check("acme", "", nil)
	check("acme", strings.Repeat("p", 600), nil)
	check("nobody", "pw-acme", nil)
	check(DefaultName, "rp", r.Default())
	check(DefaultName, "wrong", nil)
	mu.Lock()
	pass = "changed" // requirepass read live
	mu.Unlock()
	check(DefaultName, "rp", nil)
	check(DefaultName, "changed", r.Default())
	mu.Lock()
	pass = ""
	mu.Unlock()
	check(DefaultName, "anything", r.Default())
	noErr(t, r.Delete("acme"))
	check("acme", "pw-acme", nil)
}

func TestIndexReuseAfterDrain(t *testing.T) {
	r, _ := newReg(t)
	a := mustPut(t, r, "a", Limits{})
	b := mustPut(t, r, "b", Limits{})
	if a.Index() != 1 || b.Index() != 2 {
		t.Fatal("indexes")
	}
	noErr(t, a.AdmitProduce(r.Now(), 1, 1, 1, 0))
	noErr(t, r.Delete("a"))
	if r.ByIndex(1) != a {
		t.Fatal("a deleted tenant must stay reachable by index while it drains")
	}
	c := mustPut(t, r, "c", Limits{})
	if c.Index() != 3 {
		t.Fatalf("index of a draining tenant reused: %d", c.Index())
	}
	a.ReleaseJobs(1, 1)
	d := mustPut(t, r, "d", Limits{})
	if d.Index() != 1 || r.ByIndex(1) != d {
		t.Fatalf("drained index not reused: %d", d.Index())
	}
	if r.ByIndex(200) != nil {
		t.Fatal("ByIndex out of range")
	}
}

func TestApplyNewestWins(t *testing.T) {
	r, _ := newReg(t)
	tn := mustPut(t, r, "acme", lim(MaxJobs, 1)) // version 1
	defs := r.Export()
	if len(defs) != 2 || defs[0].Name != "acme" || defs[1].Name != DefaultName {
		t.Fatalf("export %+v", defs)
	}
	d := defs[0]
	ok, err := r.Apply(d) // the same definition: not newer
	noErr(t, err)
	if ok {
		t.Fatal("same definition applied")
	}
	// Two different changes with the same version and time (made on two
	// nodes at once): one wins, the same on every node.
	d.Limits = lim(MaxJobs, 2)
	if d.newer(&defs[0]) == defs[0].newer(&d) {
		t.Fatal("concurrent changes: no single winner")
	}
	d.Version = 5
	ok, err = r.Apply(d)
	noErr(t, err)
	if !ok || tn.Version() != 5 || tn.Limits().Get(MaxJobs) != 2 {
		t.Fatal("newer not applied")
	}
	d.Version = 4
	d.Limits = lim(MaxJobs, 3)
	if ok, _ := r.Apply(d); ok {
		t.Fatal("older applied")
	}
	// A tombstone deletes; an older definition does not bring it back.
	ok, err = r.Apply(Definition{Name: "acme", Version: 6, Deleted: true, Updated: time.Now()})
	noErr(t, err)
	if !ok || r.ByName("acme") != nil {
		t.Fatal("tombstone not applied")
	}
	d.Version = 5
	if ok, _ := r.Apply(d); ok || r.ByName("acme") != nil {
		t.Fatal("resurrected by an older definition")
	}
	d.Version = 7
	if ok, _ := r.Apply(d); !ok || r.ByName("acme") == nil {
		t.Fatal("newer definition after a tombstone not applied")
	}
	if _, err := r.Apply(Definition{Name: "x", Version: 9, PasswordHash: "md5$x$y"}); err == nil {
		t.Fatal("bad hash accepted")
	}
	if _, err := r.Apply(Definition{Name: "x", Version: 9}); !errors.Is(err, ErrPasswordRequired) {
		t.Fatal("definition without password accepted")
	}
	if _, err := r.Apply(Definition{Name: DefaultName, Version: 9, Deleted: true}); err == nil {
		t.Fatal("default deleted")
	}
}

// TestApplyAll: a peer's batch is applied in one go (newest of the batch
// per name, invalid entries skipped), persisted, and reported to the
// watchers as FromPeer; local changes are not.
func TestApplyAll(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.json")
	src, _ := newReg(t) // the peer
	mustPut(t, src, "acme", lim(MaxJobs, 1))
	mustPut(t, src, "beta", Limits{})
	mustPut(t, src, "gone", Limits{})
	noErr(t, src.Delete("gone"))
	_, err := src.SetLimits("acme", lim(MaxJobs, 2))
	noErr(t, err)
	defs := slices.DeleteFunc(src.Export(), func(d Definition) bool { return d.Name == DefaultName })

	r, err := New(Options{File: file})
	noErr(t, err)
	var changes []Change
	r.Watch(func(c Change) { changes = append(changes, c) })
	mustPut(t, r, "gone", Limits{}) // version 1 here, the peer's tombstone is version 2
	if len(changes) != 1 || changes[0].FromPeer || changes[0].Def.Name != "gone" || changes[0].Def.Version != 1 {
		t.Fatalf("local change: %+v", changes)
	}
	old := defs[0] // acme version 1 of the peer, older than its version 2 in the batch
	old.Version, old.Limits = 1, lim(MaxJobs, 9)
	batch := append([]Definition{old, {Name: "Bad!", Version: 1}}, defs...)
	n, err := r.ApplyAll(batch)
	if !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid entry: %v", err)
	}
	// acme, beta, gone.
	if n != 3 || r.ByName("acme").Limits().Get(MaxJobs) != 2 || r.ByName("beta") == nil || r.ByName("gone") != nil {
		t.Fatalf("applied %d: acme %v", n, r.ByName("acme"))
	}
	if _, err := r.Authenticate([]byte("beta"), []byte("pw-beta")); err != nil {
		t.Fatal("the peer's password hash does not authenticate")
	}
	kinds := map[string]ChangeKind{}
	for _, c := range changes[1:] {
		if !c.FromPeer {
			t.Fatalf("peer change not FromPeer: %+v", c)
		}
		kinds[c.Def.Name] = c.Kind
	}
	if kinds["acme"] != Created || kinds["beta"] != Created || kinds["gone"] != Deleted || len(kinds) != 3 {
		t.Fatalf("changes %v", kinds)
	}
	// Applying the same batch again changes nothing.
	if n, _ := r.ApplyAll(defs); n != 0 {
		t.Fatalf("re-applied %d", n)
	}
	r2, err := New(Options{File: file})
	noErr(t, err)
	if !reflect.DeepEqual(r.Export(), r2.Export()) {
		t.Fatalf("persisted state differs:\n%+v\n%+v", r.Export(), r2.Export())
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.json")
	clk := newFakeClock()
	r, err := New(Options{File: file, Clock: clk.Now})
	noErr(t, err)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatal("file written before any change")
	}
	mustPut(t, r, "acme", lim(MaxJobs, 10, ProduceRate, 100))
	mustPut(t, r, "beta", Limits{})
	mustPut(t, r, "gone", Limits{})
	noErr(t, r.Delete("gone"))
	_, _, err = r.Put(DefaultName, nil, ptr(lim(MaxConnections, 7)))
	noErr(t, err)
	_, err = r.SetPassword("beta", "rotated")
	noErr(t, err)

	st, err := os.Stat(file)
	noErr(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), `"format": "disq-tenants"`) || strings.Contains(string(data), "rotated") ||
		strings.Contains(string(data), "pw-acme") {
		t.Fatalf("file content:\n%s", data)
	}

	r2, err := New(Options{File: file, Clock: clk.Now})
	noErr(t, err)
	if !reflect.DeepEqual(r.Export(), r2.Export()) {
		t.Fatalf("reload differs:\n%+v\n%+v", r.Export(), r2.Export())
	}
	for _, name := range []string{DefaultName, "acme", "beta"} {
		a, b := r.ByName(name), r2.ByName(name)
		if b == nil || a.Version() != b.Version() || !a.Limits().Equal(b.Limits()) || a.HasPassword() != b.HasPassword() {
			t.Fatalf("%s differs after reload", name)
		}
		if a.HasPassword() && a.meta.Load().cred.String() != b.meta.Load().cred.String() {
			t.Fatalf("%s: hash differs after reload", name)
		}
	}
	if r2.ByName("gone") != nil {
		t.Fatal("deleted tenant reloaded")
	}
	if _, err := r2.Authenticate([]byte("beta"), []byte("rotated")); err != nil {
		t.Fatal("rotated password lost")
	}
	if _, err := r2.Authenticate([]byte("acme"), []byte("pw-acme")); err != nil {
		t.Fatal("password lost")
	}
	// The version continues past the tombstone after a restart too.
	if g := mustPut(t, r2, "gone", Limits{}); g.Version() != 3 {
		t.Fatalf("recreated version %d", g.Version())
	}
}

func TestPersistenceFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "tenants.json")
	noErr(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	r, err := New(Options{File: file})
	noErr(t, err)
	tn := mustPut(t, r, "acme", lim(MaxJobs, 1))
	noErr(t, os.RemoveAll(filepath.Join(dir, "sub"))) // the directory vanishes: writes fail
	if _, err := r.SetLimits("acme", lim(MaxJobs, 2)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SetLimits: %v", err)
	}
	if _, _, err := r.Put("beta", ptr("x"), ptr(Limits{})); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put: %v", err)
	}
	if err := r.Delete("acme"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Delete: %v", err)
	}
	if tn.Limits().Get(MaxJobs) != 1 || tn.Version() != 1 || r.ByName("beta") != nil || r.ByName("acme") != tn {
		t.Fatal("a refused change changed the registry")
	}
	if len(r.Export()) != 2 {
		t.Fatal(r.Export())
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := Definition{Name: "acme", Version: 1, PasswordHash: func() string { c, _ := newCredential("x"); return c.String() }()}
	doc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	cases := map[string]string{
		"not json":      "tenants",
		"other format":  `{"format":"redis-acl","version":1,"tenants":[]}`,
		"newer version": `{"format":"disq-tenants","version":2,"tenants":[]}`,
		"unknown field": `{"format":"disq-tenants","version":1,"tenants":[],"x":1}`,
		"bad name":      `{"format":"disq-tenants","version":1,"tenants":[{"name":"A","version":1}]}`,
		"twice":         `{"format":"disq-tenants","version":1,"tenants":[` + doc(good) + `,` + doc(good) + `]}`,
		"no password":   `{"format":"disq-tenants","version":1,"tenants":[{"name":"x","version":1}]}`,
		"bad hash":      `{"format":"disq-tenants","version":1,"tenants":[{"name":"x","version":1,"password_hash":"sha256$$"}]}`,
		"negative":      `{"format":"disq-tenants","version":1,"tenants":[{"name":"default","version":1,"limits":{"max_jobs":-1}}]}`,
		"default gone":  `{"format":"disq-tenants","version":1,"tenants":[{"name":"default","version":1,"deleted":true}]}`,
		"default pass":  `{"format":"disq-tenants","version":1,"tenants":[{"name":"default","version":1,"password_hash":"` + good.PasswordHash + `"}]}`,
	}
	for name, content := range cases {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		noErr(t, os.WriteFile(f, []byte(content), 0o600))
		if _, err := New(Options{File: f}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	f := filepath.Join(dir, "good")
	noErr(t, os.WriteFile(f, []byte(`{"format":"disq-tenants","version":1,"tenants":[`+doc(good)+`]}`), 0o600))
	r, err := New(Options{File: f})
	noErr(t, err)
	if r.ByName("acme") == nil || r.ByName(DefaultName) == nil {
		t.Fatal("good file")
	}
}

// Admin changes race with the hot path: run with -race.
func TestConcurrentAdminAndHotPath(t *testing.T) {
	dir := t.TempDir()
	r, err := New(Options{File: filepath.Join(dir, "t.json")})
	noErr(t, err)
	names := []string{"t0", "t1", "t2", "t3"}
	for _, n := range names {
		mustPut(t, r, n, lim(MaxJobs, 100))
	}
	stop := make(chan struct{})
	var hot sync.WaitGroup
	for w := range 4 {
		hot.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tn, err := r.Authenticate([]byte(names[(w+i)%4]), []byte("pw-"+names[(w+i)%4]))
				if err != nil {
					continue // deleted meanwhile
				}
				if tn.AdmitConnection() == nil {
					tn.ReleaseConnection()
				}
				if tn.AdmitProduce(r.Now(), 1, 10, 10, 1) == nil {
					tn.Count(EventAdded, 1)
					tn.ReleaseJobs(1, 10)
				}
				if t2 := r.ByIndex(tn.Index()); t2 != nil {
					_ = t2.Limits().Get(MaxJobs)
				}
				_, _ = tn.ConsumeGrant(r.Now(), 2)
				_ = r.Configured()
				runtime.Gosched()
			}
		})
	}
	var admin sync.WaitGroup
	for a := range 3 {
		admin.Go(func() {
			for i := range 30 {
				n := names[(a+i)%4]
				switch i % 4 {
				case 0:
					_, _ = r.SetLimits(n, lim(MaxJobs, 50+i, ProduceRate, 1000+i))
				case 1:
					_, _, _ = r.Put(n, ptr("pw-"+n), ptr(lim(MaxQueues, i)))
				case 2:
					_ = r.Delete(n)
				case 3:
					_, _, _ = r.Put(n, ptr("pw-"+n), ptr(Limits{}))
				}
				_ = r.List()
				_ = r.Export()
			}
		})
	}
	admin.Wait()
	close(stop)
	hot.Wait()
	for _, tn := range r.snap.Load().byIndex {
		if tn != nil && !tn.drained() {
			t.Fatalf("%s: usage left %+v", tn.Name(), tn.Usage())
		}
	}
}
