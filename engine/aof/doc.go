// Package aof is disq's append-only log: the on-disk format, a writer with
// group commit fed by many shards, a background rewrite that switches files
// atomically, and a loader that recovers from torn or corrupt tails.
// cmd/disq-check-aof reports on and repairs files (CheckCommand).
//
// # Format
//
// All integers are little-endian. The format is disq's own (semantics.md
// 13.1 leaves it open); a file that does not start with the magic is refused
// with a clear error, and one that looks like Disque's RESP-encoded AOF
// (`*`, `LOADJOB`, `DELJOB`) says so (ErrDisqueAOF).
//
//	file   := header batch*
//
//	header (16 bytes)
//	+--------------------+-------------+-----------+------------------------+
//	| "DISQAOF\x00"  (8) | version u16 | flags u16 | xxh64(bytes 0..11) u32 |
//	+--------------------+-------------+-----------+------------------------+
//	  version 1; flags 0 (unknown flags or a newer version: ErrVersion)
//
//	batch  := batch header (24 bytes) payload
//	+--------+---------+----------+---------+-------------+-----------------+
//	| len u32| flags u8| 0 0 0    | count   | xxh64 of the| xxh64(bytes     |
//	|        | bit0 S2 | reserved | u32     | uncompressed| 0..19) u32      |
//	|        |         |          |         | payload u64 | (low 32 bits)   |
//	+--------+---------+----------+---------+-------------+-----------------+
//	| payload: len bytes; an S2 block when flags&1 (decoded <= 64 MiB)      |
//	+-----------------------------------------------------------------------+
//	  0 < len <= 64 MiB, count > 0, reserved bytes zero: anything else is
//	  corrupt. The header has its own checksum so a damaged length is told
//	  from a torn write. Payload = count records back to back.
//
//	record := type u8 | uvarint body length | body
//	  type bit 7 = skippable: a reader that does not know the type skips the
//	  record; an unknown type without it makes the batch corrupt.
//
//	LoadJob (type 1) body:
//	  id [24] | state u8 (0 active, 1 queued) | flags uv | ctime uv |
//	  expire uv (unix ms, as uint64) | delay uv | retry uv | repl uv |
//	  nacks uv | additional-deliveries uv | tenant (uv len, bytes) |
//	  queue (uv len, bytes) | holders (uv count, count*40 bytes of node IDs) |
//	  body (uv len, bytes)
//	DelJob (type 2) body:
//	  id [24] | tenant (uv len, bytes)
//
// A body must be consumed exactly; values out of their field's range are
// corrupt. AppendLoadJob/AppendDelJob encode without allocating;
// DecodeRecord decodes without allocating, its slices aliasing the input.
//
// # Group commit
//
// One Writer goroutine owns the file. Producers (shard goroutines) call
// Append, which only appends a pointer to a mutex-guarded slice and signals
// a 1-slot channel: it never blocks on I/O. The writer takes everything
// queued in one swap (a "group"), packs the records into batches of about
// 1 MiB (S2-compressed when Options.Compress and it saves at least 1/16 of
// a payload of 512 bytes or more), writes the group with one pwrite and then
// applies the policy:
//
//   - always: one fsync for the whole group, then every callback of the
//     group is called (nil). While that fsync runs, new batches queue up and
//     form the next group, so the number of fsyncs tracks the disk's speed,
//     not the number of batches. Stats.DurableAfterFsync counts the released
//     callbacks; Stats.RepliesBeforeFsync counts callbacks released while
//     the file's synced offset was short of the group's end (checked on
//     every release, structurally 0).
//   - everysec: callbacks after the write; a helper goroutine fsyncs about
//     once a second (Stats.DelayedFsyncs counts due fsyncs that found the
//     previous one still running).
//   - no: callbacks after the write; the OS flushes.
//
// Order: one producer's batches are written in the order it appended them
// (one FIFO). Batches of different producers interleave; they concern
// disjoint jobs (a job lives on one shard), so their order does not matter.
// Callbacks run on the writer goroutine: they must be short and must not
// block (push the reply to the event loop's completion queue).
//
// # Error policy
//
// A failed write or fsync puts the writer in an error state (Err returns a
// *WriteError; INFO aof_last_write_status:err). Nothing is dropped:
//
//   - the bytes of the failed group are cut off the file (ftruncate back to
//     the last good end, so no half batch sits in the middle) and kept in
//     memory; under always an fsync failure does the same, because after a
//     failed fsync the page cache cannot be trusted;
//   - the group's callbacks, and every callback while the state lasts, get
//     the error: the server answers -MISCONF to write commands. A batch
//     whose callback got an error was never reported durable;
//   - new batches are queued behind the kept bytes, in order;
//   - every SyncInterval (1 s) and on Flush the writer retries: truncate to
//     the good end, write the kept bytes, fsync. Success clears the state
//     and the server accepts writes again. Disque exits on an always-fsync
//     failure; disq keeps the process (replicas and reads keep working) and
//     refuses writes instead.
//   - a completed rewrite also clears the state: the new file holds every
//     job from memory, so the kept bytes are dropped as covered.
//   - an everysec background fsync failure cannot be retried safely (the
//     kernel may have dropped the dirty pages): the writer enters the error
//     state and NeedsRewrite reports true once writes work again, so the
//     server's cron rewrites the file from memory.
//
// # Rewrite protocol
//
// A rewrite produces a file holding exactly the jobs alive at one
// consistent point of each shard plus everything after, without stopping
// traffic:
//
//  1. BeginRewrite(producers, done) returns a *Rewrite (one at a time).
//  2. Each producer, on its own goroutine and between two of its batches,
//     serializes the jobs it holds in state active or queued as LoadJob
//     records and hands them over with Rewrite.Snapshot (the writer owns
//     the buffers afterwards), in as many chunks as it likes, spread over
//     its batches, then calls Rewrite.End. Each chunk describes its jobs
//     as they are when it is handed over; every job alive at End must be
//     in a chunk or in a batch appended after the first chunk.
//  3. The writer keeps appending every live batch to the old file. A
//     producer's live batches queued before its first Snapshot (or its End,
//     if it has no job) are covered by the snapshot and not copied; those
//     after it are copied to the rewrite in order with its chunks. Replay
//     is last-record-wins (a LoadJob replaces the job, a DelJob of an
//     unknown job does nothing), so a job changed after its chunk ends in
//     its changed state, and one deleted before its chunk never appears.
//  4. A rewrite goroutine writes header + snapshots + copied live records to
//     FILE.rewrite. When the last producer has ended it fsyncs the file and
//     reports; the writer then writes the live records that arrived
//     meanwhile, fsyncs, renames FILE.rewrite over FILE, fsyncs the
//     directory and continues appending to the new file. done(nil) is called.
//  5. Any failure removes FILE.rewrite and leaves the old file in use,
//     complete: done(err), Stats.LastRewriteOK false.
//
// # Usage (server side)
//
//  1. Startup with appendonly yes (or aof-enqueue-jobs-once yes): before
//     the shards run, Load(path, LoadOptions{Truncate: aof-load-truncated},
//     fn). fn routes each record by its ID's slot to its shard: LoadJob
//     creates the job (skip if expired; queued becomes active unless
//     aof-enqueue-jobs-once; requeue at now+(delay+retry)s+jitter; drop
//     holder IDs of unknown nodes; replicas stay replicas), DelJob deletes
//     it. A *TornError without Truncate (or with MidFile: damage followed
//     by more data is never truncated by the loader), ErrDisqueAOF,
//     ErrNotAOF or ErrVersion: log the message and exit.
//  2. Open(Options{Path, Fsync, Compress, Logger}) and give the *Writer to
//     every shard. For CONFIG SET appendonly yes at run time use
//     Options{WaitRewrite: true} and go to step 5 at once (aof_state
//     wait-rewrite until done(nil), then on).
//  3. Each shard, during one pass over its inbox, appends a record for every
//     change that matters to one buffer: AppendLoadJob when it starts
//     holding a job (the creator after replication or at once, a replica
//     when it accepts a copy), AppendDelJob when it acks or removes an
//     active/queued job. At the end of the pass it calls
//     w.AppendNow(&Batch{Producer: shardIndex, Records, Count, OnDurable})
//     (Append that, under everysec and no with an idle writer, writes on
//     the shard's goroutine and calls back before it returns: no goroutine
//     hand-off; the writer's mutex keeps one writer at a time) and
//     holds back the replies of the ADDJOB/ACKJOB... commands of that pass
//     until OnDurable: nil sends them, an error sends -MISCONF instead (the
//     change stays in memory; the data is retried). Under everysec and no
//     the callback comes right after the write. Reject in advance jobs whose
//     record would exceed MaxRecordSize.
//  4. Write commands check w.Err() and answer -MISCONF while it is set.
//  5. BGREWRITEAOF, the auto-rewrite cron (w.NeedsRewrite(percentage,
//     minSize)), CONFIG SET appendonly yes and SHUTDOWN REWRITE-AOF call
//     rw, err := w.BeginRewrite(shardIndexes, done) and push a snapshot op
//     carrying rw to every shard; the shard runs step 2 of the protocol
//     when it executes the op. ErrRewriteInProgress maps to "-ERR
//     Background append only file rewriting already in progress".
//  6. SHUTDOWN REWRITE-AOF waits for done, then Close. SHUTDOWN: Close
//     (flushes and fsyncs). DEBUG LOADAOF: w.Flush(), flush all data, Load.
//     CONFIG SET appendfsync: w.SetFsync. CONFIG SET appendonly no: Close.
//  7. INFO # Persistence: w.Stats() (aof_current_size = CurrentSize,
//     aof_base_size = BaseSize, aof_buffer_length = PendingBytes,
//     aof_rewrite_buffer_length = RewriteBufferBytes, aof_pending_bio_fsync
//     = FsyncPending, aof_delayed_fsync = DelayedFsyncs,
//     aof_rewrite_in_progress, aof_last_rewrite_time_sec,
//     aof_last_bgrewrite_status, aof_last_write_status = LastWriteOK) plus
//     the group-commit proof DurableAfterFsync and RepliesBeforeFsync.
package aof
