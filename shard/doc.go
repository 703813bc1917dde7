// Package shard holds the per-core owners of disq's queues and jobs.
//
// # Ownership
//
// A node runs `shards` Shards. Each owns every queue whose routing slot
// (Slot: xxhash of tenant and queue name, 4096 slots) maps to it (Of), and
// every job in those queues, with their timers and blocked clients. Only
// one goroutine at a time runs a shard's code: normally the shard's own
// (Run), or an event loop that found the shard idle and runs the step
// itself (TryRun), which spares the two goroutine hand-offs when clients
// do not pipeline. The owner word makes steps mutually exclusive; no lock
// is taken around job data. Other goroutines only Push batches, read
// Stats, or Do admin work (run on the owner).
//
// # Data structures (pointer-free, so the garbage collector never scans
// jobs)
//
//   - store.go: job records (engine/job.Job, 104 bytes) in a slab of 4096-
//     record pages addressed by uint32, a free list, and an
//     open-addressing index by job ID for jobs created elsewhere (256
//     tables by hash, each growing on its own); a job created here carries
//     its record index in its ID (job.ID.SetHint) and is found without the
//     index.
//   - arena.go: job bodies in 1 MiB chunks carved into size classes, with
//     free lists; a record keeps a 64-bit reference.
//   - wheel.go: a hierarchical timing wheel (1 ms resolution, 7 levels)
//     threaded through the records: requeues, ends of DELAY, expiry.
//   - queue.go: per-queue FIFO (a ring for jobs arriving in creation order,
//     a heap for requeued ones, lazy removal) and the blocked-client FIFO.
//   - qheap.go: that heap, in segments (a restart requeues a whole backlog
//     into it, in random order), with reads of its first or last entries
//     that do not sort or scan the job records of the whole heap, and
//     removal in place for the incremental compaction.
//   - fifo.go: that ring: one doubling ring up to 4,096 entries, then
//     32 KiB segments, so a growing backlog never copies what it holds;
//     stale entries left by removals are compacted a budget at a time
//     (cring), so a long queue is never rescanned in one step.
//   - stack.go: the free lists of records and body slots, which grow by
//     chunks for the same reason.
//
// # A step
//
// Step(batches, now): execute every op in order (exec.go, getjob.go,
// scan.go), fire due timers and GETJOB timeouts, run the cron (queue
// eviction, federation, memory levels), then hand the step's log records to
// the log writer (persist.go) and the replies to their event loops'
// completion queues (reply.go) — held until the records are durable when
// the log is on.
//
// The job lifecycle itself is engine/job's pure state machine: the shard
// draws the jitter, reads the clock once per step, calls (*job.Job).Apply
// and carries out the returned effects (effects in shard.go).
//
// # Cluster
//
// cluster.go implements Disque's job protocol between nodes on top of the
// replicate bus: synchronous replication, copies, WILLQUEUE/QUEUED
// de-duplication, SETACK/GOTACK/DELJOB collection, dummy ACKs, WORKING,
// NEEDJOBS/YOURJOBS federation and PAUSE broadcasts. Incoming messages are
// routed to the owning shard by the slot inside job IDs (or the queue's
// slot) and arrive as OpBus ops, so they are ordered with everything else.
// A replica confirms the copies it stored in one step together, one
// GOTJOBS per creating node at the end of the step (after the log holds
// them when the log is on). The creator keeps no per-job allocation for a
// replication in flight: replState objects come from a free list, carry
// their first targets inline, and their retry tasks live in a typed heap.
//
// # Usage
//
//  1. s := shard.New(shard.Config{Index, Shards, NodeID, Bus, Acct, Log, ...}); go s.Run().
//  2. Event loops fill Batches (GetBatch, Arg, Ops) and TryRun or Push them.
//  3. Replies come back through the ReplyQueue named by each op.
package shard
