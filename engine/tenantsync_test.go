package engine

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"disq/engine/config"
	"disq/internal/testclient"
	"disq/replicate"
	"disq/tenant"
)

// defsOf returns n definitions from a registry (sorted by name), each
// with a password hash and limits, the way a node exports them.
func defsOf(t *testing.T, n int) []tenant.Definition {
	t.Helper()
	r, err := tenant.New(tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		pw := "pw"
		l := tenant.Limits{}.With(tenant.MaxJobs, int64(i))
		if _, _, err := r.Put(fmt.Sprintf("t%05d", i), &pw, &l); err != nil {
			t.Fatal(err)
		}
	}
	return slices.DeleteFunc(r.Export(), func(d tenant.Definition) bool { return d.Name == tenant.DefaultName })
}

func encodeAll(t *testing.T, defs []tenant.Definition) []tenantEnc {
	t.Helper()
	var out []tenantEnc
	for i := range defs {
		e, ok := encodeTenant(&defs[i])
		if !ok {
			t.Fatal("encode", defs[i].Name)
		}
		out = append(out, e)
	}
	return out
}

// roundTrip encodes m for the bus and decodes it back.
func roundTrip(t *testing.T, m *replicate.Msg) replicate.Msg {
	t.Helper()
	enc := replicate.AppendMsg(nil, m)
	got, n, err := replicate.DecodeMsg(enc)
	if err != nil || n != len(enc) {
		t.Fatalf("decode: %v", err)
	}
	return got
}

func TestTenantMsgsRoundTrip(t *testing.T) {
	defs := defsOf(t, 200) // about 50 KiB of JSON
	local := encodeAll(t, defs)
	const max = 8 << 10
	msgs := tenantMsgs(local, false, max)
	if len(msgs) < 4 {
		t.Fatalf("%d messages for %d definitions", len(msgs), len(defs))
	}
	var got []tenant.Definition
	for i := range msgs {
		if enc := replicate.AppendMsg(nil, &msgs[i]); len(enc) > max {
			t.Fatalf("message %d: %d bytes", i, len(enc))
		}
		m := roundTrip(t, &msgs[i])
		if m.Flags != 0 || len(m.Tenant) != 0 {
			t.Fatalf("definitions message flags %v", m.Flags)
		}
		for j := range m.Tenants {
			d, ok := decodeTenant(&m.Tenants[j])
			if !ok {
				t.Fatalf("decode %s", m.Tenants[j].Name)
			}
			got = append(got, d)
		}
	}
	if len(got) != len(defs) {
		t.Fatalf("%d definitions back, want %d", len(got), len(defs))
	}
	for i := range defs {
		// Times compare by instant (JSON keeps them to the nanosecond).
		a, b := defs[i], got[i]
		if !a.Created.Equal(b.Created) || !a.Updated.Equal(b.Updated) {
			t.Fatalf("%s: times differ", a.Name)
		}
		a.Created, a.Updated, b.Created, b.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) || b.PasswordHash == "" {
			t.Fatalf("definition %d\n got %+v\nwant %+v", i, b, a)
		}
	}
	if len(tenantMsgs(nil, false, tenantMsgBytes)) != 0 {
		t.Fatal("messages for no definitions")
	}

	// A digest in several messages: contiguous ranges, the last to the end.
	dg := tenantMsgs(local, true, 1024)
	if len(dg) < 2 {
		t.Fatalf("digest of %d in one message", len(local))
	}
	after, n := "", 0
	for i := range dg {
		m := roundTrip(t, &dg[i])
		if m.Flags&replicate.MsgDigest == 0 || string(m.Tenant) != after || (m.Flags&replicate.MsgDigestEnd != 0) != (i == len(dg)-1) {
			t.Fatalf("digest %d: flags %v after %q (want %q)", i, m.Flags, m.Tenant, after)
		}
		for _, e := range m.Tenants {
			if len(e.Def) != 0 || e.Sum != local[n].sum || e.Version != local[n].version {
				t.Fatalf("digest entry %s", e.Name)
			}
			n++
		}
		after = string(m.Tenants[len(m.Tenants)-1].Name)
		// Against itself, a digest asks for nothing.
		if miss := digestMissing(local, &m); len(miss) != 0 {
			t.Fatalf("digest %d: %d missing against the same definitions", i, len(miss))
		}
	}
	if n != len(local) {
		t.Fatalf("digest covers %d of %d", n, len(local))
	}
	empty := tenantMsgs(nil, true, tenantMsgBytes)
	if len(empty) != 1 || empty[0].Flags != replicate.MsgDigest|replicate.MsgDigestEnd || len(empty[0].Tenants) != 0 {
		t.Fatalf("empty digest %+v", empty)
	}
}

