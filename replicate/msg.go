package replicate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
)

// MsgType is the type of a bus message. The numbers follow upstream
// Disque's catalogue (spec semantics.md 15). PING, PONG, MEET and FAIL are
// membership messages handled inside this package; the others are job
// messages delivered to the Handler, and so is TENANT (disq's own, not
// upstream's: tenant definitions).
type MsgType uint8

const (
	MsgPing      MsgType = 0  // membership: liveness + gossip (internal)
	MsgPong      MsgType = 1  // membership: answer to PING/MEET (internal)
	MsgMeet      MsgType = 2  // membership: "add me" (internal)
	MsgFail      MsgType = 3  // membership: "mark this node failed" (internal)
	MsgReplJob   MsgType = 4  // Job; MsgNoReply: do not answer GOTJOB
	MsgGotJob    MsgType = 5  // ID: copy stored
	MsgEnqueue   MsgType = 6  // ID, Delay: queue it (now or after Delay)
	MsgQueued    MsgType = 7  // ID; MsgCountNack or MsgCountDelivery
	MsgSetAck    MsgType = 8  // ID, Count: holders known by the sender
	MsgWillQueue MsgType = 9  // ID: "I will requeue in 500 ms"
	MsgGotAck    MsgType = 10 // ID; MsgKnown: the receiver knew the job
	MsgDelJob    MsgType = 11 // ID: delete your copy
	MsgNeedJobs  MsgType = 12 // Tenant, Queue, Count: send me jobs
	MsgYourJobs  MsgType = 13 // Jobs: jobs moved to you
	MsgWorking   MsgType = 14 // ID: a worker is on it
	MsgPause     MsgType = 15 // Tenant, Queue, State: set this pause state
	MsgTenant    MsgType = 16 // Tenants: tenant definitions; MsgDigest: a digest of them (Tenant: after)
	MsgGotJobs   MsgType = 17 // IDs: copies stored (a replica's GOTJOBs of one step, to one node)
	numMsgTypes          = 18
)

var msgNames = [numMsgTypes]string{
	"PING", "PONG", "MEET", "FAIL", "REPLJOB", "GOTJOB", "ENQUEUE", "QUEUED",
	"SETACK", "WILLQUEUE", "GOTACK", "DELJOB", "NEEDJOBS", "YOURJOBS", "WORKING", "PAUSE",
	"TENANT", "GOTJOBS",
}

func (t MsgType) String() string {
	if int(t) < len(msgNames) {
		return msgNames[t]
	}
	return "UNKNOWN"
}

// IsJob reports whether t is delivered to the Handler: a job message, or
// TENANT.
func (t MsgType) IsJob() bool { return t >= MsgReplJob && t < numMsgTypes }

// MsgFlags are per-message flags.
type MsgFlags uint8

const (
	MsgNoReply       MsgFlags = 1 << iota // REPLJOB: store the copy, do not answer GOTJOB
	MsgCountNack                          // QUEUED: the requeue was a NACK (bump nacks)
	MsgCountDelivery                      // QUEUED: the requeue was a timeout (bump additional deliveries)
	MsgKnown                              // GOTACK: the sender knew the job
	MsgDigest                             // TENANT: entries without definitions (name, version, sum)
	MsgDigestEnd                          // TENANT digest: it runs to the last name (else to its last entry)
)

// allowedFlags is the flag mask each job message type accepts.
var allowedFlags = [numMsgTypes]MsgFlags{
	MsgReplJob: MsgNoReply,
	MsgQueued:  MsgCountNack | MsgCountDelivery,
	MsgGotAck:  MsgKnown,
	MsgTenant:  MsgDigest | MsgDigestEnd,
}

// Job is a full job as REPLJOB and YOURJOBS carry it. Units are the job
// layer's (this package only moves the numbers); the suggested ones are in
// the comments. Byte slices of a decoded Job alias the decoded buffer.
type Job struct {
	ID            [24]byte // binary job ID (engine/job.ID); bytes 4-5 carry the routing slot
	Tenant        []byte   // tenant name ("default" for the built-in tenant)
	Queue         []byte   // queue name
	Body          []byte
	CTime         int64    // creation time (unix ms, or the job layer's ordering clock)
	TTL           int64    // time to live remaining, ms (may be <= 0 for an expiring job)
	Delay         int64    // delay remaining before the first queueing, ms
	Retry         int64    // requeue period, ms (0: at-most-once)
	Repl          uint32   // replication level requested
	Nacks         uint32   // NACK count
	AddDeliveries uint32   // additional deliveries count
	Holders       []NodeID // nodes believed to hold a copy (the receiver included, typically)
}

