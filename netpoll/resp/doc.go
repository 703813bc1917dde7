// Package resp is the RESP2 codec of disq: it parses client requests on the
// server side (ReadCommand), encodes replies and requests (the Append*
// functions), and parses replies on the client side (ReadReply, SkipReply).
// It uses only the standard library and does no I/O: it works on the bytes a
// caller has buffered, such as a gnet connection's inbound buffer.
//
// # Requests accepted
//
// ReadCommand follows Redis 3.x (and so Disque) processInputBuffer: a
// request whose first byte is '*' is a multibulk request, anything else is
// an inline request.
//
//   - Multibulk: `*N\r\n` then N bulk arguments `$len\r\n<len bytes>\r\n`.
//     N and len are parsed like Redis string2ll: optional '-', digits, no
//     '+', no spaces, no leading zeros, fitting an int64. N <= 0 is an empty
//     request, consumed and ignored; N > Limits.MaxArgs is an error; len < 0
//     or len > Limits.MaxBulkLen is an error. Like Redis, the byte after
//     each header's '\r' and the two bytes after each argument's data are
//     skipped without being checked.
//   - Inline: one line ended by '\n' (a '\r' before it is dropped), split
//     like Redis sdssplitargs: runs of spaces separate arguments;
//     "double quotes" understand \n \r \t \b \a \\ \" and \xHH, 'single
//     quotes' understand \'; a closing quote must be followed by a space or
//     the end of the line; a NUL byte ends the line, as in C. An empty or
//     blank line is an empty request, consumed and ignored. "PING\r\n", as
//     scripts and telnet send it, is an inline request.
//
// Errors are *ProtocolError values whose Error() is the exact text Redis
// replies with, e.g. "Protocol error: invalid bulk length". The server sends
// "-ERR " + err.Error() (see AppendError) and closes the connection.
//
// Two deliberate differences from Redis. Redis applies its line limits to
// whatever happens to be in its query buffer, so whether a 70 KB inline
// line is accepted depends on how the bytes arrived; ReadCommand applies
// them to the line itself (an inline line may hold at most MaxInlineLen
// bytes before its '\n', a '\r' included; a `*N` or `$len` line at most
// MaxInlineLen bytes before its '\r'), so the outcome never depends on how
// the input is split. And Redis
// 3.x consumes one byte too many after an inline line ended by a bare '\n'
// (fixed in later Redis); ReadCommand consumes exactly the line.
//
// # Limits
//
// Limits (DefaultLimits: 1M arguments, 512 MB per argument) bound what a
// multibulk request may announce; every `*N` and `$len` header line and
// every inline line is bounded by MaxInlineLen (64 KB), so a peer cannot make
// the parser scan or wait for an unbounded line. Numbers are bounded before
// any arithmetic, so huge values cannot overflow offsets. ReadCommand sizes
// its argument slice by what the buffer can hold, never by the announced
// count alone. The reply reader applies DefaultMaxBulkLen to bulk replies and
// to +simple/-error lines, MaxInlineLen to the other header lines, and a
// generous 16M bound to the count of one array.
//
// # Buffer lifetime
//
// Nothing is copied. The arguments returned by ReadCommand and the Str
// fields of a Reply alias buf: they are valid until the caller discards or
// overwrites those bytes (typically when it discards the n consumed bytes
// from its inbound buffer). Whatever must outlive that, such as a job body
// stored in a queue, must be copied by the caller. Each returned slice has
// its capacity capped at its length, so appending to it cannot overwrite
// buf.
//
// # In-place unescaping
//
// An inline argument written with quotes or escapes is never longer once
// decoded, so ReadCommand decodes it in place, inside the bytes of the inline
// line it parses, and returns a sub-slice of buf: no allocation, but buf is
// modified there (buf must therefore be writable). Those bytes are consumed
// anyway (or the line is rejected with an error, which closes the
// connection). Nothing else in buf is ever written, and nothing at all when
// ReadCommand reports an incomplete request. Unquoted arguments and all multibulk arguments are plain
// sub-slices of the untouched input. Code that needs the raw bytes after
// parsing (e.g. a fuzz test comparing two parses) must copy them first.
//
// # Usage
//
// On the server, per connection:
//
//  1. Keep an inbound buffer and an args [][]byte for reuse.
//  2. Call out, n, err := resp.ReadCommand(buf, args[:0], &limits).
//  3. If err != nil, write resp.AppendError(nil, "ERR "+err.Error()) and
//     close the connection.
//  4. If n <= 0 the request is incomplete: wait until at least -n bytes are
//     buffered before calling ReadCommand again (it would only re-parse).
//  5. Otherwise execute out if len(out) > 0 (an empty request is ignored),
//     appending the reply with the Append* functions to the outbound
//     buffer, copy any argument that must be kept, then discard the n
//     consumed bytes and go back to step 2 for pipelined requests.
//
// On the client (the bench tool, tests):
//
//  1. Encode requests with AppendCommand or AppendCommandStrings.
//  2. Parse replies with ReadReply, or with SkipReply when only their
//     length and kind matter (it never allocates); n == 0 means read more.
package resp
