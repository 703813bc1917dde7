package replicate

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"time"
)

// ---- outbound links: dial, handshake, writer ----

// dial connects to n, performs the handshake (our MEET or PING, the peer's
// PONG on the same connection) and then runs the link's writer until the
// link closes.
func (c *Cluster) dial(n *node, addr string, meet bool) {
	defer c.wg.Done()
	d := net.Dialer{Timeout: c.hsTimeout}
	conn, err := d.DialContext(c.ctx, "tcp", addr)
	if err != nil {
		c.dialFailed(n, err)
		return
	}
	// Close interrupts the handshake (the writer is interrupted by l.close).
	stop := context.AfterFunc(c.ctx, func() { _ = conn.Close() })
	defer stop()
	typ := MsgPing
	if meet {
		typ = MsgMeet
	}
	c.mu.Lock()
	if c.closed || c.nodes[n.id] != n {
		c.mu.Unlock()
		_ = conn.Close()
		return
	}
	c.scratch = appendGossip(c.scratch[:0], c.buildGossipLocked(typ, n.id))
	fw := frameWriter{compress: c.opts.Compression}
	hello := fw.appendFrame(nil, appendRecord(nil, c.scratch), 1)
	c.mu.Unlock()

	var g gossipMsg
	_ = conn.SetDeadline(time.Now().Add(c.hsTimeout))
	if _, err = conn.Write(hello); err == nil {
		c.countHandshake(len(hello), true)
		err = c.readHandshake(bufio.NewReaderSize(conn, 4096), &g, MsgPong)
	}
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		_ = conn.Close()
		c.dialFailed(n, err)
		return
	}
	c.mu.Lock()
	target, l := c.completeDialLocked(n, conn, &g)
	c.unlock()
	if l == nil {
		_ = conn.Close()
		return
	}
	c.log.Info("cluster link up", "node", target.id.String(), "addr", addr)
	// Watch the read side: the peer never writes after its handshake PONG,
	// so Read returns only when the connection closes (peer gone).
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var b [1]byte
		_, _ = conn.Read(b[:])
		l.close()
	}()
	err = c.writeLoop(l, target.peer, &fw)
	l.close()
	c.mu.Lock()
	if target.out == l {
		target.out = nil
		target.peer.box.setOpen(false)
		target.nextDial = c.now()
		c.touch(false)
	}
	closed := c.closed
	c.unlock()
	if !closed {
		c.log.Info("cluster link down", "node", target.id.String(), "err", errText(err))
	}
}