// TenantDef is one entry of a TENANT message. This package moves it without
// interpreting Def; the engine puts there the definition's tenants-file JSON
// and in Sum a fingerprint of it (equal definitions, equal sums).
type TenantDef struct {
	Name    []byte // tenant name, 1..MaxTenantName bytes
	Version uint64
	Sum     uint64
	Def     []byte // the definition, 1..MaxTenantDef bytes; empty in a digest
}

// Msg is one decoded job message, or the input of AppendMsg. Only the fields
// its Type uses are meaningful (the others are zero or empty after
// decoding):
//
//	REPLJOB    Job (Msg.ID is a copy of Job.ID), Flags&MsgNoReply
//	GOTJOB, WILLQUEUE, DELJOB, WORKING     ID
//	ENQUEUE    ID, Delay
//	QUEUED     ID, Flags&(MsgCountNack|MsgCountDelivery)
//	SETACK     ID, Count (holders known by the sender)
//	GOTACK     ID, Flags&MsgKnown
//	NEEDJOBS   Tenant, Queue, Count
//	YOURJOBS   Jobs
//	GOTJOBS    IDs (at least one)
//	PAUSE      Tenant, Queue, State (bit0 in, bit1 out)
//	TENANT     Tenants (definitions, Def set); with MsgDigest a digest:
//	           Tenants without Def, sorted by name, covering the names
//	           after Tenant ("" = from the first) up to the last entry's
//	           name, or to the end with MsgDigestEnd
//
// Routing: every message names either a job ID (the slot is inside it) or a
// tenant and queue (the receiver computes the slot); YOURJOBS routes each
// job by its own ID.
type Msg struct {
	Type   MsgType
	Flags  MsgFlags
	ID     [24]byte
	Tenant []byte
	Queue  []byte
	Count  int64
	Delay  int64
	State  uint8
	Job    Job
	Jobs   []Job

	Tenants []TenantDef

	IDs [][24]byte // GOTJOBS

	// Raw is the message's encoding as the bus reader received it
	// (aliasing the frame buffer: valid only during the OnMessages call);
	// nil for messages built locally. AppendMsg ignores it.
	Raw []byte
}

// Limits of the message codec (a peer's bytes are untrusted).
const (
	maxHolders  = 65535
	maxJobsMsg  = 65535
	minJobBytes = 24 + 1 + 1 + 4*1 + 3*1 + 1 + 1 // ID, 2 empty strings, 4 varints, 3 uvarints, 0 holders, empty body

	// MaxTenantName bounds a TENANT entry's name, MaxTenantDef its
	// definition, MaxTenantEntries the entries of one message.
	MaxTenantName    = 255
	MaxTenantDef     = 64 << 10
	MaxTenantEntries = 65535
	minTenantBytes   = 1 + 1 + 1 + 8 + 1 // name length, 1-byte name, version, sum, def length
)

// Decoding errors.
var (
	ErrTruncated  = errors.New("replicate: truncated message")
	ErrBadMsg     = errors.New("replicate: malformed message")
	ErrNotJobMsg  = errors.New("replicate: not a job message")
	errMsgTooLong = errors.New("replicate: message too large")
)

