package engine

import (
	"fmt"
	"strconv"
	"strings"

	"disq/engine/job"
	"disq/netpoll/resp"
	"disq/replicate"
	"disq/shard"
)

// The engine's side of the cluster: CLUSTER and HELLO, cluster facts for
// ADDJOB (size, reachable nodes, leaving), and the routing of messages from
// other nodes to the shards (BusHandler).

// cluster returns the node's cluster, or nil for a lone node.
func (e *Engine) cluster() *replicate.Cluster { return e.opts.Cluster }

// clusterFacts returns the cluster size, the reachable node count and
// whether this node is leaving (a lone node: 1, 0, false).
func (e *Engine) clusterFacts() (size, reachable int, leaving bool) {
	c := e.cluster()
	if c == nil {
		return 1, 0, false
	}
	v := c.View()
	return max(v.Size, 1), v.ReachableCount, v.Leaving
}

// HELLO: this node's ID and every known node with its priority.
func cmdHello(s *Session, args [][]byte) {
	c := s.e.cluster()
	b := s.reply()
	if c == nil {
		d := resp.AppendArray(*b, 3)
		d = resp.AppendInt(d, 1)
		d = resp.AppendBulkString(d, s.e.nodeID)
		d = resp.AppendArray(d, 4)
		d = resp.AppendBulkString(d, s.e.nodeID)
		d = resp.AppendBulkString(d, "")
		d = resp.AppendBulkString(d, strconv.Itoa(s.e.Config().Port))
		d = resp.AppendBulkString(d, "1")
		*b = d
		return
	}
	nodes := c.Hello()
	d := resp.AppendArray(*b, 2+len(nodes))
	d = resp.AppendInt(d, 1)
	d = resp.AppendBulkString(d, c.MyID())
	for _, n := range nodes {
		d = resp.AppendArray(d, 4)
		d = resp.AppendBulkString(d, n.ID.String())
		d = resp.AppendBulkString(d, n.IP)
		d = resp.AppendBulkString(d, strconv.Itoa(n.Port))
		d = resp.AppendBulkString(d, strconv.Itoa(n.Priority))
	}
	*b = d
}

const errClusterSub = "ERR Wrong CLUSTER subcommand or number of arguments"

// CLUSTER MEET | NODES | MYID | INFO | SAVECONFIG | FORGET | RESET | LEAVING
func cmdCluster(s *Session, args [][]byte) {
	c := s.e.cluster()
	if c == nil {
		s.replyError(errNotImplemented("CLUSTER (this node runs without a cluster bus: port 0)"))
		return
	}
	sub := args[1]
	switch {
	case eqFold(sub, "meet") && len(args) == 4:
		port, ok := parseInt(args[3])
		if !ok {
			s.replyError("ERR Invalid TCP port specified: " + string(args[3]))
			return
		}
		if err := c.Meet(string(args[2]), int(port)); err != nil {
			s.replyError("ERR " + err.Error())
			return
		}
		s.replyOK()
	case eqFold(sub, "nodes") && len(args) == 2:
		s.replyBulk([]byte(c.NodesText()))
	case eqFold(sub, "myid") && len(args) == 2:
		s.replyBulk([]byte(c.MyID()))
	case eqFold(sub, "info") && len(args) == 2:
		s.replyBulk([]byte(c.InfoText()))
	case eqFold(sub, "saveconfig") && len(args) == 2:
		if err := c.SaveConfig(); err != nil {
			s.replyError("ERR error saving the cluster node config: " + err.Error())
			return
		}
		s.replyOK()
	case eqFold(sub, "forget") && len(args) == 3:
		if err := c.Forget(string(args[2])); err != nil {
			s.replyError("ERR " + err.Error())
			return
		}
		s.replyOK()
	case eqFold(sub, "reset") && len(args) <= 3:
		hard := false
		if len(args) == 3 {
			switch {
			case eqFold(args[2], "hard"):
				hard = true
			case eqFold(args[2], "soft"):
			default:
				s.replyError(errSyntax)
				return
			}
		}
		c.Reset(hard)
		// Every job and queue of this node goes (blocked clients get *nil,
		// ADDJOB clients waiting for replication the NOREPL error).
		s.flushShards()
	case eqFold(sub, "leaving") && len(args) == 2:
		if c.Leaving() {
			s.replySimple("yes")
		} else {
			s.replySimple("no")
		}
	case eqFold(sub, "leaving") && len(args) == 3:
		switch {
		case eqFold(args[2], "yes"):
			c.SetLeaving(true)
		case eqFold(args[2], "no"):
			c.SetLeaving(false)
		default:
			s.replyError("ERR Wrong argument for CLUSTER LEAVING. Use 'yes' or 'no'")
			return
		}
		s.replyOK()
	default:
		s.replyError(errClusterSub)
	}
}

