package resp

import (
	"reflect"
	"testing"
)

// parseResult is what a connection makes of a byte stream.
type parseResult struct {
	cmds     [][]string
	consumed int
	err      string
}

// feed simulates a server connection: the chunks arrive one after the other
// into an accumulating buffer, and after each one ReadCommand runs until the
// buffer holds no complete request. With respectNeed the caller, like the
// server, does not call again before the buffer reaches the length that an
// incomplete result asked for. It checks the result contract on every call.
// The chunks themselves are not modified (feed copies them).
func feed(t *testing.T, lim *Limits, respectNeed bool, chunks ...[]byte) parseResult {
	t.Helper()
	var res parseResult
	var acc []byte
	var args [][]byte
	need := 0
	for _, c := range chunks {
		acc = append(acc, c...)
		for {
			buf := acc[res.consumed:]
			if respectNeed && len(buf) < need {
				break
			}
			out, n, err := ReadCommand(buf, args[:0], lim)
			if err != nil {
				if _, ok := err.(*ProtocolError); !ok || out != nil || n != 0 {
					t.Fatalf("ReadCommand(%q): got out=%v n=%d err=%#v on error", buf, out, n, err)
				}
				res.err = err.Error()
				return res
			}
			if n > len(buf) {
				t.Fatalf("ReadCommand(%q): got n=%d > len(buf)", buf, n)
			}
			if n <= 0 {
				if out != nil || -n <= len(buf) {
					t.Fatalf("ReadCommand(%q): got out=%v n=%d; want nil and need > len(buf)", buf, out, n)
				}
				need = -n
				break
			}
			need = 0
			res.cmds = append(res.cmds, strs(out))
			res.consumed += n
			args = out
		}
	}
	return res
}

func FuzzReadCommand(f *testing.F) {
	for _, c := range validCommands {
		f.Add([]byte(c), uint16(3), uint16(10), false)
		f.Add([]byte(c+c+"PING\r\n"), uint16(len(c)-1), uint16(len(c)+2), false)
	}
	for _, c := range []string{
		"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\nPING\r\n*3\r\n$6\r\nACKJOB\r\n$2\r\nid\r\n$3\r\nid2\r\n",
		"*5\r\n$6\r\nGETJOB\r\n$7\r\nTIMEOUT\r\n$3\r\n100\r\n$4\r\nFROM\r\n$2\r\nq1\r\n",
		"*1\r\n$-2\r\n",
		"*1\r\n$9223372036854775807\r\n",
		"*1\r\n$4\r\nabcd\r\n*4\r\n$1\r\na\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n",
		"SET k \"a\\x41\\n\\\"b\" 'c\\'d' \"\" ''\r\nGET k\r\n",
		"\"unbalanced\r\n",
		"\"a\"b\r\n",
		"*1\r\nX\r\n",
		"*-1\r\n*0\r\n\r\n \n",
		"*1\rX$1\rXaYZ",
		"PING\x00x\r\n",
	} {
		f.Add([]byte(c), uint16(5), uint16(17), false)
		f.Add([]byte(c), uint16(1), uint16(2), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, a, b uint16, small bool) {
		lim := &DefaultLimits
		if small {
			lim = &Limits{MaxArgs: 3, MaxBulkLen: 8}
		}
		whole := feed(t, lim, false, data)

		// The first request agrees with the reference model.
		buf := append([]byte(nil), data...)
		out, n, err := ReadCommand(buf, nil, lim)
		wantArgs, wantN, wantErr := refReadCommand(data, lim)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != wantErr || n != wantN || (n > 0 && !equalStrings(strs(out), wantArgs)) {
			t.Fatalf("ReadCommand(%q): got %s n=%d err=%q; reference: %s n=%d err=%q",
				data, fmtArgs(strs(out)), n, gotErr, fmtArgs(wantArgs), wantN, wantErr)
		}

		i, j := int(a)%(len(data)+1), int(b)%(len(data)+1)
		if i > j {
			i, j = j, i
		}
		check := func(name string, got parseResult) {
			t.Helper()
			if !reflect.DeepEqual(got, whole) {
				t.Fatalf("%s: got %+v; want %+v (input %q)", name, got, whole, data)
			}
		}
		check("split", feed(t, lim, false, data[:i], data[i:j], data[j:]))
		check("split, waiting for need", feed(t, lim, true, data[:i], data[i:j], data[j:]))
		if len(data) <= 256 {
			bytewise := make([][]byte, len(data))
			for k := range data {
				bytewise[k] = data[k : k+1]
			}
			check("byte by byte", feed(t, lim, false, bytewise...))
			check("byte by byte, waiting for need", feed(t, lim, true, bytewise...))
		}

		// Every parsed request round-trips through AppendCommand.
		for _, cmd := range whole.cmds {
			enc := AppendCommandStrings(nil, cmd...)
			out, n, err := ReadCommand(enc, nil, nil)
			if err != nil || n != len(enc) {
				t.Fatalf("ReadCommand(AppendCommand(%s)): got n=%d err=%v; want n=%d", fmtArgs(cmd), n, err, len(enc))
			}
			if got := strs(out); !equalStrings(got, cmd) {
				t.Fatalf("ReadCommand(AppendCommand(%s)): got %s", fmtArgs(cmd), fmtArgs(got))
			}
		}
	})
}

