package aof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
)

// File layout constants (see doc.go).
const (
	// Magic starts every disq append-only file.
	Magic = "DISQAOF\x00"
	// Version is the format version this package writes and the newest it
	// reads.
	Version = 1
	// HeaderSize is the size of the file header.
	HeaderSize = 16
	// BatchHeaderSize is the size of a batch header.
	BatchHeaderSize = 24
	// MaxBatchPayload bounds a batch payload, stored or uncompressed; a
	// header announcing more is corrupt.
	MaxBatchPayload = 64 << 20

	// BatchS2 is the batch flag: the payload is an S2 block.
	BatchS2 = 1

	// compressMin is the smallest payload the writer tries to compress.
	compressMin = 512
	// defaultBatchTarget is the payload size at which the writer starts a
	// new batch.
	defaultBatchTarget = 1 << 20
)

var (
	// ErrNotAOF: the file does not start with disq's magic.
	ErrNotAOF = errors.New("not a disq append-only file")
	// ErrDisqueAOF: the file looks like an original Disque (or Redis) AOF.
	ErrDisqueAOF = errors.New("it holds Disque's RESP commands, and disq has its own format")
	// ErrVersion: the file was written by a newer disq.
	ErrVersion = errors.New("unsupported append-only file version")
	// ErrBadHeader: the file header is damaged.
	ErrBadHeader = errors.New("damaged append-only file header")
)

func sum32(b []byte) uint32 { return uint32(xxhash.Sum64(b)) }

// appendFileHeader appends the 16-byte file header.
func appendFileHeader(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, Magic...)
	dst = binary.LittleEndian.AppendUint16(dst, Version)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	return binary.LittleEndian.AppendUint32(dst, sum32(dst[start:start+12]))
}

// checkFileHeader validates the first bytes of a file (all of them when it
// is shorter than a header). torn reports a file that ends inside a header
// that is otherwise disq's (an interrupted creation).
func checkFileHeader(path string, b []byte) (torn bool, err error) {
	if len(b) < HeaderSize {
		if bytes.HasPrefix([]byte(Magic), b[:min(len(b), len(Magic))]) {
			return true, nil
		}
		return false, foreign(path, b)
	}
	if string(b[:8]) != Magic {
		return false, foreign(path, b)
	}
	if sum32(b[:12]) != binary.LittleEndian.Uint32(b[12:16]) {
		return false, fmt.Errorf("aof: %s: %w (checksum mismatch): the file cannot be loaded; move it away to start empty", path, ErrBadHeader)
	}
	v := binary.LittleEndian.Uint16(b[8:10])
	if v == 0 || v > Version {
		return false, fmt.Errorf("aof: %s: %w %d (this disq reads up to version %d): it was written by a newer disq", path, ErrVersion, v, Version)
	}
	if f := binary.LittleEndian.Uint16(b[10:12]); f != 0 {
		return false, fmt.Errorf("aof: %s: %w (unknown header flags %#x): it was written by a newer disq", path, ErrVersion, f)
	}
	return false, nil
}

// foreign builds the error for a file that is not disq's.
func foreign(path string, b []byte) error {
	head := b[:min(len(b), 16)]
	up := bytes.ToUpper(bytes.TrimLeft(head, " \t\r\n"))
	switch {
	case len(head) > 0 && head[0] == '*',
		bytes.HasPrefix(up, []byte("LOADJOB")), bytes.HasPrefix(up, []byte("DELJOB")):
		return fmt.Errorf("aof: %s was written by Disque, not disq; disq cannot load it: %w; move the file away (re-add its jobs through a client) or point dir/appendfilename elsewhere", path, ErrDisqueAOF)
	case bytes.HasPrefix(head, []byte("REDIS")):
		return fmt.Errorf("aof: %s looks like a Redis RDB/AOF file, not disq's; disq cannot load it: %w", path, ErrNotAOF)
	}
	return fmt.Errorf("aof: %s: %w (it does not start with %q); move it away or point appendfilename elsewhere", path, ErrNotAOF, Magic[:7])
}

// batchHeader is the decoded form of a batch header:
//
//	0  u32  stored payload length
//	4  u8   flags (bit 0: S2)
//	5  u8×3 reserved, zero
//	8  u32  record count
//	12 u64  xxhash64 of the uncompressed payload
//	20 u32  low 32 bits of xxhash64 of bytes 0..19
type batchHeader struct {
	n     uint32
	flags uint8
	count uint32
	sum   uint64
}

func putBatchHeader(dst []byte, h batchHeader) {
	_ = dst[BatchHeaderSize-1]
	binary.LittleEndian.PutUint32(dst[0:], h.n)
	dst[4], dst[5], dst[6], dst[7] = h.flags, 0, 0, 0
	binary.LittleEndian.PutUint32(dst[8:], h.count)
	binary.LittleEndian.PutUint64(dst[12:], h.sum)
	binary.LittleEndian.PutUint32(dst[20:], sum32(dst[:20]))
}