func TestDigestMissing(t *testing.T) {
	local := encodeAll(t, defsOf(t, 6)) // t00000 .. t00005
	names := func(l []tenantEnc) string {
		var s []string
		for _, e := range l {
			s = append(s, e.name)
		}
		return strings.Join(s, ",")
	}
	entry := func(i int, version, sum uint64) replicate.TenantDef {
		return replicate.TenantDef{Name: []byte(local[i].name), Version: version, Sum: sum}
	}
	same := func(i int) replicate.TenantDef { return entry(i, local[i].version, local[i].sum) }
	cases := []struct {
		what string
		m    replicate.Msg
		want string
	}{
		{"empty digest: everything", replicate.Msg{Flags: replicate.MsgDigestEnd}, "t00000,t00001,t00002,t00003,t00004,t00005"},
		{"older, different, absent", replicate.Msg{Flags: replicate.MsgDigestEnd, Tenants: []replicate.TenantDef{
			same(0), entry(1, local[1].version-1, local[1].sum), entry(2, local[2].version, local[2].sum+1), same(4), same(5)}},
			"t00001,t00002,t00003"},
		{"newer at the peer: nothing to send", replicate.Msg{Flags: replicate.MsgDigestEnd, Tenants: []replicate.TenantDef{
			same(0), same(1), same(2), same(3), same(4), entry(5, local[5].version+1, 0)}}, ""},
		{"a middle range", replicate.Msg{Tenant: []byte(local[1].name), Tenants: []replicate.TenantDef{same(3)}}, "t00002"},
		{"a last range", replicate.Msg{Flags: replicate.MsgDigestEnd, Tenant: []byte(local[3].name)}, "t00004,t00005"},
	}
	for _, c := range cases {
		c.m.Type = replicate.MsgTenant
		c.m.Flags |= replicate.MsgDigest
		m := roundTrip(t, &c.m) // a valid digest on the wire
		if got := names(digestMissing(local, &m)); got != c.want {
			t.Errorf("%s: sends %q, want %q", c.what, got, c.want)
		}
	}
}

func TestDecodeTenantRefuses(t *testing.T) {
	d := defsOf(t, 1)[0]
	e, _ := encodeTenant(&d)
	ok := e.entry(true)
	if _, good := decodeTenant(&ok); !good {
		t.Fatal("valid definition refused")
	}
	for what, te := range map[string]replicate.TenantDef{
		"other name":    {Name: []byte("x"), Version: e.version, Def: e.def},
		"other version": {Name: ok.Name, Version: e.version + 1, Def: e.def},
		"unknown field": {Name: ok.Name, Version: e.version, Def: []byte(strings.Replace(string(e.def), "{", `{"x":1,`, 1))},
		"trailing data": {Name: ok.Name, Version: e.version, Def: append(append([]byte(nil), e.def...), "{}"...)},
		"bad limits":    {Name: ok.Name, Version: e.version, Def: []byte(strings.Replace(string(e.def), `"limits":{`, `"limits":{"max_bytes":-1,`, 1))},
		"not json":      {Name: ok.Name, Version: e.version, Def: []byte("nope")},
		"version 0":     {Name: ok.Name, Def: []byte(`{"name":"t00000","version":0,"limits":{}}`)},
	} {
		if _, good := decodeTenant(&te); good {
			t.Errorf("%s: accepted", what)
		}
	}
}

// syncNode is one in-process engine with its cluster bus (no client listener).
type syncNode struct {
	e    *Engine
	c    *replicate.Cluster
	port int // client port (the bus is on port+10000)
}

