package bench

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"disq/internal/respread"
	"disq/netpoll/resp"
)

// Client is a small synchronous RESP client for set-up and checks
// (cleanup, INFO, FLUSHALL, tests); the load itself goes through the
// pipelined workers.
type Client struct {
	c       net.Conn
	timeout time.Duration
	rd      respread.Reader
}

// Dial connects to addr.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Client{c: c, timeout: timeout}, nil
}

// DialAuth connects to addr and authenticates when pass is set.
func DialAuth(addr, user, pass string, timeout time.Duration) (*Client, error) {
	c, err := Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	if pass != "" {
		if err := auth(c.c, user, pass, timeout); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Do sends one command and returns its reply (a copy, safe to keep).
func (c *Client) Do(args ...string) (resp.Reply, error) {
	if c.timeout > 0 {
		_ = c.c.SetDeadline(time.Now().Add(c.timeout))
	}
	if _, err := c.c.Write(resp.AppendCommandStrings(nil, args...)); err != nil {
		return resp.Reply{}, err
	}
	return c.rd.Read(c.c)
}

// Int sends a command whose reply must be an integer.
func (c *Client) Int(args ...string) (int64, error) {
	r, err := c.Do(args...)
	if err != nil {
		return 0, err
	}
	if r.Kind != resp.KindInt {
		return 0, errors.New(strings.Join(args, " ") + ": " + r.String())
	}
	return r.Int, nil
}

// OK sends a command whose reply must not be an error.
func (c *Client) OK(args ...string) error {
	r, err := c.Do(args...)
	if err != nil {
		return err
	}
	if r.Kind == resp.KindError {
		return errors.New(strings.Join(args, " ") + ": " + string(r.Str))
	}
	return nil
}

// Info returns the fields of INFO [section] as a map.
func (c *Client) Info(section ...string) (map[string]string, error) {
	r, err := c.Do(append([]string{"INFO"}, section...)...)
	if err != nil {
		return nil, err
	}
	if r.Kind != resp.KindBulk {
		return nil, errors.New("INFO: " + r.String())
	}
	return ParseInfo(string(r.Str)), nil
}

// ParseInfo splits an INFO reply into its field:value pairs.
func ParseInfo(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// InfoInt returns an integer INFO field (0 when missing).
func InfoInt(info map[string]string, key string) int64 {
	v, _ := strconv.ParseInt(info[key], 10, 64)
	return v
}

// drain empties the bench queues of every node and returns how many jobs
// (list elements) it removed. On Disque it takes queued jobs with GETJOB
// NOHANG and deletes them with FASTACK; on Redis it deletes the lists
// (and their lmove processing lists).
func drain(cfg *Config) (int64, error) {
	queues := cfg.QueueNames()
	var removed int64
	for _, addr := range cfg.Nodes {
		c, err := DialAuth(addr, cfg.User, cfg.Pass, cfg.DialTimeout)
		if err != nil {
			return removed, err
		}
		n, err := drainNode(c, cfg.Target, queues)
		c.Close()
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func drainNode(c *Client, target Target, queues []string) (int64, error) {
	var removed int64
	if target == Redis {
		keys := []string{"DEL"}
		for _, q := range queues {
			for _, k := range []string{q, processingList(q)} {
				n, err := c.Int("LLEN", k)
				if err != nil {
					return removed, err
				}
				removed += n
				keys = append(keys, k)
			}
		}
		return removed, c.OK(keys...)
	}
	args := append([]string{"GETJOB", "NOHANG", "COUNT", "1000", "FROM"}, queues...)
	for {
		r, err := c.Do(args...)
		if err != nil {
			return removed, err
		}
		if r.Kind == resp.KindError {
			return removed, errors.New("GETJOB: " + string(r.Str))
		}
		if len(r.Elems) == 0 {
			return removed, nil
		}
		ids := []string{"FASTACK"}
		for _, j := range r.Elems {
			if len(j.Elems) >= 2 {
				ids = append(ids, string(j.Elems[1].Str))
			}
		}
		if _, err := c.Int(ids...); err != nil {
			return removed, err
		}
		removed += int64(len(ids) - 1)
	}
}