func errText(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

func (c *Cluster) dialFailed(n *node, err error) {
	c.mu.Lock()
	n.dialing = false
	if c.nodes[n.id] == n {
		now := c.now()
		n.nextDial = now.Add(c.redial)
		if n.flags&NodeHandshake == 0 && n.pingSent.IsZero() {
			n.pingSent = now
		}
		c.log.Debug("cluster dial failed", "node", n.id.String(), "addr", net.JoinHostPort(n.ip, itoa(n.port+BusPortOffset)), "err", err)
	}
	c.mu.Unlock()
}

// completeDialLocked installs a handshaken connection as the outbound link
// of the node the PONG names; it returns nil if the connection is not
// wanted (closing, met ourselves, duplicate, ID mismatch).
func (c *Cluster) completeDialLocked(n *node, conn net.Conn, g *gossipMsg) (*node, *outLink) {
	n.dialing = false
	if c.closed || c.nodes[n.id] != n {
		return nil, nil
	}
	now := c.now()
	r := g.sender
	target := n
	if n.flags&NodeHandshake != 0 {
		existing := c.nodes[r]
		switch {
		case r == c.myID:
			c.log.Debug("cluster handshake reached this node itself; dropped", "addr", conn.RemoteAddr().String())
			c.removeNodeLocked(n)
			return nil, nil
		case existing != nil:
			c.removeNodeLocked(n)
			if existing.flags&NodeHandshake != 0 || existing.out != nil || existing.dialing {
				return nil, nil
			}
			target = existing
		case n.gossip && c.blacklistedLocked(r):
			c.removeNodeLocked(n)
			return nil, nil
		default:
			delete(c.nodes, n.id)
			n.id = r
			n.flags &^= NodeHandshake | nodeMeet
			n.gossip = false
			if g.port > 0 && g.port <= maxClientPort {
				n.port = g.port
			}
			c.nodes[r] = n
			c.makePeerLocked(n)
			c.touch(true)
			c.log.Info("cluster node joined", "node", r.String(), "addr", net.JoinHostPort(n.ip, itoa(n.port)))
		}
	} else if r != n.id {
		c.log.Warn("cluster node answered with another ID; link refused", "node", n.id.String(), "answered", r.String(),
			"addr", conn.RemoteAddr().String())
		n.nextDial = now.Add(c.hsTimeout)
		if n.pingSent.IsZero() {
			n.pingSent = now
		}
		return nil, nil
	}
	l := &outLink{conn: conn, ctime: now, closed: make(chan struct{})}
	target.out = l
	target.peer.box.setOpen(true)
	c.touch(false)
	// The handshake PONG proves the node alive (clears PFAIL/FAIL) but is
	// no PING round trip: no RTT sample.
	target.pingSent = time.Time{}
	c.onGossipLocked(target, g, false)
	return target, l
}

// writeLoop sends whatever accumulated in the peer's outbox as one frame
// per wake-up (split only past MaxFrameSize or 65535 records).
func (c *Cluster) writeLoop(l *outLink, p *peer, fw *frameWriter) error {
	var spare, ctrl []byte
	var keeper bufKeeper
	for {
		select {
		case <-p.box.sig:
		case <-l.closed:
			return nil
		}
		buf, n, first, ctrlBuf, nctrl := p.box.take(spare, ctrl)
		ctrl = ctrlBuf
		if nctrl > 0 {
			if err := c.writeFrame(l, p, fw, ctrl, nctrl); err != nil {
				return err
			}
		}
		if n == 0 {
			spare = buf
			continue
		}
		if err := c.writeBatch(l, p, fw, buf, n); err != nil {
			return err
		}
		p.m.batchWait.Update(time.Since(first).Seconds())
		spare = keeper.keep(buf, len(buf))
	}
}

func (c *Cluster) writeBatch(l *outLink, p *peer, fw *frameWriter, buf []byte, n int) error {
	maxPayload := c.maxFrame - frameHeaderLen
	if len(buf) <= maxPayload && n <= maxFrameRecords {
		return c.writeFrame(l, p, fw, buf, n)
	}
	start, off, k := 0, 0, 0
	for off < len(buf) {
		ln, w := binary.Uvarint(buf[off:])
		rec := w + int(ln)
		if k > 0 && (off+rec-start > maxPayload || k == maxFrameRecords) {
			if err := c.writeFrame(l, p, fw, buf[start:off], k); err != nil {
				return err
			}
			start, k = off, 0
		}
		off += rec
		k++
	}
	return c.writeFrame(l, p, fw, buf[start:off], k)
}

func (c *Cluster) writeFrame(l *outLink, p *peer, fw *frameWriter, payload []byte, n int) error {
	fw.build(payload, n)
	_ = l.conn.SetWriteDeadline(time.Now().Add(c.writeTO))
	if _, err := fw.bufs.WriteTo(l.conn); err != nil {
		return err
	}
	l.lastWrite.Store(c.now().UnixNano())
	m := p.m
	m.framesSent.Inc()
	m.msgsSent.Add(n)
	m.payloadSent.Add(len(payload))
	m.bytesSent.Add(fw.wire)
	m.frameMsgs.Update(float64(n))
	c.tot.framesSent.Add(1)
	c.tot.msgsSent.Add(uint64(n))
	c.tot.payloadSent.Add(uint64(len(payload)))
	c.tot.bytesSent.Add(uint64(fw.wire))
	if fw.compressed {
		m.framesCompressed.Inc()
		c.tot.framesCompressed.Add(1)
	}
	return nil
}

// ---- inbound links: accept, handshake, reader ----

func (c *Cluster) acceptLoop(ln net.Listener) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			c.log.Warn("cluster bus accept", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-c.done:
				return
			}
			continue
		}
		c.mu.Lock()
		if c.closed || c.nconns >= maxConns {
			full := !c.closed
			c.mu.Unlock()
			_ = conn.Close()
			if full {
				c.log.Warn("cluster bus: too many inbound connections; refused", "remote", conn.RemoteAddr().String())
			}
			continue
		}
		c.nconns++
		c.wg.Add(1)
		c.mu.Unlock()
		go c.serveConn(conn)
	}
}