// relay hands bus messages to the engine once it exists (as the server's).
type relay struct{ e atomic.Pointer[Engine] }

func (r *relay) OnMessages(from replicate.NodeID, msgs []replicate.Msg) {
	BusHandler{E: r.e.Load()}.OnMessages(from, msgs)
}

func (r *relay) OnMembership(v *replicate.View) { BusHandler{E: r.e.Load()}.OnMembership(v) }

func startSyncNode(t *testing.T) *syncNode {
	t.Helper()
	var c *replicate.Cluster
	var p int
	rl := &relay{}
	for attempt := 0; ; attempt++ {
		p = 12000 + rand.IntN(10768) // below the ephemeral ports, as proc.FreePort
		var err error
		c, err = replicate.New(replicate.Options{Addr: "127.0.0.1", Port: p, NodeTimeout: time.Second, Handler: rl})
		if err != nil {
			t.Fatal(err)
		}
		if err = c.Start(); err == nil {
			break
		}
		_ = c.Close()
		if attempt == 20 {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Dir = t.TempDir()
	e, err := New(cfg, Options{NodeID: c.MyID(), Cluster: c, Shards: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rl.e.Store(e)
	t.Cleanup(func() {
		_ = c.Close()
		e.Close()
	})
	return &syncNode{e: e, c: c, port: p}
}

// TestTenantSyncDigest: in-process nodes. A local change is broadcast; a
// definition that was not (applied as if from a peer) reaches the other
// node through the periodic digest.
func TestTenantSyncDigest(t *testing.T) {
	defer func(d time.Duration) { tenantDigestEvery = d }(tenantDigestEvery)
	tenantDigestEvery = 200 * time.Millisecond
	a, b := startSyncNode(t), startSyncNode(t)
	if err := a.c.Meet("127.0.0.1", b.port); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, f func() bool) { t.Helper(); testclient.Eventually(t, 10*time.Second, what, f) }
	wait("link", func() bool { return len(a.c.View().Reachable) == 1 && len(b.c.View().Reachable) == 1 })

	pw := "pw"
	if _, _, err := a.e.reg.Put("acme", &pw, nil); err != nil {
		t.Fatal(err)
	}
	wait("broadcast", func() bool { return b.e.reg.ByName("acme") != nil })
	if _, err := b.e.reg.Authenticate([]byte("acme"), []byte("pw")); err != nil {
		t.Fatal("received hash does not authenticate")
	}

	// Definitions only a peer's Apply installed (never broadcast): the
	// digest heals both ways. (The sleep lets both nodes finish their
	// link-up exchange first, so the digest alone carries these.)
	time.Sleep(100 * time.Millisecond)
	other := defsOf(t, 2) // t00000, t00001
	if ok, err := a.e.reg.Apply(other[0]); !ok || err != nil {
		t.Fatal(ok, err)
	}
	newer := b.e.reg.Export()[0] // acme
	newer.Version += 5
	newer.Limits = tenant.Limits{}.With(tenant.MaxJobs, 7)
	if ok, err := b.e.reg.Apply(newer); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := b.e.reg.Apply(other[1]); !ok || err != nil {
		t.Fatal(ok, err)
	}
	start := time.Now()
	wait("digest a -> b", func() bool { return b.e.reg.ByName("t00000") != nil })
	wait("digest b -> a", func() bool {
		t := a.e.reg.ByName("acme")
		return a.e.reg.ByName("t00001") != nil && t != nil && t.Limits().Get(tenant.MaxJobs) == 7
	})
	t.Logf("healed by digests in %v", time.Since(start).Round(time.Millisecond))
	// Everything but default (version 0 on each node, never exchanged).
	isDefault := func(d tenant.Definition) bool { return d.Name == tenant.DefaultName }
	ea, eb := slices.DeleteFunc(a.e.reg.Export(), isDefault), slices.DeleteFunc(b.e.reg.Export(), isDefault)
	if !reflect.DeepEqual(ea, eb) {
		t.Fatalf("registries differ:\n%+v\n%+v", ea, eb)
	}
}