func FuzzReadReply(f *testing.F) {
	for _, r := range validReplies {
		f.Add([]byte(r))
	}
	for _, r := range []string{
		"*1\r\n*3\r\n$5\r\nqueue\r\n$40\r\nD-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1\r\n$4\r\nbody\r\n",
		"*2\r\n*-1\r\n*1\r\n*1\r\n:-5\r\n",
		"-NOREPL Not enough reachable nodes\r\n",
		"$-2\r\n",
		"$3\r\nabcXY",
		"+a\rb\r\n",
		"*2\r\n:1\r\n",
		"*16777217\r\n",
	} {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, n, err := ReadReply(data)
		sn, kind, serr := SkipReply(data)
		if n != sn || (err == nil) != (serr == nil) || (err != nil && err.Error() != serr.Error()) {
			t.Fatalf("input %q: ReadReply got n=%d err=%v; SkipReply got n=%d err=%v", data, n, err, sn, serr)
		}
		if n > len(data) || n < 0 {
			t.Fatalf("input %q: got n=%d", data, n)
		}
		if err != nil {
			if _, ok := err.(*ProtocolError); !ok || n != 0 {
				t.Fatalf("input %q: got n=%d err=%#v", data, n, err)
			}
			// More bytes do not change an error.
			_, n2, err2 := ReadReply(append(data[:len(data):len(data)], "\r\n:1\r\n"...))
			if n2 != 0 || err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("input %q + more: got n=%d err=%v; want %v", data, n2, err2, err)
			}
			return
		}
		if n == 0 {
			if r.Kind != 0 || kind != 0 {
				t.Fatalf("input %q: incomplete but got %v, kind %v", data, r, kind)
			}
			return
		}
		if kind != r.Kind {
			t.Fatalf("input %q: SkipReply kind %v; ReadReply kind %v", data, kind, r.Kind)
		}
		// The reader accepts only canonical encodings: re-encoding gives
		// back exactly the consumed bytes.
		if enc := appendReplyRaw(nil, r); string(enc) != string(data[:n]) {
			t.Fatalf("input %q: re-encoded as %q", data[:n], enc)
		}
		_ = r.String()
		// Every strict prefix is incomplete; more bytes do not change it.
		for i := 0; i < n; i += 1 + n/64 {
			if _, pn, perr := ReadReply(data[:i]); pn != 0 || perr != nil {
				t.Fatalf("prefix %q: got n=%d err=%v; want incomplete", data[:i], pn, perr)
			}
		}
		if _, n2, err2 := ReadReply(append(data[:len(data):len(data)], "junk"...)); n2 != n || err2 != nil {
			t.Fatalf("input %q + junk: got n=%d err=%v; want n=%d", data, n2, err2, n)
		}
	})
}
