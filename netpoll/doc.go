// Package netpoll is disq's client transport: gnet/v2 event loops that read
// bytes, hand them to a Handler, and write what the handler queues.
//
// The Handler interface and the Conn and Loop types are free of gnet types,
// so another transport (a crypto/tls listener with a goroutine per
// connection, say) can feed the same engine later.
//
// # Threading contract
//
//   - Handler.Open, Handler.Traffic and Handler.Closed run on the event loop
//     that owns the connection; calls for one connection never overlap.
//   - Conn methods marked "loop only" may be called only from those
//     callbacks or from a function run by Loop.Execute on the same loop.
//   - Conn.Wake, Conn.Close, Conn.Loop and Loop.Execute are safe from any
//     goroutine: they are how shard goroutines get back onto a loop.
//   - The slice passed to Traffic aliases gnet's buffers and is valid only
//     during the call; the handler copies what it keeps.
//
// # Usage
//
//  1. Implement Handler (disq's is the engine's session layer).
//  2. srv, err := netpoll.Serve(h, netpoll.Options{Addrs: ..., Loops: n}).
//  3. srv.Stop(ctx) closes the listeners and every connection.
package netpoll
