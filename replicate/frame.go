package replicate

import (
	"encoding/binary"
	"errors"
	"net"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
)

// Frame layout (all integers big-endian):
//
//	u32 length          of everything after this field
//	u8  version         1
//	u8  flags           bit0: payload is an S2 block; bit1: checksum present
//	u16 record count    1..65535
//	u64 xxhash64        of the uncompressed payload (only if bit1)
//	payload             record*, possibly S2-compressed as one block
//	record := uvarint length (>= 1) | message (u8 type | u8 flags | fields)
const (
	FrameVersion = 2 // 2 added GOTJOBS (message 17): nodes of versions 1 and 2 refuse each other's frames

	frameFlagS2       = 1 << 0
	frameFlagChecksum = 1 << 1
	frameFlagsKnown   = frameFlagS2 | frameFlagChecksum

	frameHeaderLen = 4 + 1 + 1 + 2 + 8 // with checksum, as this package writes

	// DefaultMaxFrameSize bounds a frame (length field included) unless
	// Options.MaxFrameSize says otherwise; larger batches are split, a
	// single larger message is refused by Send.
	DefaultMaxFrameSize = 16 << 20
	minMaxFrameSize     = 64 << 10
	maxMaxFrameSize     = 1 << 30

	// CompressThreshold: payloads up to this size are never compressed.
	CompressThreshold = 512

	maxFrameRecords = 65535

	// handshakeMaxFrame bounds the first frame of a connection.
	handshakeMaxFrame = 1 << 20
)

// Frame errors.
var (
	ErrBadFrame    = errors.New("replicate: malformed frame")
	ErrFrameSize   = errors.New("replicate: frame too large")
	ErrVersion     = errors.New("replicate: unsupported frame version")
	ErrChecksum    = errors.New("replicate: frame checksum mismatch")
	errEmptyRecord = errors.New("replicate: empty record")
)

// frameWriter builds frames; one per link writer, reused (no allocation in
// steady state besides growing enc).
type frameWriter struct {
	compress bool
	hdr      [frameHeaderLen]byte
	enc      []byte
	arr      [2][]byte
	bufs     net.Buffers

	// results of the last build
	compressed bool
	wire       int // bytes on the wire, header included
}

// build prepares one frame holding payload (count records) and returns the
// two buffers (header, body) to write with writev. The header and body stay
// valid until the next build.
func (w *frameWriter) build(payload []byte, count int) net.Buffers {
	body := payload
	flags := byte(frameFlagChecksum)
	w.compressed = false
	if w.compress && len(payload) > CompressThreshold {
		n := s2.MaxEncodedLen(len(payload))
		if n > 0 {
			if cap(w.enc) < n {
				w.enc = make([]byte, n)
			}
			if enc := s2.Encode(w.enc[:n], payload); len(enc) < len(payload) {
				body = enc
				flags |= frameFlagS2
				w.compressed = true
			}
		}
	}
	h := w.hdr[:]
	binary.BigEndian.PutUint32(h[0:], uint32(frameHeaderLen-4+len(body)))
	h[4] = FrameVersion
	h[5] = flags
	binary.BigEndian.PutUint16(h[6:], uint16(count))
	binary.BigEndian.PutUint64(h[8:], xxhash.Sum64(payload))
	w.wire = frameHeaderLen + len(body)
	w.arr[0], w.arr[1] = h, body
	w.bufs = w.arr[:]
	return w.bufs
}

// appendFrame appends one whole frame (tests, handshakes).
func (w *frameWriter) appendFrame(dst, payload []byte, count int) []byte {
	for _, b := range w.build(payload, count) {
		dst = append(dst, b...)
	}
	return dst
}

// appendRecord appends one length-prefixed record to a payload.
func appendRecord(payload, msg []byte) []byte {
	payload = binary.AppendUvarint(payload, uint64(len(msg)))
	return append(payload, msg...)
}

// decodeFrameBody checks one frame body (everything after the u32 length)
// and returns its uncompressed payload and record count. The payload aliases
// b, or scratch when the frame is compressed; scratch is returned (possibly
// grown, at most to maxPayload) for reuse. Record boundaries are not checked
// here (see records).
func decodeFrameBody(b, scratch []byte, maxPayload int) (payload []byte, count int, _ []byte, err error) {
	if len(b) < 4 {
		return nil, 0, scratch, ErrBadFrame
	}
	ver, flags := b[0], b[1]
	count = int(binary.BigEndian.Uint16(b[2:]))
	if ver != FrameVersion {
		return nil, 0, scratch, ErrVersion
	}
	if flags&^frameFlagsKnown != 0 || count == 0 {
		return nil, 0, scratch, ErrBadFrame
	}
	p := b[4:]
	var sum uint64
	if flags&frameFlagChecksum != 0 {
		if len(p) < 8 {
			return nil, 0, scratch, ErrBadFrame
		}
		sum = binary.BigEndian.Uint64(p)
		p = p[8:]
	}
	if flags&frameFlagS2 != 0 {
		n, err := s2.DecodedLen(p)
		if err != nil {
			return nil, 0, scratch, ErrBadFrame
		}
		if n > maxPayload {
			return nil, 0, scratch, ErrFrameSize
		}
		if cap(scratch) < n {
			scratch = make([]byte, n)
		}
		p, err = s2.Decode(scratch[:n], p)
		if err != nil {
			return nil, 0, scratch, ErrBadFrame
		}
	}
	if len(p) > maxPayload {
		return nil, 0, scratch, ErrFrameSize
	}
	if flags&frameFlagChecksum != 0 && xxhash.Sum64(p) != sum {
		return nil, 0, scratch, ErrChecksum
	}
	return p, count, scratch, nil
}

// decodeFrame decodes one whole frame (length field included) from the
// start of b: the payload, its record count and the bytes used.
func decodeFrame(b, scratch []byte, maxFrame int) (payload []byte, count, n int, _ []byte, err error) {
	if len(b) < 4 {
		return nil, 0, 0, scratch, ErrBadFrame
	}
	l := binary.BigEndian.Uint32(b)
	if int64(l) > int64(maxFrame-4) {
		return nil, 0, 0, scratch, ErrFrameSize
	}
	if int64(len(b)-4) < int64(l) {
		return nil, 0, 0, scratch, ErrBadFrame
	}
	payload, count, scratch, err = decodeFrameBody(b[4:4+l], scratch, maxFrame)
	return payload, count, 4 + int(l), scratch, err
}

// nextRecord splits the first record off a payload.
func nextRecord(p []byte) (rec, rest []byte, err error) {
	l, n := binary.Uvarint(p)
	if n <= 0 {
		return nil, nil, ErrBadFrame
	}
	if l == 0 {
		return nil, nil, errEmptyRecord
	}
	if l > uint64(len(p)-n) {
		return nil, nil, ErrBadFrame
	}
	end := n + int(l)
	return p[n:end:end], p[end:], nil
}

// checkRecords verifies that payload holds exactly count records.
func checkRecords(p []byte, count int) error {
	for i := 0; i < count; i++ {
		var err error
		if _, p, err = nextRecord(p); err != nil {
			return err
		}
	}
	if len(p) != 0 {
		return ErrBadFrame
	}
	return nil
}