func appendBytes(dst, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendJob(dst []byte, j *Job) []byte {
	dst = append(dst, j.ID[:]...)
	dst = appendBytes(dst, j.Tenant)
	dst = appendBytes(dst, j.Queue)
	dst = binary.AppendVarint(dst, j.CTime)
	dst = binary.AppendVarint(dst, j.TTL)
	dst = binary.AppendVarint(dst, j.Delay)
	dst = binary.AppendVarint(dst, j.Retry)
	dst = binary.AppendUvarint(dst, uint64(j.Repl))
	dst = binary.AppendUvarint(dst, uint64(j.Nacks))
	dst = binary.AppendUvarint(dst, uint64(j.AddDeliveries))
	dst = binary.AppendUvarint(dst, uint64(len(j.Holders)))
	for i := range j.Holders {
		dst = append(dst, j.Holders[i][:]...)
	}
	return appendBytes(dst, j.Body)
}

// AppendMsg appends the encoding of a job message to dst and returns the
// extended slice. It does not allocate when dst has room. Flags the type
// does not define are dropped. Membership types and unknown types append
// nothing (Send refuses an empty message).
//
// Encoding: u8 type | u8 flags | fields, where integers are varints
// (zigzag for signed), byte strings are uvarint-length-prefixed, IDs are raw
// (24 bytes for jobs, 20 for nodes):
//
//	job      := id[24] tenant queue ctime ttl delay retry repl nacks adddeliv nholders holder[20]* body
//	REPLJOB  := job
//	YOURJOBS := count job*
//	GOTJOBS  := count id[24]*
//	NEEDJOBS := tenant queue count       PAUSE := tenant queue state
//	TENANT   := after count (name version sum[8, big-endian] def)*
//	ENQUEUE  := id[24] delay             SETACK := id[24] count
//	others   := id[24]
func AppendMsg(dst []byte, m *Msg) []byte {
	if !m.Type.IsJob() {
		return dst
	}
	dst = append(dst, byte(m.Type), byte(m.Flags&allowedFlags[m.Type]))
	switch m.Type {
	case MsgReplJob:
		dst = appendJob(dst, &m.Job)
	case MsgYourJobs:
		dst = binary.AppendUvarint(dst, uint64(len(m.Jobs)))
		for i := range m.Jobs {
			dst = appendJob(dst, &m.Jobs[i])
		}
	case MsgGotJobs:
		dst = binary.AppendUvarint(dst, uint64(len(m.IDs)))
		for i := range m.IDs {
			dst = append(dst, m.IDs[i][:]...)
		}
	case MsgNeedJobs:
		dst = appendBytes(dst, m.Tenant)
		dst = appendBytes(dst, m.Queue)
		dst = binary.AppendVarint(dst, m.Count)
	case MsgPause:
		dst = appendBytes(dst, m.Tenant)
		dst = appendBytes(dst, m.Queue)
		dst = binary.AppendUvarint(dst, uint64(m.State))
	case MsgTenant:
		dst = appendBytes(dst, m.Tenant)
		dst = binary.AppendUvarint(dst, uint64(len(m.Tenants)))
		for i := range m.Tenants {
			e := &m.Tenants[i]
			dst = appendBytes(dst, e.Name)
			dst = binary.AppendUvarint(dst, e.Version)
			dst = binary.BigEndian.AppendUint64(dst, e.Sum)
			dst = appendBytes(dst, e.Def)
		}
	case MsgEnqueue:
		dst = append(dst, m.ID[:]...)
		dst = binary.AppendVarint(dst, m.Delay)
	case MsgSetAck:
		dst = append(dst, m.ID[:]...)
		dst = binary.AppendVarint(dst, m.Count)
	default: // GOTJOB, QUEUED, WILLQUEUE, GOTACK, DELJOB, WORKING
		dst = append(dst, m.ID[:]...)
	}
	return dst
}

// dec is a bounds-checked reader over an untrusted buffer. The first error
// sticks; later reads return zero values.
type dec struct {
	b   []byte
	off int
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *dec) rest() int { return len(d.b) - d.off }

func (d *dec) u8() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail(ErrTruncated)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		if n == 0 {
			d.fail(ErrTruncated)
		} else {
			d.fail(ErrBadMsg)
		}
		return 0
	}
	d.off += n
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		if n == 0 {
			d.fail(ErrTruncated)
		} else {
			d.fail(ErrBadMsg)
		}
		return 0
	}
	d.off += n
	return v
}

func (d *dec) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail(ErrBadMsg)
		return 0
	}
	return uint32(v)
}

// take returns the next n bytes (aliasing the buffer).
func (d *dec) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(d.rest()) {
		d.fail(ErrTruncated)
		return nil
	}
	s := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return s
}

// bytes reads a uvarint-length-prefixed byte string (aliasing the buffer).
func (d *dec) bytes() []byte { return d.take(d.uvarint()) }

func (d *dec) id24() (id [24]byte) {
	copy(id[:], d.take(24))
	return id
}

func (d *dec) nodeID() (id NodeID) {
	copy(id[:], d.take(20))
	return id
}

func (d *dec) job(j *Job) {
	j.ID = d.id24()
	j.Tenant = d.bytes()
	j.Queue = d.bytes()
	j.CTime = d.varint()
	j.TTL = d.varint()
	j.Delay = d.varint()
	j.Retry = d.varint()
	j.Repl = d.u32()
	j.Nacks = d.u32()
	j.AddDeliveries = d.u32()
	nh := d.uvarint()
	if d.err == nil && (nh > maxHolders || nh*20 > uint64(d.rest())) {
		d.fail(ErrBadMsg)
	}
	if d.err != nil {
		return
	}
	h := j.Holders[:0]
	for i := uint64(0); i < nh; i++ {
		h = append(h, d.nodeID())
	}
	j.Holders = h
	j.Body = d.bytes()
}

