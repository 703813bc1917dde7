// Package engine is disq's command layer: the command table, client
// sessions, and the path of every request from parsed RESP to ordered reply.
//
// # The session model
//
// An event loop (netpoll) calls Traffic with a connection's buffered input.
// The session parses every complete request (netpoll/resp), looks the command
// up in the table (command.go), checks arity, authentication and memory as
// the spec orders them, and either answers at once (PING, AUTH, INFO,
// argument errors...) or turns the request into a shard.Op appended to the
// loop's batch for the owning shard (routing: shard.Slot of tenant and queue,
// or the slot carried by a job ID). At the end of the pass (a task the
// loop runs after the pass's reads) each non-empty batch runs as one shard
// step, on the loop when the shard is idle (TryRun) or pushed to it: one
// step per shard per pass, so its fixed costs (the reply hand-off, one log
// write under appendonly) are shared by every connection read in the pass.
// A connection the loop has served alone for loneWindow runs at once
// instead, so a lone client does not pay the end-of-pass wake-up.
//
// Every request takes a sequence number. Shards answer through the loop's
// completion queue (shard.ReplyQueue); the loop drains it in one
// EventLoop.Execute, puts each reply in its session's reorder ring, and
// writes the contiguous prefix with one Write per connection. So pipelined
// requests that run on different shards still get their replies in order.
// Requests that span shards (ACKJOB of jobs on several shards, GETJOB over
// queues on several shards, scans) collect parts in their ring slot.
//
// # Back-pressure
//
// A session stops parsing (its bytes stay in gnet's buffer) while it has
// maxInflight requests or maxInflightBytes of arguments in shards, while a
// GETJOB that may block is outstanding (Disque executes nothing else for a
// blocked client), and while the node-wide in-flight budget is exhausted.
// It resumes (Conn.Wake) when replies come back. Past the hard limits
// (client-query-buffer-limit for buffered input, client-output-buffer-limit
// for unsent replies) the connection is closed with a log line.
//
// # Threading
//
// Sessions and loop state belong to their event loop; shards never touch
// them (a reply carries the session as an opaque value). Engine-wide state
// that loops read (configuration, node identity, counters) is immutable or
// atomic.
package engine
