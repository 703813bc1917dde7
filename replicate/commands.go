package replicate

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Errors of the CLUSTER commands. Their texts are the spec's replies
// without the "-ERR " prefix (commands.md 4.2), so the engine answers
// "ERR " + err.Error().
var (
	ErrInvalidNodeID = errors.New("Invalid node identifier")
	ErrForgetMyself  = errors.New("I tried hard but I can't forget myself...")
)

// Meet starts a handshake with the node whose client port is port (the bus
// connection goes to port+10000). ip must be a literal IPv4/IPv6 address and
// port 1..55535, otherwise the error reads
// "Invalid node address specified: <ip>:<port>". A handshake already in
// progress to the same address is not duplicated (and is no error).
// Parsing the port argument ("Invalid TCP port specified") is the caller's.
func (c *Cluster) Meet(ip string, port int) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || port <= 0 || port > maxClientPort {
		return errors.New("Invalid node address specified: " + ip + ":" + strconv.Itoa(port))
	}
	c.mu.Lock()
	if !c.closed {
		c.startHandshakeLocked(a.Unmap().String(), port, false)
	}
	c.unlock()
	return nil
}

// Forget removes a node and blacklists its ID for ForgetBlacklist (60 s) so
// gossip does not add it back. Errors (texts as the spec's replies):
// "Invalid node identifier" (length != 40), "Unknown node <id>",
// "I tried hard but I can't forget myself...".
func (c *Cluster) Forget(id string) error {
	if len(id) != NodeIDLen {
		return ErrInvalidNodeID
	}
	nid, ok := ParseNodeID(id)
	c.mu.Lock()
	defer c.unlock()
	n := c.nodes[nid]
	if !ok || n == nil {
		return errors.New("Unknown node " + id)
	}
	if n == c.self {
		return ErrForgetMyself
	}
	c.removeNodeLocked(n)
	c.blacklist[nid] = c.now().Add(c.opts.ForgetBlacklist)
	c.log.Info("cluster node forgotten", "node", id)
	return nil
}

// Reset forgets every other node (links closed; no blacklist). hard also
// gives this node a new random ID. The leaving flag is kept. Deleting jobs
// and queues is the caller's part of CLUSTER RESET.
func (c *Cluster) Reset(hard bool) {
	c.mu.Lock()
	defer c.unlock()
	for _, n := range c.nodes {
		if n != c.self {
			c.removeNodeLocked(n)
		}
	}
	if hard {
		delete(c.nodes, c.myID)
		c.myID = randomID()
		c.self.id = c.myID
		c.nodes[c.myID] = c.self
	}
	c.touch(true)
	c.log.Info("cluster reset", "hard", hard, "node", c.myID.String())
}

// SetLeaving sets or clears this node's leaving flag: persisted in the
// config file (asynchronously, within milliseconds; Close and SaveConfig
// flush) and advertised at once with a PING to every connected node.
func (c *Cluster) SetLeaving(leaving bool) {
	c.mu.Lock()
	defer c.unlock()
	if (c.self.flags&NodeLeaving != 0) == leaving {
		return
	}
	c.self.flags ^= NodeLeaving
	c.touch(true)
	c.log.Info("cluster leaving state changed", "leaving", leaving)
	for _, n := range c.nodes {
		if n != c.self && n.flags&NodeHandshake == 0 {
			c.sendGossipLocked(n, MsgPing)
		}
	}
}

// Leaving reports whether this node is leaving.
func (c *Cluster) Leaving() bool { return c.view.Load().Leaving }

// SaveConfig writes the config file now. The error's text is the OS error
// alone ("permission denied"), for the spec's reply
// "-ERR error saving the cluster node config: <OS error>". Without a config
// file it does nothing.
func (c *Cluster) SaveConfig() error {
	if err := c.saveConfig(); err != nil {
		return errors.New(osErrorText(err))
	}
	return nil
}