// tenants decodes a TENANT message's fields: a digest's entries carry no
// definition, a definition message's entries one each and no "after";
// MsgDigestEnd only comes with MsgDigest.
func (d *dec) tenants(m *Msg) {
	digest := m.Flags&MsgDigest != 0
	if !digest && m.Flags&MsgDigestEnd != 0 {
		d.fail(ErrBadMsg)
	}
	m.Tenant = d.bytes()
	if (!digest && len(m.Tenant) > 0) || len(m.Tenant) > MaxTenantName {
		d.fail(ErrBadMsg)
	}
	n := d.uvarint()
	if d.err == nil && (n > MaxTenantEntries || n*minTenantBytes > uint64(d.rest())) {
		d.fail(ErrBadMsg)
	}
	if d.err != nil {
		return
	}
	ts := m.Tenants[:0]
	if uint64(cap(ts)) < n {
		ts = make([]TenantDef, n)
	}
	m.Tenants = ts[:n]
	prev := m.Tenant
	for i := range m.Tenants {
		e := &m.Tenants[i]
		*e = TenantDef{}
		e.Name = d.bytes()
		e.Version = d.uvarint()
		if b := d.take(8); b != nil {
			e.Sum = binary.BigEndian.Uint64(b)
		}
		e.Def = d.bytes()
		if d.err != nil {
			return
		}
		if len(e.Name) == 0 || len(e.Name) > MaxTenantName || len(e.Def) > MaxTenantDef || digest != (len(e.Def) == 0) {
			d.fail(ErrBadMsg)
			return
		}
		if digest && bytes.Compare(e.Name, prev) <= 0 {
			d.fail(ErrBadMsg) // a digest's names are sorted, after m.Tenant
			return
		}
		prev = e.Name
	}
}

// Decode decodes one job message from the start of b into m and returns the
// number of bytes it used. It reuses m's Jobs, Holders and Tenants
// backing arrays (so a reader that decodes into the same Msg does not
// allocate in steady state); byte slices alias b. It never panics,
// allocates at most in proportion to len(b), and rejects unknown types,
// undefined flags and out-of-range values. Membership types give
// ErrNotJobMsg.
func (m *Msg) Decode(b []byte) (int, error) {
	jobs, holders, tenants, ids := m.Jobs[:0], m.Job.Holders[:0], m.Tenants[:0], m.IDs[:0]
	*m = Msg{Jobs: jobs, Job: Job{Holders: holders}, Tenants: tenants, IDs: ids}
	d := dec{b: b}
	t := MsgType(d.u8())
	f := MsgFlags(d.u8())
	if d.err != nil {
		return 0, d.err
	}
	if !t.IsJob() {
		if t < MsgReplJob {
			return 0, ErrNotJobMsg
		}
		return 0, ErrBadMsg
	}
	if f&^allowedFlags[t] != 0 {
		return 0, ErrBadMsg
	}
	m.Type, m.Flags = t, f
	switch t {
	case MsgReplJob:
		d.job(&m.Job)
		m.ID = m.Job.ID
	case MsgYourJobs:
		n := d.uvarint()
		if d.err == nil && (n > maxJobsMsg || n*minJobBytes > uint64(d.rest())) {
			d.fail(ErrBadMsg)
		}
		if d.err != nil {
			break
		}
		if uint64(cap(jobs)) < n {
			jobs = append(jobs[:cap(jobs)], make([]Job, int(n)-cap(jobs))...)
		}
		jobs = jobs[:n]
		for i := range jobs {
			h := jobs[i].Holders[:0]
			jobs[i] = Job{Holders: h}
			d.job(&jobs[i])
			if d.err != nil {
				break
			}
		}
		m.Jobs = jobs
	case MsgGotJobs:
		n := d.uvarint()
		if d.err == nil && (n == 0 || n > maxJobsMsg || n*24 > uint64(d.rest())) {
			d.fail(ErrBadMsg)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			ids = append(ids, d.id24())
		}
		m.IDs = ids
		if len(ids) > 0 {
			m.ID = ids[0]
		}
	case MsgNeedJobs:
		m.Tenant = d.bytes()
		m.Queue = d.bytes()
		m.Count = d.varint()
	case MsgPause:
		m.Tenant = d.bytes()
		m.Queue = d.bytes()
		s := d.uvarint()
		if s > 0xff {
			d.fail(ErrBadMsg)
		}
		m.State = uint8(s)
	case MsgTenant:
		d.tenants(m)
	case MsgEnqueue:
		m.ID = d.id24()
		m.Delay = d.varint()
	case MsgSetAck:
		m.ID = d.id24()
		m.Count = d.varint()
	default:
		m.ID = d.id24()
	}
	if d.err != nil {
		jobs, holders, tenants, ids := m.Jobs, m.Job.Holders, m.Tenants, m.IDs
		*m = Msg{Jobs: jobs[:0], Job: Job{Holders: holders[:0]}, Tenants: tenants[:0], IDs: ids[:0]}
		return 0, d.err
	}
	return d.off, nil
}

// DecodeMsg decodes one job message from the start of b and returns it with
// the number of bytes used. Byte slices alias b. See (*Msg).Decode for a
// variant that reuses memory.
func DecodeMsg(b []byte) (Msg, int, error) {
	var m Msg
	n, err := m.Decode(b)
	return m, n, err
}