// parseBatchHeader validates a batch header's own checksum and bounds.
func parseBatchHeader(b []byte) (batchHeader, string) {
	var h batchHeader
	if sum32(b[:20]) != binary.LittleEndian.Uint32(b[20:24]) {
		return h, "batch header checksum mismatch"
	}
	h.n = binary.LittleEndian.Uint32(b[0:])
	h.flags = b[4]
	h.count = binary.LittleEndian.Uint32(b[8:])
	h.sum = binary.LittleEndian.Uint64(b[12:])
	switch {
	case h.flags&^BatchS2 != 0 || b[5]|b[6]|b[7] != 0:
		return h, fmt.Sprintf("unknown batch flags %#x", b[4:8])
	case h.n > MaxBatchPayload:
		return h, fmt.Sprintf("batch length %d exceeds the %d-byte limit", h.n, MaxBatchPayload)
	case h.n == 0 || h.count == 0:
		return h, "empty batch"
	case uint64(h.count) > MaxBatchPayload/2:
		return h, fmt.Sprintf("implausible record count %d", h.count)
	}
	return h, ""
}

// decodePayload checks and decompresses a batch payload into scratch; it
// returns the uncompressed payload (scratch's storage or stored itself).
func decodePayload(h batchHeader, stored, scratch []byte) ([]byte, []byte, string) {
	p := stored
	if h.flags&BatchS2 != 0 {
		n, err := s2.DecodedLen(stored)
		if err != nil {
			return nil, scratch, "undecodable S2 payload: " + err.Error()
		}
		if n > MaxBatchPayload {
			return nil, scratch, fmt.Sprintf("S2 payload decodes to %d bytes, over the %d-byte limit", n, MaxBatchPayload)
		}
		if cap(scratch) < n {
			scratch = make([]byte, n)
		}
		p, err = s2.Decode(scratch[:cap(scratch)], stored)
		if err != nil {
			return nil, scratch, "undecodable S2 payload: " + err.Error()
		}
	}
	if xxhash.Sum64(p) != h.sum {
		return nil, scratch, "payload checksum mismatch"
	}
	return p, scratch, ""
}

// batchEncoder packs records into sealed batches appended to out.
type batchEncoder struct {
	target   int  // payload size that closes a batch
	compress bool // try S2 above compressMin
	payload  []byte
	count    int
	zbuf     []byte // S2 scratch
	out      []byte // sealed batches
	batches  int64
	zbatches int64
}

// add appends already-framed records (validated by the caller; n of them,
// or -1 when not counted) and seals batches as they fill. A batch boundary
// falls only between records.
func (e *batchEncoder) add(recs []byte, n int) {
	for len(recs) > 0 {
		if len(e.payload)+len(recs) <= e.target {
			// Fast path: everything fits.
			if n < 0 {
				n, _ = walkRecords(recs, MaxRecordSize)
			}
			e.payload = append(e.payload, recs...)
			e.count += n
			return
		}
		// Take whole records until the batch is full.
		take, cnt := 0, 0
		for take < len(recs) {
			_, _, n, err := recordFrame(recs[take:])
			if err != nil {
				panic("aof: batchEncoder.add on unvalidated records")
			}
			if len(e.payload)+take+n > e.target && (take > 0 || len(e.payload) > 0) {
				break
			}
			take += n
			cnt++
		}
		e.payload = append(e.payload, recs[:take]...)
		e.count += cnt
		recs = recs[take:]
		if n >= 0 {
			n -= cnt
		}
		if len(recs) > 0 {
			e.seal()
		}
	}
}

// seal closes the current batch, if any.
func (e *batchEncoder) seal() {
	if e.count == 0 {
		return
	}
	h := batchHeader{n: uint32(len(e.payload)), count: uint32(e.count), sum: xxhash.Sum64(e.payload)}
	stored := e.payload
	if e.compress && len(e.payload) >= compressMin {
		if need := s2.MaxEncodedLen(len(e.payload)); cap(e.zbuf) < need {
			e.zbuf = make([]byte, need)
		}
		z := s2.Encode(e.zbuf[:cap(e.zbuf)], e.payload)
		if len(z) < len(e.payload)-len(e.payload)/16 {
			stored = z
			h.flags = BatchS2
			h.n = uint32(len(z))
			e.zbatches++
		}
	}
	off := len(e.out)
	e.out = append(e.out, make([]byte, BatchHeaderSize)...)
	putBatchHeader(e.out[off:], h)
	e.out = append(e.out, stored...)
	e.payload = e.payload[:0]
	e.count = 0
	e.batches++
}

// take returns the sealed bytes and starts a new output buffer that reuses
// spare's storage.
func (e *batchEncoder) take(spare []byte) []byte {
	e.seal()
	out := e.out
	e.out = spare[:0]
	return out
}
