package aof

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var buf []byte
	var want []Record
	for i := 0; i < 500; i++ {
		if i%3 == 2 {
			id := idOf(1, i)
			tenant := []string{"", "default", "acme"}[i%3]
			n := len(buf)
			buf = AppendDelJob(buf, id, tenant)
			if got := len(buf) - n; got != DelJobSize(tenant) {
				t.Fatalf("DelJobSize %d, encoded %d", DelJobSize(tenant), got)
			}
			want = append(want, Record{Type: RecDelJob, Job: Job{ID: id, Tenant: []byte(tenant)}})
			continue
		}
		j := makeJob(rng, 1, i)
		if i == 0 { // extremes
			j.Flags, j.CTime, j.Expire = math.MaxUint32, math.MaxUint64, math.MinInt64
			j.Delay, j.Retry = math.MaxUint32, math.MaxUint32
			j.Repl, j.Nacks, j.AddDel = math.MaxUint16, math.MaxUint16, math.MaxUint16
		}
		if i == 1 { // empty everything
			j = Job{ID: idOf(1, 1)}
		}
		n := len(buf)
		buf = AppendLoadJob(buf, &j)
		if got := len(buf) - n; got != LoadJobSize(&j) {
			t.Fatalf("LoadJobSize %d, encoded %d", LoadJobSize(&j), got)
		}
		want = append(want, Record{Type: RecLoadJob, Job: j})
	}
	for i, w := range want {
		r, n, err := DecodeRecord(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Type != w.Type {
			t.Fatalf("record %d: type %v, want %v", i, r.Type, w.Type)
		}
		if !jobsEqual(cloneJob(r.Job), cloneJob(w.Job)) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, r.Job, w.Job)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left", len(buf))
	}
}

// TestRecordGolden pins the encoding of one record of each type.
func TestRecordGolden(t *testing.T) {
	var id [24]byte
	for i := range id {
		id[i] = byte(i + 1)
	}
	j := Job{
		ID: id, State: StateQueued, Flags: JobDelivered | JobQueuedOnce,
		CTime: 1700000000000000001, Expire: 1700000086400000,
		Delay: 5, Retry: 300, Repl: 3, Nacks: 2, AddDel: 1,
		Tenant: []byte("default"), Queue: []byte("q1"),
		Holders: []byte("0123456789abcdef0123456789abcdef01234567"),
		Body:    []byte("hello"),
	}
	got := hex.EncodeToString(AppendLoadJob(nil, &j))
	const want = "01" + "6b" + // type LoadJob, body length 107
		"0102030405060708090a0b0c0d0e0f101112131415161718" + // id
		"01" + "05" + // state queued, flags
		"8180a8b1e39fe7cb17" + // ctime uvarint
		"80b892eac1c48203" + // expire uvarint
		"05" + "ac02" + "03" + "02" + "01" + // delay, retry, repl, nacks, adddel
		"0764656661756c74" + "027131" + // tenant, queue
		"01" + "30313233343536373839616263646566303132333435363738396162636465663031323334353637" +
		"0568656c6c6f" // body
	if got != want {
		t.Fatalf("LoadJob encoding changed:\n got %s\nwant %s", got, want)
	}
	gotDel := hex.EncodeToString(AppendDelJob(nil, id, "acme"))
	const wantDel = "02" + "1d" + "0102030405060708090a0b0c0d0e0f101112131415161718" + "0461636d65"
	if gotDel != wantDel {
		t.Fatalf("DelJob encoding changed:\n got %s\nwant %s", gotDel, wantDel)
	}
	// The file header.
	if h := hex.EncodeToString(appendFileHeader(nil)); h[:24] != "44495351414f460001000000" {
		t.Fatalf("file header changed: %s", h)
	}
	// The flag values are on-disk bits.
	if JobDelivered != 1 || JobCountRequeue != 2 || JobQueuedOnce != 4 || JobWillQueue != 16 || JobExternal != 32 {
		t.Fatal("JobFlags values changed")
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	j := makeJob(rng, 0, 1)
	full := AppendLoadJob(nil, &j)
	// Every strict prefix fails (short), never panics.
	for i := 0; i < len(full); i++ {
		if _, _, err := DecodeRecord(full[:i]); err == nil {
			t.Fatalf("prefix %d decoded", i)
		}
	}
	// A body with a wrong inner length.
	bad := bytes.Clone(full)
	bad[1]-- // body one byte shorter than its fields
	if _, _, err := DecodeRecord(bad); !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrShortRecord) {
		t.Fatalf("short body: %v", err)
	}
	// Trailing bytes inside the body are refused.
	body := append(bytes.Clone(full[1+uvarintLen(uint64(loadJobBodyLen(&j))):]), 0)
	if _, _, err := DecodeRecord(AppendRaw(nil, RecLoadJob, body)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("trailing byte: %v", err)
	}
	// Invalid state.
	st := bytes.Clone(full)
	st[1+uvarintLen(uint64(loadJobBodyLen(&j)))+24] = 7
	if _, _, err := DecodeRecord(st); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("state 7: %v", err)
	}
	// Unknown types.
	if _, _, err := DecodeRecord(AppendRaw(nil, 9, []byte("x"))); !errors.Is(err, ErrUnknownRecord) {
		t.Fatalf("unknown type: %v", err)
	}
	r, n, err := DecodeRecord(AppendRaw(nil, Skippable|9, []byte("xyz")))
	if err != nil || n != 5 || string(r.Raw) != "xyz" || r.Type != Skippable|9 {
		t.Fatalf("skippable: %v %d %+v", err, n, r)
	}
	// Out-of-range values.
	over := Job{ID: j.ID}
	enc := AppendLoadJob(nil, &over)
	// repl is the 7th uvarint: rebuild a body with repl = 70000.
	var b []byte
	b = append(b, over.ID[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0) // state, flags, ctime, expire, delay, retry
	b = append(b, 0xf0, 0xa2, 0x04) // 70000
	b = append(b, 0, 0, 0, 0, 0, 0) // nacks, adddel, tenant, queue, holders, body
	if _, _, err := DecodeRecord(AppendRaw(nil, RecLoadJob, b)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("repl 70000: %v", err)
	}
	_ = enc
	// A holder count larger than the body.
	h := append([]byte{}, over.ID[:]...)
	h = append(h, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0)
	if _, _, err := DecodeRecord(AppendRaw(nil, RecLoadJob, h)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("holders: %v", err)
	}
	// Names.
	if RecLoadJob.String() != "LoadJob" || RecDelJob.String() != "DelJob" || RecordType(0x85).String() != "skippable-5" {
		t.Fatal("RecordType.String")
	}
}

func TestPartialHolderIgnored(t *testing.T) {
	j := Job{ID: idOf(0, 1), Holders: []byte(holderID(1) + "abc")}
	r, _, err := DecodeRecord(AppendLoadJob(nil, &j))
	if err != nil || r.Job.NumHolders() != 1 || string(r.Job.Holder(0)) != holderID(1) {
		t.Fatalf("%v %+v", err, r.Job)
	}
	if len(AppendLoadJob(nil, &j)) != LoadJobSize(&j) {
		t.Fatal("size with a partial holder")
	}
}

func TestParseFsync(t *testing.T) {
	for _, s := range []string{"always", "EVERYSEC", "no"} {
		p, ok := ParseFsync(s)
		if !ok || !equalFold(s, p.String()) {
			t.Fatalf("%s: %v %v", s, p, ok)
		}
	}
	if _, ok := ParseFsync("sometimes"); ok {
		t.Fatal("sometimes parsed")
	}
}