// readHandshake reads the first frame of a connection: exactly one
// membership message of type want (or PING/MEET when want is MsgPing).
func (c *Cluster) readHandshake(br *bufio.Reader, g *gossipMsg, want MsgType) error {
	var lb [4]byte
	if _, err := io.ReadFull(br, lb[:]); err != nil {
		return err
	}
	l := binary.BigEndian.Uint32(lb[:])
	if l > handshakeMaxFrame {
		return ErrFrameSize
	}
	buf, err := readN(br, nil, int(l))
	if err != nil {
		return err
	}
	payload, count, _, err := decodeFrameBody(buf, nil, handshakeMaxFrame)
	if err != nil {
		return err
	}
	c.countHandshake(len(buf)+4, false)
	if count != 1 {
		return ErrBadFrame
	}
	rec, rest, err := nextRecord(payload)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return ErrBadFrame
	}
	n, err := g.decode(rec)
	if err != nil {
		return err
	}
	if n != len(rec) {
		return ErrBadMsg
	}
	if g.typ != want && !(want == MsgPing && g.typ == MsgMeet) {
		return ErrBadMsg
	}
	return nil
}

// countHandshake counts a handshake frame (one message) in the totals.
func (c *Cluster) countHandshake(wire int, sent bool) {
	if sent {
		c.tot.framesSent.Add(1)
		c.tot.msgsSent.Add(1)
		c.tot.bytesSent.Add(uint64(wire))
		c.tot.payloadSent.Add(uint64(wire - frameHeaderLen))
	} else {
		c.tot.framesRecv.Add(1)
		c.tot.msgsRecv.Add(1)
		c.tot.bytesRecv.Add(uint64(wire))
		c.tot.payloadRecv.Add(uint64(wire - frameHeaderLen))
	}
}

func addrIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	return ""
}

