package aof

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// RecordType is the first byte of a record. Bit 7 (Skippable) marks a type
// that a reader which does not know it may skip; an unknown type without it
// makes the batch corrupt.
type RecordType uint8

const (
	// RecLoadJob holds a full job: this node holds it from now on.
	RecLoadJob RecordType = 1
	// RecDelJob removes a job (acknowledged, expired, deleted...).
	RecDelJob RecordType = 2

	// Skippable marks record types an older reader may ignore.
	Skippable RecordType = 0x80
)

// String names the type for reports.
func (t RecordType) String() string {
	switch t {
	case RecLoadJob:
		return "LoadJob"
	case RecDelJob:
		return "DelJob"
	}
	if t&Skippable != 0 {
		return "skippable-" + strconv.Itoa(int(t&^Skippable))
	}
	return "unknown-" + strconv.Itoa(int(t))
}

// State is a job's state as stored in a LoadJob record. The zero value is
// StateActive; only these two values exist on disk.
type State uint8

const (
	StateActive State = 0 // held, not queued (delivered, delayed, a replica...)
	StateQueued State = 1 // in this node's queue
)

// JobFlags are the per-node facts about a job that survive a restart. The
// values are the on-disk bits (today they equal engine/job.Flags; map them
// explicitly all the same).
type JobFlags uint32

const (
	JobDelivered    JobFlags = 1 << 0 // handed to a consumer at least once
	JobCountRequeue JobFlags = 1 << 1 // a queueing counts as an additional delivery
	JobQueuedOnce   JobFlags = 1 << 2 // queued here at least once (at-most-once jobs)
	JobWillQueue    JobFlags = 1 << 4 // announce WILLQUEUE before the next requeue
	JobExternal     JobFlags = 1 << 5 // the creating node keeps no copy
)

// NodeIDLen is the length of a holder node ID (lowercase hex).
const NodeIDLen = 40

// Job is a job as a LoadJob record carries it. Byte slices filled by
// DecodeRecord alias the decoded buffer and are valid only as long as it is.
type Job struct {
	ID     [24]byte // binary job ID (engine/job.ID)
	State  State
	Flags  JobFlags
	CTime  uint64 // creation time: ms*1e6 + sequence (engine/job.Job.CTime)
	Expire int64  // absolute expiry, unix ms
	Delay  uint32 // DELAY, seconds
	Retry  uint32 // RETRY, seconds (0 = at-most-once)
	Repl   uint16 // requested replication factor
	Nacks  uint16
	AddDel uint16 // additional deliveries
	Tenant []byte // tenant name ("default" for the built-in tenant)
	Queue  []byte
	// Holders is the concatenation of the 40-character node IDs holding a
	// copy (may be empty). A trailing partial ID is not written.
	Holders []byte
	Body    []byte
}

// NumHolders returns the number of whole node IDs in Holders.
func (j *Job) NumHolders() int { return len(j.Holders) / NodeIDLen }

// Holder returns the i-th holder node ID.
func (j *Job) Holder(i int) []byte { return j.Holders[i*NodeIDLen : (i+1)*NodeIDLen] }

// Record is one decoded record. For RecLoadJob every Job field is set; for
// RecDelJob only Job.ID and Job.Tenant. Raw is the record body (for any type;
// the only content of a skippable type this package does not know).
type Record struct {
	Type RecordType
	Job  Job
	Raw  []byte
}

// Errors of the record layer. A reader reports them inside a TornError.
var (
	ErrShortRecord   = errors.New("record extends past the end of its batch")
	ErrBadRecord     = errors.New("malformed record body")
	ErrUnknownRecord = errors.New("unknown record type")
)

// MaxRecordSize is the largest encoded record (type, length and body) a
// batch can hold. The writer refuses a producer batch holding a larger one
// (ErrRecordTooLarge to its callback): the server must refuse such jobs while
// the log is on.
const MaxRecordSize = MaxBatchPayload

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func loadJobBodyLen(j *Job) int {
	nh := len(j.Holders) / NodeIDLen
	return 24 + 1 +
		uvarintLen(uint64(j.Flags)) +
		uvarintLen(j.CTime) +
		uvarintLen(uint64(j.Expire)) +
		uvarintLen(uint64(j.Delay)) +
		uvarintLen(uint64(j.Retry)) +
		uvarintLen(uint64(j.Repl)) +
		uvarintLen(uint64(j.Nacks)) +
		uvarintLen(uint64(j.AddDel)) +
		uvarintLen(uint64(len(j.Tenant))) + len(j.Tenant) +
		uvarintLen(uint64(len(j.Queue))) + len(j.Queue) +
		uvarintLen(uint64(nh)) + nh*NodeIDLen +
		uvarintLen(uint64(len(j.Body))) + len(j.Body)
}

// LoadJobSize returns the encoded size of j's LoadJob record.
func LoadJobSize(j *Job) int {
	n := loadJobBodyLen(j)
	return 1 + uvarintLen(uint64(n)) + n
}