// sortedNodesLocked returns this node first, then the others by ID.
func (c *Cluster) sortedNodesLocked() []*node {
	ns := make([]*node, 0, len(c.nodes))
	for _, n := range c.nodes {
		if n != c.self {
			ns = append(ns, n)
		}
	}
	slices.SortFunc(ns, func(a, b *node) int { return compareIDs(a.id, b.id) })
	return append([]*node{c.self}, ns...)
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// appendNodesLocked appends CLUSTER NODES lines (this node first, then by
// ID); handshake entries only when handshake is true (not in the config
// file).
func (c *Cluster) appendNodesLocked(dst []byte, handshake bool) []byte {
	for _, n := range c.sortedNodesLocked() {
		if n.flags&NodeHandshake != 0 && !handshake {
			continue
		}
		flags := c.displayFlagsLocked(n)
		dst = n.id.AppendText(dst)
		dst = append(dst, ' ')
		if len(n.ip) > 0 {
			dst = append(dst, n.ip...)
		}
		dst = append(dst, ':')
		dst = appendInt(dst, int64(n.port))
		dst = append(dst, ' ')
		dst = flags.AppendText(dst)
		dst = append(dst, ' ')
		dst = appendInt(dst, unixMs(n.pingSent))
		dst = append(dst, ' ')
		dst = appendInt(dst, unixMs(n.pongRecv))
		if n == c.self || n.out != nil {
			dst = append(dst, " connected\n"...)
		} else {
			dst = append(dst, " disconnected\n"...)
		}
	}
	return dst
}

// displayFlagsLocked returns a node's public flags (noaddr for another
// node whose IP is unknown).
func (c *Cluster) displayFlagsLocked(n *node) NodeFlags {
	f := n.flags &^ nodeMeet
	if n != c.self && n.ip == "" {
		f |= NodeNoAddr
	}
	return f
}

// NodesText returns CLUSTER NODES: one line per known node (this node
// first, then handshake and other nodes by ID), each
// "<id> <ip>:<port> <flags> <ping-sent-ms> <pong-received-ms> <connected|disconnected>\n".
func (c *Cluster) NodesText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.appendNodesLocked(nil, true))
}

// InfoText returns CLUSTER INFO: "key:value\r\n" lines in the spec's order.
func (c *Cluster) InfoText() string {
	c.mu.Lock()
	known, size, reach := len(c.nodes), 0, 0
	for _, n := range c.nodes {
		if n.flags&NodeHandshake == 0 {
			size++
			if n.flags&(NodeMyself|NodeLeaving|NodePFail|NodeFail) == 0 {
				reach++
			}
		}
	}
	c.mu.Unlock()
	b := make([]byte, 0, 200)
	line := func(k string, v uint64) {
		b = append(b, k...)
		b = append(b, ':')
		b = strconv.AppendUint(b, v, 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "cluster_state:ok\r\n"...)
	line("cluster_known_nodes", uint64(known))
	line("cluster_reachable_nodes", uint64(reach))
	line("cluster_size", uint64(size))
	line("cluster_stats_messages_sent", c.tot.msgsSent.Load())
	line("cluster_stats_messages_received", c.tot.msgsRecv.Load())
	return string(b)
}

// HelloNode is one entry of HELLO's reply.
type HelloNode struct {
	ID       NodeID
	IP       string
	Port     int // client port
	Priority int // 1 normal, 5 no open link, 10 PFAIL, 100 FAIL or leaving
}

// Hello returns HELLO's node list: this node first, then the other known
// nodes by ID (handshake entries omitted, as the spec recommends).
func (c *Cluster) Hello() []HelloNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]HelloNode, 0, len(c.nodes))
	for _, n := range c.sortedNodesLocked() {
		if n.flags&NodeHandshake != 0 {
			continue
		}
		prio := 1
		if n != c.self && n.out == nil {
			prio = 5
		}
		if n.flags&NodePFail != 0 {
			prio = 10
		}
		if n.flags&(NodeFail|NodeLeaving) != 0 {
			prio = 100
		}
		out = append(out, HelloNode{ID: n.id, IP: n.ip, Port: n.port, Priority: prio})
	}
	return out
}

// nodeTimes returns a node's ping-sent and pong-received times (tests).
func (c *Cluster) nodeTimes(id NodeID) (ping, pong time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	if n == nil {
		return
	}
	return n.pingSent, n.pongRecv, true
}