// serveConn runs an inbound connection: the peer's handshake (PING or
// MEET), our PONG, then the reader until the connection ends.
func (c *Cluster) serveConn(conn net.Conn) {
	defer c.wg.Done()
	defer func() {
		_ = conn.Close()
		c.mu.Lock()
		c.nconns--
		c.mu.Unlock()
	}()
	stop := context.AfterFunc(c.ctx, func() { _ = conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(c.hsTimeout))
	br := bufio.NewReaderSize(conn, readBufSize)
	var g gossipMsg
	if err := c.readHandshake(br, &g, MsgPing); err != nil {
		c.log.Debug("cluster bus: bad handshake; connection closed", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	remoteIP, localIP := addrIP(conn.RemoteAddr()), addrIP(conn.LocalAddr())
	in := &inLink{id: g.sender, conn: conn}
	in.lastRecv.Store(c.now().UnixNano())
	c.mu.Lock()
	if c.closed || g.sender == c.myID {
		c.mu.Unlock()
		return
	}
	if c.self.ip == "" && localIP != "" {
		c.self.ip = localIP
		c.log.Info("cluster: learned this node's IP from a peer", "ip", localIP)
		c.touch(true)
	}
	s := c.nodes[g.sender]
	if s == nil && g.typ == MsgMeet && remoteIP != "" && g.port > 0 && g.port <= maxClientPort {
		s = &node{id: g.sender, ip: remoteIP, port: g.port, flags: g.flags & NodeLeaving, ctime: c.now()}
		c.addNodeLocked(s)
		c.log.Info("cluster node met us", "node", s.id.String(), "addr", net.JoinHostPort(remoteIP, itoa(g.port)))
		c.kickCron()
	}
	// An older connection from the same node is not closed here: the
	// dialer may still drop this one (a MEET to a node it already has a
	// link to), and a dead one ends by EOF or the idle timeout.
	c.inbound[g.sender] = append(c.inbound[g.sender], in)
	c.onGossipLocked(s, &g, false)
	c.scratch = appendGossip(c.scratch[:0], c.buildGossipLocked(MsgPong, g.sender))
	fw := frameWriter{compress: c.opts.Compression}
	pong := fw.appendFrame(nil, appendRecord(nil, c.scratch), 1)
	c.unlock()

	_, err := conn.Write(pong)
	if err == nil {
		c.countHandshake(len(pong), true)
	}
	_ = conn.SetDeadline(time.Time{})
	if err == nil {
		err = c.readLoop(in, br)
	}
	c.mu.Lock()
	ins := slices.DeleteFunc(c.inbound[in.id], func(x *inLink) bool { return x == in })
	if len(ins) == 0 {
		delete(c.inbound, in.id)
	} else {
		c.inbound[in.id] = ins
	}
	closed := c.closed
	c.mu.Unlock()
	if !closed && err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.log.Warn("cluster bus: inbound link closed", "node", in.id.String(), "remote", conn.RemoteAddr().String(), "err", err)
	}
}

// readN reads exactly n bytes into buf (reused), growing it as bytes
// arrive so a lying length prefix cannot make us allocate ahead of data.
func readN(r io.Reader, buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nc := min(n, max(2*cap(buf), 64<<10))
			nb := make([]byte, len(buf), nc)
			copy(nb, buf)
			buf = nb
		}
		m := min(n, cap(buf))
		k, err := io.ReadFull(r, buf[len(buf):m])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// readLoop reads frames from a peer until an error: membership messages
// are processed here, job messages go to the Handler in runs.
func (c *Cluster) readLoop(in *inLink, br *bufio.Reader) error {
	var (
		lb      [4]byte
		buf     []byte
		scratch []byte
		msgs    []Msg
		g       gossipMsg

		bufKeep, scratchKeep bufKeeper
	)
	h := c.opts.Handler
	for {
		_ = in.conn.SetReadDeadline(time.Now().Add(c.idleTimeout))
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			return err
		}
		l := binary.BigEndian.Uint32(lb[:])
		if int64(l) > int64(c.maxFrame-4) {
			return ErrFrameSize
		}
		var err error
		if buf, err = readN(br, buf, int(l)); err != nil {
			return err
		}
		payload, count, sc, err := decodeFrameBody(buf, scratch, c.maxFrame)
		scratch = sc
		if err != nil {
			return err
		}
		if err := checkRecords(payload, count); err != nil {
			return err
		}
		in.lastRecv.Store(c.now().UnixNano())
		p := (*c.peers.Load())[in.id]
		if p != nil {
			p.m.framesRecv.Inc()
			p.m.msgsRecv.Add(count)
			p.m.payloadRecv.Add(len(payload))
			p.m.bytesRecv.Add(int(l) + 4)
		}
		c.tot.framesRecv.Add(1)
		c.tot.msgsRecv.Add(uint64(count))
		c.tot.payloadRecv.Add(uint64(len(payload)))
		c.tot.bytesRecv.Add(uint64(l) + 4)

		k := 0
		deliver := func() {
			if k > 0 && h != nil && p != nil {
				h.OnMessages(in.id, msgs[:k])
			}
			k = 0
		}
		rest := payload
		for i := 0; i < count; i++ {
			var rec []byte
			rec, rest, _ = nextRecord(rest) // checked by checkRecords
			t := MsgType(rec[0])
			if t.IsJob() {
				if k == len(msgs) {
					msgs = append(msgs, Msg{})
				}
				n, err := msgs[k].Decode(rec)
				if err == nil && n != len(rec) {
					err = ErrBadMsg
				}
				if err != nil {
					return err
				}
				msgs[k].Raw = rec // lets the handler pass the bytes on without re-encoding
				k++
				continue
			}
			deliver()
			switch t {
			case MsgPing, MsgPong, MsgMeet:
				n, err := g.decode(rec)
				if err == nil && n != len(rec) {
					err = ErrBadMsg
				}
				if err != nil {
					return err
				}
				if g.sender != in.id {
					return errSenderMismatch
				}
				c.mu.Lock()
				c.onGossipLocked(c.nodes[in.id], &g, g.typ != MsgPong)
				c.unlock()
			case MsgFail:
				id, n, err := decodeFail(rec)
				if err == nil && n != len(rec) {
					err = ErrBadMsg
				}
				if err != nil {
					return err
				}
				c.mu.Lock()
				c.onFailLocked(in.id, id)
				c.unlock()
			default:
				return ErrBadMsg
			}
		}
		deliver()
		buf = bufKeep.keep(buf, len(buf))
		scratch = scratchKeep.keep(scratch, len(payload))
	}
}

// bufKeeper decides whether a reused buffer is kept: a large one (> 1 MiB)
// is released after 16 uses in a row that filled less than a quarter of
// it, so big buffers survive while a burst lasts and go after it.
type bufKeeper struct{ low int }

func (k *bufKeeper) keep(buf []byte, used int) []byte {
	if cap(buf) <= 1<<20 || used >= cap(buf)/4 {
		k.low = 0
		return buf[:0]
	}
	if k.low++; k.low < 16 {
		return buf[:0]
	}
	k.low = 0
	return nil
}

var errSenderMismatch = errors.New("replicate: message sender differs from the link's node")

func itoa(i int) string {
	var b [20]byte
	return string(appendInt(b[:0], int64(i)))
}