// splitByShard returns the shard of ids when they all belong to one of the
// n shards (per nil), else the IDs of each shard. A replica's shard serves
// the same slots as this node's when the shard counts match, so a GOTJOBS
// message usually goes to one shard whole.
func splitByShard(ids [][24]byte, n int) (first int, per [][][24]byte) {
	shardOf := func(id [24]byte) int { jid := job.ID(id); return shard.Of(jid.Slot(), n) }
	first = shardOf(ids[0])
	for k, id := range ids[1:] {
		if shardOf(id) != first {
			per = make([][][24]byte, n)
			per[first] = append(per[first], ids[:k+1]...)
			for _, id := range ids[k+1:] {
				i := shardOf(id)
				per[i] = append(per[i], id)
			}
			return first, per
		}
	}
	return first, nil
}

// BusHandler routes messages from other nodes to the shards that own their
// jobs or queues, and tenant definitions to the tenant sync (tenantsync.go).
// It implements replicate.Handler; its methods run on the bus's goroutines.
type BusHandler struct{ E *Engine }

// OnMessages copies each message into a batch for its shard.
func (h BusHandler) OnMessages(from replicate.NodeID, msgs []replicate.Msg) {
	e := h.E
	if e == nil {
		return
	}
	n := len(e.shards)
	batches := make([]*shard.Batch, n)
	var scratch []byte // Arg copies the encoding into the batch
	add := func(i int, m *replicate.Msg) {
		b := batches[i]
		if b == nil {
			b = shard.GetBatch()
			batches[i] = b
		}
		enc := m.Raw // the received encoding, decoded again by the shard
		if enc == nil {
			scratch = replicate.AppendMsg(scratch[:0], m)
			enc = scratch
		}
		a := b.NumArgs()
		b.Arg(enc)
		b.Arg(from[:])
		b.Ops = append(b.Ops, shard.Op{Kind: shard.OpBus, A: a, B: b.NumArgs()})
	}
	for k := range msgs {
		m := &msgs[k]
		switch m.Type {
		case replicate.MsgTenant:
			if e.tsync != nil {
				e.tsync.receive(from, m)
			}
		case replicate.MsgNeedJobs, replicate.MsgPause:
			add(shard.Of(shard.Slot(string(m.Tenant), m.Queue), n), m)
		case replicate.MsgGotJobs:
			if first, per := splitByShard(m.IDs, n); per == nil {
				add(first, m) // the usual case: every ID is one shard's
			} else {
				for i, ids := range per {
					if len(ids) > 0 {
						add(i, &replicate.Msg{Type: replicate.MsgGotJobs, ID: ids[0], IDs: ids})
					}
				}
			}
		case replicate.MsgYourJobs:
			per := make(map[int][]replicate.Job)
			for _, j := range m.Jobs {
				id := job.ID(j.ID)
				i := shard.Of(id.Slot(), n)
				per[i] = append(per[i], j)
			}
			for i, jobs := range per {
				add(i, &replicate.Msg{Type: replicate.MsgYourJobs, Jobs: jobs})
			}
		default:
			id := job.ID(m.ID)
			add(shard.Of(id.Slot(), n), m)
		}
	}
	for i, b := range batches {
		if b != nil {
			e.shards[i].Push(b)
		}
	}
}

// OnMembership: shards read the newest view at every step; the tenant sync
// looks for links that came up.
func (h BusHandler) OnMembership(*replicate.View) {
	if h.E != nil && h.E.tsync != nil {
		h.E.tsync.kick()
	}
}

// infoBus is INFO's "# Bus" section: replication batches per peer.
func (e *Engine) infoBus() [][2]string {
	c := e.cluster()
	if c == nil {
		return nil
	}
	st := c.Stats()
	t := st.Total
	per := func(p replicate.PeerStats) string {
		ratio := 0.0
		if p.BytesSent > 0 {
			ratio = float64(p.PayloadBytesSent) / float64(p.BytesSent)
		}
		msgs := 0.0
		if p.FramesSent > 0 {
			msgs = float64(p.MessagesSent) / float64(p.FramesSent)
		}
		return fmt.Sprintf("frames_sent=%d,frames_received=%d,frames_compressed=%d,messages_sent=%d,messages_received=%d,messages_dropped=%d,messages_per_frame=%.2f,payload_bytes_sent=%d,bytes_sent=%d,compression_ratio=%.2f,rtt_us=%d,repl_confirms=%d,repl_latency_us=%d",
			p.FramesSent, p.FramesReceived, p.FramesCompressed, p.MessagesSent, p.MessagesReceived, p.MessagesDropped, msgs, p.PayloadBytesSent, p.BytesSent, ratio, p.LastRTT.Microseconds(), p.ReplConfirms, p.ReplLatency.Microseconds())
	}
	lines := [][2]string{{"bus_total", per(t)}}
	for _, p := range st.Peers {
		lines = append(lines, [2]string{"bus_peer_" + strings.ToLower(p.ID.String()[:8]), per(p)})
	}
	return lines
}
