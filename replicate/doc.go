// Package replicate is disq's node-to-node bus and cluster membership: a
// full mesh of TCP links carrying batched, checksummed, optionally
// S2-compressed frames; the codecs of the job messages of Disque's bus
// catalogue (spec semantics.md 15) and of disq's TENANT message (tenant
// definitions, see below) and GOTJOBS (a replica's confirmations of one
// step's copies to one node, where Disque sends a GOTJOB per copy); and
// Disque-style membership (MEET,
// PING/PONG gossip, PFAIL/FAIL, FORGET with a blacklist, LEAVING, RESET, the
// cluster config file), with the texts CLUSTER and HELLO reply.
//
// The package knows nothing of jobs beyond their wire form: the engine
// encodes job messages with AppendMsg, hands them to Send/Broadcast, and
// receives the peers' messages through Handler.OnMessages.
//
// # Links
//
// The bus listens on the client port + 10000. Every node opens one
// outbound connection to every other known node and writes all its frames
// to that peer on it (PING, MEET, FAIL, job messages, and its PONG replies);
// it reads the peer's frames on the inbound connection the peer opened. So
// a pair of nodes uses two one-way TCP connections, and there is no
// simultaneous-dial race to arbitrate: each side owns exactly the
// connection it dialed.
//
// Per peer there is one writer goroutine (on the outbound connection) and
// one reader goroutine (on the inbound one), plus a tiny goroutine blocked
// in Read on the outbound connection that notices at once when the peer
// closes it (the peer never writes there after the handshake). A new
// inbound connection from a node does not displace an older one (the
// dialer may still drop it, e.g. after a redundant MEET); a dead one ends
// with EOF or after 2 x NodeTimeout + 2 s without a frame (a live peer
// sends a PING at least every NodeTimeout/2).
//
// Handshake: the dialer's first frame holds exactly one MEET (for a node
// being met: CLUSTER MEET, or an unknown node learned from gossip) or PING
// (a known node, e.g. after a restart), carrying its node ID, client port,
// flags (leaving) and gossip. The acceptor answers with one PONG on the same
// connection (its real ID: this is how a handshake entry learns the ID of
// the node it met) and never writes on that connection again. A MEET makes
// the acceptor add the sender (IP from the socket, port from the message)
// and dial it back; a PING from an unknown sender is answered but the
// sender is not added (as upstream: only MEET adds, or gossip from a known
// node). A node learns its own IP from the local address of the first
// connection a peer makes to it ("" until then). A dialer that reaches a
// node with another ID than expected (its address now belongs to another
// node) refuses the link.
//
// The bus has no authentication or encryption, as Disque's: run it on a
// trusted network (it carries job bodies and tenant password hashes).
//
// A peer's bytes are untrusted: frame sizes are bounded before reading
// (buffers grow with the bytes actually received), the decoded size of S2
// data is checked before decompressing, every count is checked against the
// bytes left, and any decoding error closes the connection with a log line.
// Inbound connections are capped (1024), handshakes and idle links time out.
//
// # Frames
//
//	 0               4        5        6                 8                       16
//	+---------------+--------+--------+-----------------+-----------------------+--------
//	| u32 length    | u8 ver | u8 flg | u16 records     | u64 xxhash64          | payload ...
//	| (of the rest) |   2    | bit0 s2, bit1 checksum   | of the uncompressed   | (S2 block
//	|               |        |        | 1..65535        | payload (if bit1)     |  if bit0)
//	+---------------+--------+--------+-----------------+-----------------------+--------
//
//	payload := record*           record := uvarint length | message
//	message := u8 type | u8 flags | fields (see AppendMsg)
//
// Version 2 added GOTJOBS; nodes of different versions refuse each
// other's frames (ErrVersion), so a cluster runs one version at a time.
// Integers in the header are big-endian. The payload is S2 block-compressed
// (github.com/klauspost/compress/s2) when Options.Compression is on, the
// payload is larger than CompressThreshold (512 bytes) and the compressed
// form is smaller; each frame is independently decodable (no stream state).
// Frames are at most Options.MaxFrameSize (16 MiB by default) on the wire
// and uncompressed; a longer batch is split at message boundaries, and Send
// refuses a single message larger than MaxMessageSize.
//
// # Tenant definitions
//
// TENANT (type 16; upstream's catalogue stops at 15) carries tenant
// definitions, delivered to the Handler like the job messages. Each entry
// is a name (1..255 bytes), a version, a 64-bit fingerprint and the
// definition (1 byte..64 KiB, opaque here: the engine sends the
// tenants-file JSON, password hash included), at most 65535 entries per
// message. With MsgDigest the entries carry no definition: a digest of the
// sender's definitions, sorted by name, covering the names after Msg.Tenant
// up to its last entry (or to the end with MsgDigestEnd). The decoder
// refuses anything else (a definition in a digest, none outside one,
// unsorted digests). What the engine does with them: engine/tenantsync.go.
//
// # Batching and ordering
//
// Send copies the message into the peer's outbox (a mutex-protected byte
// slice already in payload form, plus a 1-slot wake-up channel) and
// returns; it never blocks. The peer's writer wakes up, swaps the whole
// outbox out and sends it as one frame with one writev. While a write is in
// flight new messages accumulate, so batches grow with load and an idle
// link adds no latency (no linger timer). Membership messages (PING, PONG,
// FAIL) take a control lane of the outbox that the writer sends first, as
// its own small frame, so liveness is not queued behind a burst. Messages to one peer arrive in the
// order their Sends were serialized on the outbox (so in program order for
// one goroutine); the reader hands them to Handler.OnMessages in that order,
// one call per run of job messages in a frame. A message queued when the
// link drops is lost, and Send reports false while the peer has no open
// link: delivery is best effort, the job layer retries (as upstream).
//
// # Membership
//
// The state follows upstream Disque (spec semantics.md 9):
//
//   - CLUSTER MEET creates a handshake entry (random temporary ID, flag
//     handshake) and dials it with MEET; the peer's PONG gives it its real
//     ID. Entries that do not complete within max(NodeTimeout, 1 s) are
//     dropped. Meeting an address already in handshake is a no-op.
//   - Every PING/PONG/MEET carries the sender's client port and flags
//     (leaving) and gossip about max(3, N/10) other nodes (ID, IP, port,
//     flags, ping/pong times), failing nodes first. Unknown nodes mentioned
//     by a known sender are handshaken (with MEET) unless blacklisted, so
//     chained MEETs give a full mesh.
//   - Each 100 ms cron: every ~1 s PING the node with the oldest PONG among
//     5 random ones; PING any node whose last PONG is older than
//     NodeTimeout/2; re-send an unanswered PING after NodeTimeout/4 (the
//     PONG travels on the peer's own link, which may have been down);
//     reconnect a link whose PING has waited more than NodeTimeout/2 with no
//     traffic at all (nothing received from the node, no frame written to
//     it for NodeTimeout/2); redial nodes without a link (a failed
//     dial counts as an unanswered PING).
//   - A node whose PING has been unanswered for more than NodeTimeout is
//     PFAIL ("fail?"). PFAIL/FAIL reports from other nodes' gossip are valid
//     for 2 x NodeTimeout; when reports plus our own view reach a majority
//     (size/2+1) the node is FAIL ("fail") and FAIL is broadcast. Any PONG
//     (including a new link's handshake PONG) clears PFAIL and FAIL.
//   - FORGET removes a node and blacklists its ID for ForgetBlacklist (60 s)
//     so gossip does not re-add it; it must be run on every node. RESET
//     forgets every other node (HARD also takes a new random ID), keeping
//     the leaving flag. LEAVING is a flag of this node, persisted and
//     advertised in every PING/PONG (SetLeaving sends a PING to every node
//     at once).
//   - The membership is published as an immutable View (atomic pointer)
//     after every change; Handler.OnMembership gets the latest one.
//
// Reachable (View.Reachable): the other nodes usable for replication now:
// not in handshake, not leaving, not PFAIL/FAIL, with an open link.
// View.ReachableCount and CLUSTER INFO's cluster_reachable_nodes are the
// spec's count, without the open-link condition. Size: known nodes not in
// handshake, this node and failing nodes included.
//
// # Config file
//
// Options.ConfigFile (cluster-config-file) holds the node ID and the known
// nodes, as CLUSTER NODES lines without handshake entries, after a header
// line "# disq cluster config v1"; a file without it (an upstream Disque
// nodes.conf, say) is refused with a clear error, an empty or missing file
// is created with a fresh ID. It is rewritten (temporary file, fsync,
// rename) after every membership or flag change by a background goroutine,
// at Close, and on SaveConfig; a process holds an exclusive flock on
// "<file>.lock" while the Cluster is open, so a second one is refused. A
// node restarted with its file reconnects to the nodes it lists: no new
// MEET is needed.
//
// # Metrics
//
// Per peer (label peer="<id>", created when the peer becomes known and
// unregistered when it is forgotten): frames and messages sent/received,
// frames compressed, messages dropped, payload bytes before compression and
// wire bytes, histograms of messages per frame, batch wait (first message
// queued to frame written) and PING round trip; node-wide gauges of known
// and reachable nodes. They live in the Cluster's own metrics.Set
// (Metrics, WritePrometheus); Stats returns the same numbers for INFO.
// Counters move once per frame, never per job.
//
// # Usage (the server)
//
//  1. Build the Options from the configuration: Port (the client port),
//     Addr (bind), ConfigFile (cluster-config-file), NodeTimeout
//     (cluster-node-timeout), Compression (repl-compression), a Logger and a
//     Handler. Call New (it fails on a foreign or locked config file) and
//     use MyID()/Self() as the node ID (the job-ID prefix is
//     Self().Prefix()). Then Start (it fails if the bus port is taken).
//  2. Answer the commands from the package: HELLO from Hello() (priorities
//     included), CLUSTER MEET/FORGET/RESET/LEAVING/SAVECONFIG by calling
//     Meet/Forget/Reset/SetLeaving/SaveConfig and replying
//     "-ERR " + err.Error() on error (SaveConfig's error is the bare OS
//     error: prefix it with "error saving the cluster node config: "), CLUSTER NODES/INFO/MYID from
//     NodesText/InfoText/MyID, LEAVING's query from Leaving(). RESET also
//     deletes the node's jobs and queues (the engine's part).
//  3. Replicate: read View() (lock-free) to pick targets among
//     View().Reachable and to check feasibility with ReachableCount/Size;
//     encode with AppendMsg into a reused buffer and Send (or Broadcast);
//     a false return means the message was dropped.
//  4. Receive: Handler.OnMessages runs on the peer's reader goroutine
//     (TENANT messages too: hand them to the tenant sync); route
//     each message to its shard (slot from the job ID, job.ID(m.ID).Slot(),
//     or shard.Slot(tenant, queue); YOURJOBS per job) after copying what
//     must outlive the call; reply with Send(from, ...). OnMembership (or
//     polling View) tells when the membership changed (RESET HARD changes
//     Self).
//  5. Map a job ID to its creator with View().ByPrefix(id.NodePrefix()).
//  6. Expose Stats() in INFO (the engine's INFO bus) and Metrics() next to the
//     other metrics (metrics.RegisterSet or WritePrometheus).
//  7. Close at shutdown: it stops every goroutine, waits for running
//     Handler calls and saves the config file a last time.
package replicate
