package replicate

import (
	"encoding/binary"
	"sync"
	"time"
)

// outbox is a peer's multi-producer, single-consumer queue of encoded
// messages. Producers (any goroutine) append under a mutex held only for
// the copy; the link writer swaps the whole buffer out. The buffer is
// already in payload form (uvarint-length-prefixed records), so a batch
// becomes a frame without another copy. sig is a 1-slot wake-up.
//
// Membership messages (PING, PONG, FAIL) use a separate control lane that
// the writer sends as its own small frame before the data of the same
// wake-up, so liveness is not queued behind a burst of job messages.
type outbox struct {
	mu    sync.Mutex
	open  bool   // a link is up: pushes are accepted
	buf   []byte // records
	n     int    // records in buf
	ctrl  []byte // control records
	nctrl int
	first time.Time
	limit int // bytes
	sig   chan struct{}
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, sig: make(chan struct{}, 1)}
}

// push queues one message; it reports false (dropped) when no link is up or
// the outbox is over its limit. It never blocks beyond the short append.
func (o *outbox) push(msg []byte) bool {
	o.mu.Lock()
	if !o.open || len(o.buf)+len(msg) > o.limit {
		o.mu.Unlock()
		return false
	}
	if o.n == 0 {
		o.first = time.Now()
	}
	o.buf = binary.AppendUvarint(o.buf, uint64(len(msg)))
	o.buf = append(o.buf, msg...)
	o.n++
	o.mu.Unlock()
	select {
	case o.sig <- struct{}{}:
	default:
	}
	return true
}

// pushCtrl queues a membership message on the control lane.
func (o *outbox) pushCtrl(msg []byte) bool {
	o.mu.Lock()
	if !o.open || len(o.ctrl)+len(msg) > 1<<20 {
		o.mu.Unlock()
		return false
	}
	o.ctrl = binary.AppendUvarint(o.ctrl, uint64(len(msg)))
	o.ctrl = append(o.ctrl, msg...)
	o.nctrl++
	o.mu.Unlock()
	select {
	case o.sig <- struct{}{}:
	default:
	}
	return true
}

// take swaps the queued records out, giving spare (emptied) in exchange;
// the control records are appended to ctrl (emptied first).
func (o *outbox) take(spare, ctrl []byte) (buf []byte, n int, first time.Time, ctrlOut []byte, nctrl int) {
	o.mu.Lock()
	buf, n, first = o.buf, o.n, o.first
	o.buf, o.n = spare[:0], 0
	ctrlOut, nctrl = append(ctrl[:0], o.ctrl...), o.nctrl
	o.ctrl, o.nctrl = o.ctrl[:0], 0
	o.mu.Unlock()
	return buf, n, first, ctrlOut, nctrl
}

// setOpen opens or closes the outbox; closing drops what is queued.
func (o *outbox) setOpen(open bool) {
	o.mu.Lock()
	o.open = open
	if !open {
		o.n, o.nctrl, o.ctrl = 0, 0, o.ctrl[:0]
		if cap(o.buf) > 1<<20 {
			o.buf = nil
		} else {
			o.buf = o.buf[:0]
		}
	}
	o.mu.Unlock()
}

func (o *outbox) isOpen() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.open
}
