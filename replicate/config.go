package replicate

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The cluster config file: a header line, then one line per known node in
// the CLUSTER NODES format (handshake entries excluded), this node's line
// flagged myself:
//
//	# disq cluster config v1
//	<id> <ip>:<port> <flags> <ping-sent-ms> <pong-received-ms> <connected|disconnected>
//
// On load, the ID, address and the flags myself, fail, noaddr and leaving
// are kept (fail? and the timestamps are recomputed by the running node).
// A non-empty file without the header was not written by disq (an upstream
// Disque nodes.conf, say) and is refused. The file is replaced atomically
// (temporary file in the same directory, fsync, rename) and protected by an
// flock on "<file>.lock", held while the Cluster is open.
const configHeader = "# disq cluster config v1"

type configNode struct {
	id    NodeID
	ip    string
	port  int
	flags NodeFlags
}

// parseConfig parses a config file. It returns (nil, nil) for an empty file.
func parseConfig(name string, data []byte) ([]configNode, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	lines := strings.Split(string(data), "\n")
	if strings.TrimRight(lines[0], "\r") != configHeader {
		return nil, fmt.Errorf("cluster config file %q was not written by disq (first line is not %q): "+
			"remove it or set cluster-config-file to another file", name, configHeader)
	}
	var out []configNode
	self := 0
	for i, line := range lines[1:] {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("cluster config file %q, line %d: %s: %q", name, i+2, why, line)
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			return nil, bad("want 6 fields")
		}
		id, ok := ParseNodeID(f[0])
		if !ok {
			return nil, bad("invalid node ID")
		}
		colon := strings.LastIndexByte(f[1], ':')
		if colon < 0 {
			return nil, bad("invalid address")
		}
		ip := f[1][:colon]
		port, err := strconv.Atoi(f[1][colon+1:])
		if err != nil || port < 0 || port > maxClientPort {
			return nil, bad("invalid port")
		}
		if ip != "" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return nil, bad("invalid IP")
			}
			ip = a.Unmap().String()
		}
		flags, ok := parseNodeFlags(f[2])
		if !ok || flags&NodeHandshake != 0 {
			return nil, bad("invalid flags")
		}
		if flags&NodeMyself != 0 {
			self++
		}
		for _, n := range out {
			if n.id == id {
				return nil, bad("duplicate node ID")
			}
		}
		out = append(out, configNode{id: id, ip: ip, port: port, flags: flags &^ NodePFail})
	}
	if self != 1 {
		return nil, fmt.Errorf("cluster config file %q: want exactly one node flagged myself, found %d", name, self)
	}
	return out, nil
}

// writeFileAtomic replaces name with data: temporary file in the same
// directory, fsync, rename, fsync of the directory (best effort).
func writeFileAtomic(name string, data []byte) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// lockConfig takes the exclusive lock of a config file: flock on
// "<name>.lock" (a file that is never renamed, unlike the config itself).
func lockConfig(name string) (*os.File, error) {
	lockName := name + ".lock"
	f, err := os.OpenFile(lockName, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cluster config file %q: opening lock file: %w", name, err)
	}
	if err := flock(f); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return nil, fmt.Errorf("cluster config file %q is in use by another disq process (lock %q is held)", name, lockName)
		}
		return nil, fmt.Errorf("cluster config file %q: locking %q: %w", name, lockName, err)
	}
	return f, nil
}

// osErrorText returns the OS part of an error ("permission denied"), as the
// spec's "<OS error>" in CLUSTER SAVECONFIG's reply.
func osErrorText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
