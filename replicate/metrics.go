package replicate

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Metric names (per peer, label peer="<40-hex node id>"):
//
//	disq_bus_frames_sent_total, disq_bus_frames_received_total
//	disq_bus_frames_compressed_total         frames sent S2-compressed
//	disq_bus_messages_sent_total, disq_bus_messages_received_total
//	disq_bus_messages_dropped_total          Send while the peer has no link, or outbox full
//	disq_bus_payload_bytes_sent_total        before compression
//	disq_bus_bytes_sent_total                on the wire, frame headers included
//	disq_bus_payload_bytes_received_total, disq_bus_bytes_received_total
//	disq_bus_frame_messages                  histogram: messages per frame sent
//	disq_bus_batch_wait_seconds              histogram: first message queued -> its frame written
//	disq_bus_ping_rtt_seconds                histogram: PING sent -> PONG received
//	disq_bus_repl_latency_seconds            histogram: REPLJOB sent -> the peer's
//	                                         confirmation received (one sample per
//	                                         GOTJOB/GOTJOBS message: its copies' mean)
//
// Node-wide gauges: disq_bus_known_nodes, disq_bus_reachable_nodes.
// Counters are updated once per frame (never per job on a shard).

type peerMetrics struct {
	names []string

	framesSent, framesRecv, framesCompressed *metrics.Counter
	msgsSent, msgsRecv, msgsDropped          *metrics.Counter
	payloadSent, bytesSent                   *metrics.Counter
	payloadRecv, bytesRecv                   *metrics.Counter
	frameMsgs, batchWait, rtt, replLat       *metrics.Histogram
	lastRTT                                  atomic.Int64
	replSum, replN                           atomic.Int64 // every confirmed copy: ns, count
}

func newPeerMetrics(set *metrics.Set, id NodeID) *peerMetrics {
	pm := &peerMetrics{}
	label := `{peer="` + id.String() + `"}`
	counter := func(name string) *metrics.Counter {
		name += label
		pm.names = append(pm.names, name)
		return set.GetOrCreateCounter(name)
	}
	hist := func(name string) *metrics.Histogram {
		name += label
		pm.names = append(pm.names, name)
		return set.GetOrCreateHistogram(name)
	}
	pm.framesSent = counter("disq_bus_frames_sent_total")
	pm.framesRecv = counter("disq_bus_frames_received_total")
	pm.framesCompressed = counter("disq_bus_frames_compressed_total")
	pm.msgsSent = counter("disq_bus_messages_sent_total")
	pm.msgsRecv = counter("disq_bus_messages_received_total")
	pm.msgsDropped = counter("disq_bus_messages_dropped_total")
	pm.payloadSent = counter("disq_bus_payload_bytes_sent_total")
	pm.bytesSent = counter("disq_bus_bytes_sent_total")
	pm.payloadRecv = counter("disq_bus_payload_bytes_received_total")
	pm.bytesRecv = counter("disq_bus_bytes_received_total")
	pm.frameMsgs = hist("disq_bus_frame_messages")
	pm.batchWait = hist("disq_bus_batch_wait_seconds")
	pm.rtt = hist("disq_bus_ping_rtt_seconds")
	pm.replLat = hist("disq_bus_repl_latency_seconds")
	return pm
}

func (pm *peerMetrics) unregister(set *metrics.Set) {
	for _, n := range pm.names {
		set.UnregisterMetric(n)
	}
}

// totals are node-wide counters (they survive forgotten peers and include
// traffic of connections from unknown senders).
type totals struct {
	framesSent, framesRecv, framesCompressed atomic.Uint64
	msgsSent, msgsRecv, msgsDropped          atomic.Uint64
	payloadSent, bytesSent                   atomic.Uint64
	payloadRecv, bytesRecv                   atomic.Uint64
	replSum, replN                           atomic.Int64
}

// PeerStats are the bus numbers of one peer (or the node-wide totals).
type PeerStats struct {
	ID                   NodeID // zero for totals
	FramesSent           uint64
	FramesReceived       uint64
	FramesCompressed     uint64 // frames sent S2-compressed
	MessagesSent         uint64 // membership messages included
	MessagesReceived     uint64
	MessagesDropped      uint64 // Send without a link, or outbox full
	PayloadBytesSent     uint64 // before compression
	BytesSent            uint64 // on the wire, frame headers included
	PayloadBytesReceived uint64 // after decompression
	BytesReceived        uint64 // on the wire
	LastRTT              time.Duration
	// ReplConfirms counts copies the peer confirmed (GOTJOB, GOTJOBS) for
	// REPLJOBs this node sent; ReplLatency is their mean time from the
	// REPLJOB's first send to the confirmation's arrival.
	ReplConfirms uint64
	ReplLatency  time.Duration
}

func meanLatency(sum, n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(sum / n)
}

// Stats are the bus numbers for INFO: node-wide totals and one entry per
// known peer (sorted by ID).
type Stats struct {
	Total PeerStats
	Peers []PeerStats
}

func (pm *peerMetrics) stats(id NodeID) PeerStats {
	return PeerStats{
		ID:                   id,
		FramesSent:           pm.framesSent.Get(),
		FramesReceived:       pm.framesRecv.Get(),
		FramesCompressed:     pm.framesCompressed.Get(),
		MessagesSent:         pm.msgsSent.Get(),
		MessagesReceived:     pm.msgsRecv.Get(),
		MessagesDropped:      pm.msgsDropped.Get(),
		PayloadBytesSent:     pm.payloadSent.Get(),
		BytesSent:            pm.bytesSent.Get(),
		PayloadBytesReceived: pm.payloadRecv.Get(),
		BytesReceived:        pm.bytesRecv.Get(),
		LastRTT:              time.Duration(pm.lastRTT.Load()),
		ReplConfirms:         uint64(pm.replN.Load()),
		ReplLatency:          meanLatency(pm.replSum.Load(), pm.replN.Load()),
	}
}

func (t *totals) stats() PeerStats {
	return PeerStats{
		FramesSent:           t.framesSent.Load(),
		FramesReceived:       t.framesRecv.Load(),
		FramesCompressed:     t.framesCompressed.Load(),
		MessagesSent:         t.msgsSent.Load(),
		MessagesReceived:     t.msgsRecv.Load(),
		MessagesDropped:      t.msgsDropped.Load(),
		PayloadBytesSent:     t.payloadSent.Load(),
		BytesSent:            t.bytesSent.Load(),
		PayloadBytesReceived: t.payloadRecv.Load(),
		BytesReceived:        t.bytesRecv.Load(),
		ReplConfirms:         uint64(t.replN.Load()),
		ReplLatency:          meanLatency(t.replSum.Load(), t.replN.Load()),
	}
}

// Metrics returns the cluster's metrics set (register it with
// metrics.RegisterSet to have metrics.WritePrometheus include it, or use
// WritePrometheus).
func (c *Cluster) Metrics() *metrics.Set { return c.set }

// WritePrometheus writes the bus metrics in Prometheus text format.
func (c *Cluster) WritePrometheus(w io.Writer) { c.set.WritePrometheus(w) }
