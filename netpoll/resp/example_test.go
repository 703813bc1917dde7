package resp_test

import (
	"fmt"

	"disq/netpoll/resp"
)

func ExampleReadCommand() {
	// Two pipelined requests, one multibulk and one inline, and the start
	// of a third one.
	buf := []byte("*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING\r\n*1\r\n$4\r\nPI")
	var args [][]byte
	for {
		out, n, err := resp.ReadCommand(buf, args[:0], &resp.DefaultLimits)
		if err != nil {
			fmt.Printf("%q\n", resp.AppendError(nil, "ERR "+err.Error()))
			return
		}
		if n <= 0 {
			fmt.Printf("incomplete: have %d bytes, call again with at least %d\n", len(buf), -n)
			break
		}
		fmt.Printf("%q\n", out)
		args = out
		buf = buf[n:] // out aliases buf: copy what must be kept before reusing these bytes
	}

	_, _, err := resp.ReadCommand([]byte("*1\r\n$-2\r\n"), nil, nil)
	fmt.Printf("%q\n", resp.AppendError(nil, "ERR "+err.Error()))
	// Output:
	// ["ECHO" "hello"]
	// ["PING"]
	// incomplete: have 10 bytes, call again with at least 14
	// "-ERR Protocol error: invalid bulk length\r\n"
}

func ExampleAppendBulk() {
	// A GETJOB-like reply: an array of one [queue, id, body] triple.
	out := make([]byte, 0, 128)
	out = resp.AppendArray(out, 1)
	out = resp.AppendArray(out, 3)
	out = resp.AppendBulkString(out, "queue")
	out = resp.AppendBulkString(out, "D-1")
	out = resp.AppendBulk(out, []byte("body"))
	fmt.Printf("%q\n", out)

	r, n, _ := resp.ReadReply(out)
	fmt.Println(r, n == len(out))
	// Output:
	// "*1\r\n*3\r\n$5\r\nqueue\r\n$3\r\nD-1\r\n$4\r\nbody\r\n"
	// [["queue" "D-1" "body"]] true
}
