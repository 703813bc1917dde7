package replicate

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func testJobID(b byte) (id [24]byte) {
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func testNodeID(b byte) (id NodeID) {
	for i := range id {
		id[i] = b ^ byte(i*7)
	}
	return id
}

func sampleJob(b byte) Job {
	return Job{
		ID:            testJobID(b),
		Tenant:        []byte("default"),
		Queue:         []byte("q1"),
		Body:          []byte("hello"),
		CTime:         1700000000123,
		TTL:           86400000,
		Delay:         0,
		Retry:         300000,
		Repl:          3,
		Nacks:         1,
		AddDeliveries: 2,
		Holders:       []NodeID{testNodeID(0xa0), testNodeID(0xb0)},
	}
}

// sampleMsgs returns one message of each job type.
func sampleMsgs() []Msg {
	id := testJobID(0x10)
	return []Msg{
		{Type: MsgReplJob, Flags: MsgNoReply, ID: id, Job: sampleJob(0x10)},
		{Type: MsgGotJob, ID: id},
		{Type: MsgEnqueue, ID: id, Delay: 5000},
		{Type: MsgQueued, ID: id, Flags: MsgCountNack},
		{Type: MsgSetAck, ID: id, Count: 3},
		{Type: MsgWillQueue, ID: id},
		{Type: MsgGotAck, ID: id, Flags: MsgKnown},
		{Type: MsgDelJob, ID: id},
		{Type: MsgNeedJobs, Tenant: []byte("default"), Queue: []byte("q1"), Count: 10},
		{Type: MsgYourJobs, Jobs: []Job{sampleJob(0x20), sampleJob(0x30)}},
		{Type: MsgWorking, ID: id},
		{Type: MsgPause, Tenant: []byte("t"), Queue: []byte("q"), State: 3},
		{Type: MsgTenant, Tenants: sampleTenantDefs()},
		{Type: MsgGotJobs, ID: id, IDs: [][24]byte{id, testJobID(0x40)}},
	}
}

// sampleTenantDefs returns two TENANT entries with definitions.
func sampleTenantDefs() []TenantDef {
	return []TenantDef{
		{Name: []byte("acme"), Version: 3, Sum: 0x0102030405060708, Def: []byte(`{"name":"acme","version":3}`)},
		{Name: []byte("beta"), Version: 1 << 40, Sum: 42, Def: []byte(`{"name":"beta","deleted":true}`)},
	}
}

// sampleDigest returns a TENANT digest of the names after "a", to the end.
func sampleDigest() Msg {
	return Msg{Type: MsgTenant, Flags: MsgDigest | MsgDigestEnd, Tenant: []byte("a"), Tenants: []TenantDef{
		{Name: []byte("acme"), Version: 3, Sum: 0x0102030405060708},
		{Name: []byte("beta"), Version: 7, Sum: 1},
	}}
}

// golden encodings: changing one is a wire-protocol change (bump
// FrameVersion or keep compatibility).
var goldenMsgs = map[MsgType]string{
	MsgReplJob:   "0401101112131415161718191a1b1c1d1e1f20212223242526270764656661756c74027131f6a1abfef96280f0b25200c0cf2403010202a0a7aeb5bc838a91989fe6edf4fbc2c9d0d7de25b0b7bea5ac939a81888ff6fde4ebd2d9c0c7ce350568656c6c6f",
	MsgGotJob:    "0500101112131415161718191a1b1c1d1e1f2021222324252627",
	MsgEnqueue:   "0600101112131415161718191a1b1c1d1e1f2021222324252627904e",
	MsgQueued:    "0702101112131415161718191a1b1c1d1e1f2021222324252627",
	MsgSetAck:    "0800101112131415161718191a1b1c1d1e1f202122232425262706",
	MsgWillQueue: "0900101112131415161718191a1b1c1d1e1f2021222324252627",
	MsgGotAck:    "0a08101112131415161718191a1b1c1d1e1f2021222324252627",
	MsgDelJob:    "0b00101112131415161718191a1b1c1d1e1f2021222324252627",
	MsgNeedJobs:  "0c000764656661756c7402713114",
	MsgYourJobs:  "0d0002202122232425262728292a2b2c2d2e2f30313233343536370764656661756c74027131f6a1abfef96280f0b25200c0cf2403010202a0a7aeb5bc838a91989fe6edf4fbc2c9d0d7de25b0b7bea5ac939a81888ff6fde4ebd2d9c0c7ce350568656c6c6f303132333435363738393a3b3c3d3e3f40414243444546470764656661756c74027131f6a1abfef96280f0b25200c0cf2403010202a0a7aeb5bc838a91989fe6edf4fbc2c9d0d7de25b0b7bea5ac939a81888ff6fde4ebd2d9c0c7ce350568656c6c6f",
	MsgWorking:   "0e00101112131415161718191a1b1c1d1e1f2021222324252627",
	MsgPause:     "0f000174017103",
	MsgGotJobs:   "110002101112131415161718191a1b1c1d1e1f2021222324252627404142434445464748494a4b4c4d4e4f5051525354555657",
	MsgTenant:    "100000020461636d650301020304050607081b7b226e616d65223a2261636d65222c2276657273696f6e223a337d0462657461808080808020000000000000002a1e7b226e616d65223a2262657461222c2264656c65746564223a747275657d",
}

const goldenFrame = "0000004202020002f1209045ae5452311a0500101112131415161718191a1b1c1d1e1f20212223242526271a0b00101112131415161718191a1b1c1d1e1f2021222324252627"

// normalize makes decoded and hand-built messages comparable (nil vs empty).
func normalize(m Msg) Msg {
	fix := func(j *Job) {
		if len(j.Tenant) == 0 {
			j.Tenant = nil
		}
		if len(j.Queue) == 0 {
			j.Queue = nil
		}
		if len(j.Body) == 0 {
			j.Body = nil
		}
		if len(j.Holders) == 0 {
			j.Holders = nil
		}
	}
	fix(&m.Job)
	if len(m.Jobs) == 0 {
		m.Jobs = nil
	} else {
		m.Jobs = append([]Job(nil), m.Jobs...)
		for i := range m.Jobs {
			fix(&m.Jobs[i])
		}
	}
	if len(m.Tenant) == 0 {
		m.Tenant = nil
	}
	if len(m.Queue) == 0 {
		m.Queue = nil
	}
	if len(m.IDs) == 0 {
		m.IDs = nil
	}
	if len(m.Tenants) == 0 {
		m.Tenants = nil
	} else {
		m.Tenants = append([]TenantDef(nil), m.Tenants...)
		for i := range m.Tenants {
			if len(m.Tenants[i].Def) == 0 {
				m.Tenants[i].Def = nil
			}
		}
	}
	return m
}

func TestMsgGolden(t *testing.T) {
	update := false
	for _, m := range sampleMsgs() {
		enc := AppendMsg(nil, &m)
		got := hexOf(enc)
		if want := goldenMsgs[m.Type]; got != want {
			update = true
			t.Errorf("%v: encoding\n got %s\nwant %s", m.Type, got, want)
		}
		dm, n, err := DecodeMsg(enc)
		if err != nil || n != len(enc) {
			t.Fatalf("%v: decode: n=%d/%d err=%v", m.Type, n, len(enc), err)
		}
		if !reflect.DeepEqual(normalize(dm), normalize(m)) {
			t.Errorf("%v: round trip\n got %+v\nwant %+v", m.Type, dm, m)
		}
	}
	if update {
		var b strings.Builder
		for _, m := range sampleMsgs() {
			b.WriteString("\t" + goName(m.Type) + `: "` + hexOf(AppendMsg(nil, &m)) + "\",\n")
		}
		t.Logf("new golden table:\n%s", b.String())
	}
}

func goName(t MsgType) string {
	names := map[MsgType]string{MsgReplJob: "MsgReplJob", MsgGotJob: "MsgGotJob", MsgEnqueue: "MsgEnqueue",
		MsgQueued: "MsgQueued", MsgSetAck: "MsgSetAck", MsgWillQueue: "MsgWillQueue", MsgGotAck: "MsgGotAck",
		MsgDelJob: "MsgDelJob", MsgNeedJobs: "MsgNeedJobs", MsgYourJobs: "MsgYourJobs", MsgWorking: "MsgWorking",
		MsgPause: "MsgPause", MsgTenant: "MsgTenant", MsgGotJobs: "MsgGotJobs"}
	return names[t]
}

// TestFrameGolden pins one uncompressed frame holding GOTJOB and DELJOB.
func TestFrameGolden(t *testing.T) {
	var payload []byte
	ms := sampleMsgs()
	payload = appendRecord(payload, AppendMsg(nil, &ms[1]))
	payload = appendRecord(payload, AppendMsg(nil, &ms[7]))
	fw := frameWriter{compress: true} // too small to compress
	frame := fw.appendFrame(nil, payload, 2)
	if got := hexOf(frame); got != goldenFrame {
		t.Errorf("frame\n got %s\nwant %s", got, goldenFrame)
	}
	p, count, n, _, err := decodeFrame(frame, nil, DefaultMaxFrameSize)
	if err != nil || count != 2 || n != len(frame) || !bytes.Equal(p, payload) {
		t.Fatalf("decode: count=%d n=%d err=%v", count, n, err)
	}
	if err := checkRecords(p, count); err != nil {
		t.Fatal(err)
	}
}

func TestFrameCompression(t *testing.T) {
	// Compressible payload above the threshold: S2 applied.
	var payload []byte
	m := sampleMsgs()[0]
	m.Job.Body = bytes.Repeat([]byte(`{"user":"alice","action":"signup"}`), 20)
	for i := 0; i < 10; i++ {
		payload = appendRecord(payload, AppendMsg(nil, &m))
	}
	fw := frameWriter{compress: true}
	frame := fw.appendFrame(nil, payload, 10)
	if !fw.compressed || frame[5]&frameFlagS2 == 0 || len(frame) >= len(payload) {
		t.Fatalf("compressible payload not compressed: frame %d payload %d", len(frame), len(payload))
	}
	t.Logf("compressible: payload %d B -> frame %d B (ratio %.2f)", len(payload), len(frame), float64(len(payload))/float64(len(frame)))
	p, _, _, _, err := decodeFrame(frame, nil, DefaultMaxFrameSize)
	if err != nil || !bytes.Equal(p, payload) {
		t.Fatalf("decode compressed: %v", err)
	}

	// Incompressible payload: sent raw.
	rnd := make([]byte, 4000)
	seed := uint64(1)
	for i := range rnd {
		seed = seed*6364136223846793005 + 1442695040888963407
		rnd[i] = byte(seed >> 56)
	}
	m.Job.Body = rnd
	raw := appendRecord(nil, AppendMsg(nil, &m))
	frame = fw.appendFrame(nil, raw, 1)
	if fw.compressed || frame[5]&frameFlagS2 != 0 || len(frame) != len(raw)+frameHeaderLen {
		t.Fatalf("incompressible payload compressed: frame %d payload %d", len(frame), len(raw))
	}

	// Small payload: never compressed even if compressible.
	small := appendRecord(nil, append([]byte{byte(MsgDelJob), 0}, make([]byte, 24)...))
	frame = fw.appendFrame(nil, small, 1)
	if fw.compressed {
		t.Fatal("small payload compressed")
	}

	// Compression off.
	fw = frameWriter{}
	frame = fw.appendFrame(nil, payload, 10)
	if fw.compressed || len(frame) != len(payload)+frameHeaderLen {
		t.Fatal("compressed with compression off")
	}
}

func TestDecodeMsgErrors(t *testing.T) {
	ms := sampleMsgs()
	enc := AppendMsg(nil, &ms[0])
	for i := 0; i < len(enc); i++ {
		if _, _, err := DecodeMsg(enc[:i]); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	if _, _, err := DecodeMsg([]byte{byte(MsgPing), 0}); !errors.Is(err, ErrNotJobMsg) {
		t.Fatalf("PING: %v", err)
	}
	if _, _, err := DecodeMsg([]byte{99, 0}); !errors.Is(err, ErrBadMsg) {
		t.Fatalf("unknown type: %v", err)
	}
	bad := append([]byte(nil), AppendMsg(nil, &ms[1])...)
	bad[1] = byte(MsgKnown) // GOTJOB takes no flags
	if _, _, err := DecodeMsg(bad); !errors.Is(err, ErrBadMsg) {
		t.Fatalf("undefined flag: %v", err)
	}
	// A holder count larger than the bytes left.
	j := Msg{Type: MsgReplJob, Job: Job{Holders: []NodeID{{1}}}}
	enc = AppendMsg(nil, &j)
	// holders count is right before the 20 holder bytes and the body length
	pos := len(enc) - 1 - 20 - 1
	enc[pos] = 200
	if _, _, err := DecodeMsg(enc); err == nil {
		t.Fatal("oversized holder count accepted")
	}
	// YOURJOBS count larger than possible.
	y := []byte{byte(MsgYourJobs), 0, 0xff, 0xff, 0x03}
	if _, _, err := DecodeMsg(y); err == nil {
		t.Fatal("oversized job count accepted")
	}
	// AppendMsg of a membership type appends nothing.
	if b := AppendMsg([]byte{1}, &Msg{Type: MsgPing}); len(b) != 1 {
		t.Fatal("AppendMsg(PING) appended")
	}
}

func TestFrameErrors(t *testing.T) {
	ms := sampleMsgs()
	payload := appendRecord(nil, AppendMsg(nil, &ms[1]))
	fw := frameWriter{}
	frame := fw.appendFrame(nil, payload, 1)
	try := func(name string, f []byte, max int, want error) {
		t.Helper()
		_, _, _, _, err := decodeFrame(f, nil, max)
		if err == nil {
			p, c, _, _, _ := decodeFrame(f, nil, max)
			err = checkRecords(p, c)
		}
		if want == nil && err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: got %v want %v", name, err, want)
		}
	}
	mod := func(i int, v byte) []byte {
		f := append([]byte(nil), frame...)
		f[i] = v
		return f
	}
	try("version", mod(4, FrameVersion+1), DefaultMaxFrameSize, ErrVersion)
	try("version 1", mod(4, 1), DefaultMaxFrameSize, ErrVersion)
	try("flags", mod(5, 0x80), DefaultMaxFrameSize, ErrBadFrame)
	try("count 0", mod(7, 0), DefaultMaxFrameSize, ErrBadFrame)
	try("count 2", mod(7, 2), DefaultMaxFrameSize, nil)
	try("checksum", mod(len(frame)-1, frame[len(frame)-1]^1), DefaultMaxFrameSize, ErrChecksum)
	try("truncated", frame[:len(frame)-1], DefaultMaxFrameSize, ErrBadFrame)
	try("too large", frame, 20, ErrFrameSize)
	try("s2 flag on raw data", mod(5, frameFlagS2|frameFlagChecksum), DefaultMaxFrameSize, nil)
}

func TestNodeIDText(t *testing.T) {
	id := testNodeID(0x5a)
	s := id.String()
	if len(s) != 40 || strings.ToLower(s) != s {
		t.Fatalf("text %q", s)
	}
	back, ok := ParseNodeID(s)
	if !ok || back != id {
		t.Fatal("round trip")
	}
	if _, ok := ParseNodeID(strings.ToUpper(s)); ok {
		t.Fatal("uppercase accepted")
	}
	p, ok := ParsePrefix([]byte(s[:8]))
	if !ok || p != id.Prefix() {
		t.Fatal("prefix")
	}
	if got := (NodeMyself | NodeFail | NodeLeaving).String(); got != "myself,fail,leaving" {
		t.Fatal(got)
	}
	if got := (NodePFail | NodeHandshake | NodeNoAddr).String(); got != "fail?,handshake,noaddr" {
		t.Fatal(got)
	}
	if got := NodeFlags(0).String(); got != "noflags" {
		t.Fatal(got)
	}
}

func TestTenantMsg(t *testing.T) {
	for _, m := range []Msg{sampleMsgs()[len(sampleMsgs())-1], sampleDigest(),
		{Type: MsgTenant, Flags: MsgDigest | MsgDigestEnd}, // an empty digest: "I have nothing"
		{Type: MsgTenant, Flags: MsgDigest, Tenant: []byte("m"), Tenants: []TenantDef{{Name: []byte("z"), Version: 1}}},
	} {
		enc := AppendMsg(nil, &m)
		got, n, err := DecodeMsg(enc)
		if err != nil || n != len(enc) {
			t.Fatalf("%+v: decode n=%d/%d %v", m, n, len(enc), err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, m)
		}
		for i := 0; i < len(enc); i++ {
			if _, _, err := DecodeMsg(enc[:i]); err == nil {
				t.Fatalf("%+v truncated at %d accepted", m, i)
			}
		}
	}
	long := bytes.Repeat([]byte("n"), MaxTenantName+1)
	bad := map[string]Msg{
		"definition in a digest": {Type: MsgTenant, Flags: MsgDigest, Tenants: []TenantDef{{Name: []byte("a"), Def: []byte("{}")}}},
		"no definition":          {Type: MsgTenant, Tenants: []TenantDef{{Name: []byte("a")}}},
		"end without digest":     {Type: MsgTenant, Flags: MsgDigestEnd, Tenants: sampleTenantDefs()},
		"after without digest":   {Type: MsgTenant, Tenant: []byte("a"), Tenants: sampleTenantDefs()},
		"digest unsorted":        {Type: MsgTenant, Flags: MsgDigest, Tenants: []TenantDef{{Name: []byte("b")}, {Name: []byte("a")}}},
		"digest duplicate":       {Type: MsgTenant, Flags: MsgDigest, Tenants: []TenantDef{{Name: []byte("a")}, {Name: []byte("a")}}},
		"digest before after":    {Type: MsgTenant, Flags: MsgDigest, Tenant: []byte("b"), Tenants: []TenantDef{{Name: []byte("a")}}},
		"empty name":             {Type: MsgTenant, Tenants: []TenantDef{{Def: []byte("{}")}}},
		"long name":              {Type: MsgTenant, Tenants: []TenantDef{{Name: long, Def: []byte("{}")}}},
		"long after":             {Type: MsgTenant, Flags: MsgDigest, Tenant: long},
		"long definition":        {Type: MsgTenant, Tenants: []TenantDef{{Name: []byte("a"), Def: make([]byte, MaxTenantDef+1)}}},
	}
	for what, m := range bad {
		if _, _, err := DecodeMsg(AppendMsg(nil, &m)); !errors.Is(err, ErrBadMsg) {
			t.Errorf("%s: %v, want ErrBadMsg", what, err)
		}
	}
	// Counts beyond the bytes left or the bound.
	for _, b := range [][]byte{
		{byte(MsgTenant), 0, 0, 0xff, 0x03},
		append([]byte{byte(MsgTenant), 0, 0, 0x80, 0x80, 0x04}, make([]byte, 20*(MaxTenantEntries+1))...),
	} {
		if _, _, err := DecodeMsg(b); !errors.Is(err, ErrBadMsg) {
			t.Errorf("count %x: %v, want ErrBadMsg", b[3:6], err)
		}
	}
	// Decoding into a reused Msg after a TENANT message gives no stale entries.
	var r Msg
	_, _ = r.Decode(AppendMsg(nil, &sampleMsgs()[len(sampleMsgs())-1]))
	if _, err := r.Decode(AppendMsg(nil, &sampleMsgs()[1])); err != nil || len(r.Tenants) != 0 {
		t.Fatalf("reused: %v %d entries", err, len(r.Tenants))
	}
}