// AppendLoadJob appends a LoadJob record for j to dst. It does not allocate
// when dst has room. Any State other than StateQueued is written as
// StateActive.
func AppendLoadJob(dst []byte, j *Job) []byte {
	n := loadJobBodyLen(j)
	dst = append(dst, byte(RecLoadJob))
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, j.ID[:]...)
	st := StateActive
	if j.State == StateQueued {
		st = StateQueued
	}
	dst = append(dst, byte(st))
	dst = binary.AppendUvarint(dst, uint64(j.Flags))
	dst = binary.AppendUvarint(dst, j.CTime)
	dst = binary.AppendUvarint(dst, uint64(j.Expire))
	dst = binary.AppendUvarint(dst, uint64(j.Delay))
	dst = binary.AppendUvarint(dst, uint64(j.Retry))
	dst = binary.AppendUvarint(dst, uint64(j.Repl))
	dst = binary.AppendUvarint(dst, uint64(j.Nacks))
	dst = binary.AppendUvarint(dst, uint64(j.AddDel))
	dst = appendBytes(dst, j.Tenant)
	dst = appendBytes(dst, j.Queue)
	nh := len(j.Holders) / NodeIDLen
	dst = binary.AppendUvarint(dst, uint64(nh))
	dst = append(dst, j.Holders[:nh*NodeIDLen]...)
	dst = appendBytes(dst, j.Body)
	return dst
}

// DelJobSize returns the encoded size of a DelJob record.
func DelJobSize(tenant string) int {
	n := 24 + uvarintLen(uint64(len(tenant))) + len(tenant)
	return 1 + uvarintLen(uint64(n)) + n
}

// AppendDelJob appends a DelJob record to dst. It does not allocate when dst
// has room.
func AppendDelJob(dst []byte, id [24]byte, tenant string) []byte {
	n := 24 + uvarintLen(uint64(len(tenant))) + len(tenant)
	dst = append(dst, byte(RecDelJob))
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, id[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(tenant)))
	return append(dst, tenant...)
}

// AppendRaw appends a record of any type with the given body (extensions,
// tests).
func AppendRaw(dst []byte, t RecordType, body []byte) []byte {
	dst = append(dst, byte(t))
	return appendBytes(dst, body)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// recordFrame reads the type and body bounds of the record at the start of
// b without decoding the body: it returns the type, the body and the total
// record length.
func recordFrame(b []byte) (RecordType, []byte, int, error) {
	if len(b) < 2 {
		return 0, nil, 0, ErrShortRecord
	}
	t := RecordType(b[0])
	n, k := binary.Uvarint(b[1:])
	if k <= 0 {
		if k == 0 {
			return 0, nil, 0, ErrShortRecord
		}
		return 0, nil, 0, ErrBadRecord
	}
	if n > uint64(len(b)-1-k) {
		return 0, nil, 0, ErrShortRecord
	}
	end := 1 + k + int(n)
	return t, b[1+k : end], end, nil
}

// DecodeRecord decodes the record at the start of b and returns it with its
// encoded length. Slices in the Record alias b. It does not allocate.
func DecodeRecord(b []byte) (Record, int, error) {
	var r Record
	t, body, n, err := recordFrame(b)
	if err != nil {
		return r, 0, err
	}
	r.Type = t
	r.Raw = body
	switch t {
	case RecLoadJob:
		if err := decodeLoadJob(body, &r.Job); err != nil {
			return r, 0, err
		}
	case RecDelJob:
		d := decoder{b: body}
		copy(r.Job.ID[:], d.fixed(24))
		r.Job.Tenant = d.bytes()
		if d.bad || len(d.b) != 0 {
			return r, 0, ErrBadRecord
		}
	default:
		if t&Skippable == 0 {
			return r, 0, ErrUnknownRecord
		}
	}
	return r, n, nil
}

func decodeLoadJob(body []byte, j *Job) error {
	d := decoder{b: body}
	copy(j.ID[:], d.fixed(24))
	st := d.fixed(1)
	if !d.bad {
		if st[0] > byte(StateQueued) {
			return ErrBadRecord
		}
		j.State = State(st[0])
	}
	j.Flags = JobFlags(d.uint(math.MaxUint32))
	j.CTime = d.uint(math.MaxUint64)
	j.Expire = int64(d.uint(math.MaxUint64))
	j.Delay = uint32(d.uint(math.MaxUint32))
	j.Retry = uint32(d.uint(math.MaxUint32))
	j.Repl = uint16(d.uint(math.MaxUint16))
	j.Nacks = uint16(d.uint(math.MaxUint16))
	j.AddDel = uint16(d.uint(math.MaxUint16))
	j.Tenant = d.bytes()
	j.Queue = d.bytes()
	nh := d.uint(math.MaxInt32)
	if !d.bad && nh > uint64(len(d.b)/NodeIDLen) {
		return ErrBadRecord
	}
	j.Holders = d.fixed(int(nh) * NodeIDLen)
	j.Body = d.bytes()
	if d.bad || len(d.b) != 0 {
		return ErrBadRecord
	}
	return nil
}

// decoder reads a record body; the first failure sets bad and every later
// read returns zero values.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) fixed(n int) []byte {
	if d.bad || n > len(d.b) {
		d.bad = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint(max uint64) uint64 {
	if d.bad {
		return 0
	}
	v, k := binary.Uvarint(d.b)
	if k <= 0 || v > max {
		d.bad = true
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uint(math.MaxInt32)
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	return d.fixed(int(n))
}

// walkRecords checks the framing of a run of records (not their bodies) and
// returns how many there are. maxRec bounds a single record's size.
func walkRecords(b []byte, maxRec int) (int, error) {
	count := 0
	for len(b) > 0 {
		_, _, n, err := recordFrame(b)
		if err != nil {
			return count, err
		}
		if n > maxRec {
			return count, ErrRecordTooLarge
		}
		b = b[n:]
		count++
	}
	return count, nil
}
