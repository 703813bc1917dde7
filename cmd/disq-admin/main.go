// Command disq-admin is the operator CLI over disq's admin HTTP API: it
// manages tenants, their limits and credentials, reads usage and metrics,
// and pauses, resumes or purges a tenant's queue.
//
//	disq-admin [--addr URL] [--token T] [--json] [--timeout D] <command> [args]
//
// The address defaults to $DISQ_ADMIN_ADDR or http://127.0.0.1:7710, the
// token to $DISQ_ADMIN_TOKEN. Every command takes --help. Output is a table
// or, with --json, the API's JSON. An error answered by the API is printed
// as "disq-admin: <message> (<code>, HTTP <status>)" and exits 1; a usage
// error exits 2.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"disq/tenant"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usageText = `Usage: disq-admin [--addr URL] [--token T] [--json] [--timeout D] <command> [args]

Commands:
  tenants list                               list tenants with usage
  tenants get NAME                           show a tenant
  tenants create NAME --password P [--limit k=v ...]
                                             create a tenant (fails if it exists)
  tenants put NAME [--password P] [--limit k=v ...]
                                             create or replace a tenant (limits replaced whole)
  tenants delete NAME                        delete a tenant
  limits get NAME                            show a tenant's limits
  limits set NAME k=v ...                    replace a tenant's limits whole
  limits update NAME k=v|k=unlimited ...     change some limits, keep the others
  usage NAME                                 show a tenant's usage on the node
  credentials rotate NAME [--password P]     set a new password (generated if none given)
  queue pause NAME QUEUE [--state in|out|all] [--bcast]
  queue resume NAME QUEUE [--state in|out|all] [--bcast]
  queue purge NAME QUEUE                     delete the jobs queued in a queue
  health                                     check the admin API
  metrics                                    print the Prometheus metrics

Limits (integers; absent = unlimited, 0 = none allowed; per node):
  ` + "max_jobs max_bytes max_queues max_body_bytes max_replicate produce_rate produce_burst\n  produce_bytes_rate consume_rate max_connections max_blocked_clients" + `

Global flags:
`

// cli is one invocation.
type cli struct {
	addr    string
	token   string
	json    bool
	timeout time.Duration
	out     io.Writer
	errw    io.Writer
	client  *http.Client
}

// usageError is a command-line mistake (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// apiError is an error answered by the API (exit 1).
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.message, e.code, e.status)
}

// errHelp ends a --help invocation successfully.
var errHelp = errors.New("help")

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{out: stdout, errw: stderr}
	fs := flag.NewFlagSet("disq-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := getenv("DISQ_ADMIN_ADDR")
	if addr == "" {
		addr = "http://127.0.0.1:7710"
	}
	fs.StringVar(&c.addr, "addr", addr, "admin API base URL ($DISQ_ADMIN_ADDR)")
	fs.StringVar(&c.token, "token", getenv("DISQ_ADMIN_TOKEN"), "bearer token, the server's admin-token ($DISQ_ADMIN_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print the API's JSON instead of tables")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "request timeout")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fs.Usage()
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	if !strings.Contains(c.addr, "://") {
		c.addr = "http://" + c.addr
	}
	c.addr = strings.TrimRight(c.addr, "/")
	c.client = &http.Client{Timeout: c.timeout}
	err := c.dispatch(rest)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "disq-admin: %s\nRun 'disq-admin --help' for usage.\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "disq-admin: %s\n", err)
		return 1
	}
}

// opts are the per-command flags.
type opts struct {
	password    string
	passwordSet bool
	limits      []string
	state       string
	bcast       bool
}

// command is one leaf command.
type command struct {
	path     string   // "tenants create"
	args     []string // positional argument names
	variadic string   // name of further arguments (k=v ...), "" if none
	flagHelp string   // flags in the synopsis
	help     string
	flags    func(fs *flag.FlagSet, o *opts)
	run      func(c *cli, pos, more []string, o *opts) error
}

func passwordFlag(required bool) func(fs *flag.FlagSet, o *opts) {
	return func(fs *flag.FlagSet, o *opts) {
		h := "the tenant's password"
		if required {
			h += " (required)"
		} else {
			h += " (optional)"
		}
		fs.Func("password", h, func(v string) error { o.password, o.passwordSet = v, true; return nil })
	}
}

func limitFlag(fs *flag.FlagSet, o *opts) {
	fs.Func("limit", "a limit as k=v (repeatable); limits not given are unlimited", func(v string) error {
		o.limits = append(o.limits, v)
		return nil
	})
}

func pauseFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.state, "state", "all", "directions: in, out or all")
	fs.BoolVar(&o.bcast, "bcast", false, "also send the resulting state to the other nodes")
}

var commands = []command{
	{path: "tenants list", help: "List the tenants with their usage on the node.",
		run: func(c *cli, _, _ []string, _ *opts) error { return c.tenantsList() }},
	{path: "tenants get", args: []string{"NAME"}, help: "Show a tenant: definition, limits, usage.",
		run: func(c *cli, pos, _ []string, _ *opts) error { return c.tenantGet(pos[0]) }},
	{path: "tenants create", args: []string{"NAME"}, flagHelp: "--password P [--limit k=v ...]", help: "Create a tenant; fails if it exists.",
		flags: func(fs *flag.FlagSet, o *opts) { passwordFlag(true)(fs, o); limitFlag(fs, o) },
		run:   func(c *cli, pos, _ []string, o *opts) error { return c.tenantPut(pos[0], o, true) }},
	{path: "tenants put", args: []string{"NAME"}, flagHelp: "[--password P] [--limit k=v ...]", help: "Create or replace a tenant. Limits given replace the old ones whole; without --limit the limits are kept, without --password the password.",
		flags: func(fs *flag.FlagSet, o *opts) { passwordFlag(false)(fs, o); limitFlag(fs, o) },
		run:   func(c *cli, pos, _ []string, o *opts) error { return c.tenantPut(pos[0], o, false) }},
	{path: "tenants delete", args: []string{"NAME"}, help: "Delete a tenant (not default).",
		run: func(c *cli, pos, _ []string, _ *opts) error { return c.tenantDelete(pos[0]) }},
	{path: "limits get", args: []string{"NAME"}, help: "Show a tenant's limits.",
		run: func(c *cli, pos, _ []string, _ *opts) error { return c.limitsGet(pos[0]) }},
	{path: "limits set", args: []string{"NAME"}, variadic: "k=v", help: "Replace a tenant's limits whole: limits not given become unlimited.",
		run: func(c *cli, pos, more []string, _ *opts) error { return c.limitsSet(pos[0], more, false) }},
	{path: "limits update", args: []string{"NAME"}, variadic: "k=v|k=unlimited", help: "Change the given limits and keep the others (k=unlimited removes one).",
		run: func(c *cli, pos, more []string, _ *opts) error { return c.limitsSet(pos[0], more, true) }},
	{path: "usage", args: []string{"NAME"}, help: "Show a tenant's usage and counters on the node.",
		run: func(c *cli, pos, _ []string, _ *opts) error { return c.usage(pos[0]) }},
	{path: "credentials rotate", args: []string{"NAME"}, flagHelp: "[--password P]", help: "Replace a tenant's password; without --password the server generates one and it is printed once.",
		flags: passwordFlag(false),
		run:   func(c *cli, pos, _ []string, o *opts) error { return c.rotate(pos[0], o) }},
	{path: "queue pause", args: []string{"NAME", "QUEUE"}, flagHelp: "[--state in|out|all] [--bcast]", help: "Pause a tenant's queue on the node (added to its current pause state).",
		flags: pauseFlags,
		run:   func(c *cli, pos, _ []string, o *opts) error { return c.queuePause(pos[0], pos[1], "pause", o) }},
	{path: "queue resume", args: []string{"NAME", "QUEUE"}, flagHelp: "[--state in|out|all] [--bcast]", help: "Resume a tenant's queue on the node (removed from its current pause state).",
		flags: pauseFlags,
		run:   func(c *cli, pos, _ []string, o *opts) error { return c.queuePause(pos[0], pos[1], "resume", o) }},
	{path: "queue purge", args: []string{"NAME", "QUEUE"}, help: "Delete every job queued in a tenant's queue on the node.",
		run: func(c *cli, pos, _ []string, _ *opts) error { return c.queuePurge(pos[0], pos[1]) }},
	{path: "health", help: "Check that the admin API answers (needs no token).",
		run: func(c *cli, _, _ []string, _ *opts) error { return c.health() }},
	{path: "metrics", help: "Print the node's metrics in Prometheus text format.",
		run: func(c *cli, _, _ []string, _ *opts) error { return c.metrics() }},
}

func (cmd *command) synopsis() string {
	s := "disq-admin " + cmd.path
	for _, a := range cmd.args {
		s += " " + a
	}
	if cmd.variadic != "" {
		s += " " + cmd.variadic + " ..."
	}
	if cmd.flagHelp != "" {
		s += " " + cmd.flagHelp
	}
	return s
}

func (c *cli) dispatch(args []string) error {
	var cmd *command
	n := 0
	for i := range commands {
		words := strings.Fields(commands[i].path)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			cmd, n = &commands[i], len(words)
			break
		}
	}
	if cmd == nil {
		// A group without (or with an unknown) subcommand: list the group.
		var group []string
		for _, k := range commands {
			if strings.HasPrefix(k.path, args[0]+" ") {
				group = append(group, "  "+k.synopsis())
			}
		}
		if len(group) == 0 {
			return &usageError{fmt.Sprintf("unknown command %q", args[0])}
		}
		if len(args) > 1 && args[1] != "--help" && args[1] != "-h" && args[1] != "help" {
			return &usageError{fmt.Sprintf("unknown command %q\n%s commands:\n%s", strings.Join(args[:2], " "), args[0], strings.Join(group, "\n"))}
		}
		fmt.Fprintf(c.errw, "%s commands:\n%s\n", args[0], strings.Join(group, "\n"))
		if len(args) == 1 {
			return &usageError{"missing " + args[0] + " subcommand"}
		}
		return errHelp
	}
	fs := flag.NewFlagSet(cmd.path, flag.ContinueOnError)
	fs.SetOutput(c.errw)
	var o opts
	if cmd.flags != nil {
		cmd.flags(fs, &o)
	}
	fs.Usage = func() {
		fmt.Fprintf(c.errw, "Usage: %s\n\n%s\n", cmd.synopsis(), cmd.help)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(c.errw, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	pos, err := parseInterleaved(fs, args[n:])
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return &usageError{err.Error()}
	}
	if len(pos) < len(cmd.args) || (cmd.variadic == "" && len(pos) > len(cmd.args)) {
		return &usageError{"usage: " + cmd.synopsis()}
	}
	if cmd.path == "tenants create" && !o.passwordSet {
		return &usageError{"tenants create needs --password"}
	}
	return cmd.run(c, pos[:len(cmd.args)], pos[len(cmd.args):], &o)
}

// parseInterleaved parses flags placed anywhere among the positional
// arguments ("tenants create acme --password x"); after "--" everything is
// positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseLimits turns k=v arguments into a limits object. With allowUnset,
// "k=unlimited" (or k=-) maps to nil.
func parseLimits(kvs []string, allowUnset bool) (map[string]*int64, error) {
	m := map[string]*int64{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, &usageError{fmt.Sprintf("limit %q: want k=v", kv)}
		}
		if _, known := tenant.LimitByName(k); !known {
			return nil, &usageError{fmt.Sprintf("unknown limit %q", k)}
		}
		if allowUnset && (v == "unlimited" || v == "-") {
			m[k] = nil
			continue
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
		if err != nil || n < 0 {
			return nil, &usageError{fmt.Sprintf("limit %s: %q is not a non-negative integer", k, v)}
		}
		m[k] = &n
	}
	return m, nil
}

// request performs one API call. A non-2xx answer becomes an *apiError.
func (c *cli) request(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		var eb tenant.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return nil, &apiError{status: res.StatusCode, code: eb.Error.Code, message: eb.Error.Message}
		}
		return nil, &apiError{status: res.StatusCode, code: "http", message: strings.TrimSpace(string(data))}
	}
	return data, nil
}

// printJSON prints an API answer as indented JSON.
func (c *cli) printJSON(data []byte) error {
	var b bytes.Buffer
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if err := json.Indent(&b, data, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := c.out.Write(b.Bytes())
	return err
}

func tenantPath(name string) string { return "/v1/tenants/" + url.PathEscape(name) }

func queuePath(name, queue string) string {
	return tenantPath(name) + "/queues/" + url.PathEscape(queue)
}

func limitValue(l *tenant.Limits, id tenant.Limit) string {
	if !l.IsSet(id) {
		return "unlimited"
	}
	return strconv.FormatInt(l.Get(id), 10)
}

// limitsSummary renders the set limits as "k=v k=v".
func limitsSummary(l *tenant.Limits) string {
	var parts []string
	for id := range tenant.NumLimits {
		if l.IsSet(id) {
			parts = append(parts, id.String()+"="+strconv.FormatInt(l.Get(id), 10))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func (c *cli) table() *tabwriter.Writer { return tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0) }

func (c *cli) tenantsList() error {
	data, err := c.request("GET", "/v1/tenants", nil)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	var l tenant.TenantList
	if err := json.Unmarshal(data, &l); err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "NAME\tINDEX\tVERSION\tJOBS\tBYTES\tQUEUES\tCONNS\tLIMITS")
	for _, t := range l.Tenants {
		var u tenant.Usage
		if t.Usage != nil {
			u = *t.Usage
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", t.Name, t.Index, t.Version, u.Jobs, u.Bytes, u.Queues,
			u.Connections, limitsSummary(&t.Limits))
	}
	return w.Flush()
}

func (c *cli) orJSON(data []byte, err error) error {
	if err != nil {
		return err
	}
	return c.printJSON(data)
}

func (c *cli) printTenant(data []byte) error {
	var t tenant.TenantView
	if err := json.Unmarshal(data, &t); err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintf(w, "name:\t%s\n", t.Name)
	fmt.Fprintf(w, "index:\t%d\n", t.Index)
	fmt.Fprintf(w, "version:\t%d\n", t.Version)
	fmt.Fprintf(w, "password:\t%s\n", map[bool]string{true: "set", false: "none (default: requirepass)"}[t.HasPassword])
	fmt.Fprintf(w, "created:\t%s\n", t.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "updated:\t%s\n", t.Updated.Format(time.RFC3339))
	fmt.Fprintf(w, "limits:\t%s\n", limitsSummary(&t.Limits))
	if u := t.Usage; u != nil {
		fmt.Fprintf(w, "jobs held:\t%d\n", u.Jobs)
		fmt.Fprintf(w, "bytes held:\t%d\n", u.Bytes)
		fmt.Fprintf(w, "queues:\t%d\n", u.Queues)
		fmt.Fprintf(w, "connections:\t%d\n", u.Connections)
		fmt.Fprintf(w, "blocked clients:\t%d\n", u.BlockedClients)
	}
	return w.Flush()
}

func (c *cli) tenantGet(name string) error {
	data, err := c.request("GET", tenantPath(name), nil)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	return c.printTenant(data)
}

func (c *cli) tenantPut(name string, o *opts, create bool) error {
	lim, err := parseLimits(o.limits, false)
	if err != nil {
		return err
	}
	if create {
		_, err := c.request("GET", tenantPath(name), nil)
		var ae *apiError
		switch {
		case err == nil:
			return fmt.Errorf("tenant %q already exists (use 'tenants put' to replace it)", name)
		case !errors.As(err, &ae) || ae.status != http.StatusNotFound:
			return err
		}
	}
	body := map[string]any{}
	if len(o.limits) > 0 || create {
		body["limits"] = lim
	}
	if o.passwordSet {
		body["password"] = o.password
	}
	data, err := c.request("PUT", tenantPath(name), body)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	return c.printTenant(data)
}

func (c *cli) tenantDelete(name string) error {
	if _, err := c.request("DELETE", tenantPath(name), nil); err != nil {
		return err
	}
	if c.json {
		return c.printJSON([]byte(`{"deleted":` + strconv.Quote(name) + `}`))
	}
	fmt.Fprintf(c.out, "deleted tenant %s\n", name)
	return nil
}

func (c *cli) printLimits(data []byte) error {
	var l tenant.Limits
	if err := json.Unmarshal(data, &l); err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "LIMIT\tVALUE")
	for id := range tenant.NumLimits {
		v := limitValue(&l, id)
		if id == tenant.ProduceBurst && !l.IsSet(id) && l.IsSet(tenant.ProduceRate) {
			v = strconv.FormatInt(l.Burst(), 10) + " (default: 1 s of produce_rate)"
		}
		fmt.Fprintf(w, "%s\t%s\n", id, v)
	}
	return w.Flush()
}

func (c *cli) limitsGet(name string) error {
	data, err := c.request("GET", tenantPath(name)+"/limits", nil)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	return c.printLimits(data)
}

func (c *cli) limitsSet(name string, kvs []string, merge bool) error {
	if len(kvs) == 0 && merge {
		return &usageError{"limits update needs at least one k=v"}
	}
	lim, err := parseLimits(kvs, merge)
	if err != nil {
		return err
	}
	body := map[string]*int64{}
	if merge {
		data, err := c.request("GET", tenantPath(name)+"/limits", nil)
		if err != nil {
			return err
		}
		var cur map[string]int64
		if err := json.Unmarshal(data, &cur); err != nil {
			return err
		}
		for k, v := range cur {
			body[k] = &v
		}
	}
	for k, v := range lim {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	data, err := c.request("PUT", tenantPath(name)+"/limits", body)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	return c.printLimits(data)
}

func (c *cli) usage(name string) error {
	data, err := c.request("GET", tenantPath(name)+"/usage", nil)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	var u tenant.Usage
	if err := json.Unmarshal(data, &u); err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintf(w, "tenant:\t%s\n", u.Tenant)
	fmt.Fprintf(w, "jobs held:\t%d\n", u.Jobs)
	fmt.Fprintf(w, "bytes held:\t%d\n", u.Bytes)
	fmt.Fprintf(w, "queues:\t%d\n", u.Queues)
	fmt.Fprintf(w, "connections:\t%d\n", u.Connections)
	fmt.Fprintf(w, "blocked clients:\t%d\n", u.BlockedClients)
	kv := func(title string, m map[string]uint64) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(w, "%s %s:\t%d\n", title, k, m[k])
		}
	}
	for _, e := range []string{"added", "delivered", "acked", "nacked", "requeued", "expired"} {
		fmt.Fprintf(w, "jobs %s:\t%d\n", e, u.Events[e])
	}
	kv("quota rejections", u.QuotaRejections)
	kv("rate limited", u.RateLimited)
	kv("consume throttled", u.ConsumeThrottled)
	for _, k := range slices.Sorted(maps.Keys(u.Node)) {
		fmt.Fprintf(w, "node %s:\t%d\n", k, u.Node[k])
	}
	return w.Flush()
}

func (c *cli) rotate(name string, o *opts) error {
	var body any
	if o.passwordSet {
		body = map[string]string{"password": o.password}
	}
	data, err := c.request("POST", tenantPath(name)+"/credentials", body)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	var r tenant.CredentialsResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "rotated the password of tenant %s (version %d)\n", r.Tenant, r.Version)
	if r.Password != "" {
		fmt.Fprintf(c.out, "password: %s\n(shown once: store it now)\n", r.Password)
	}
	return nil
}

func (c *cli) queuePause(name, queue, verb string, o *opts) error {
	switch o.state {
	case "in", "out", "all":
	default:
		return &usageError{"--state must be in, out or all"}
	}
	data, err := c.request("POST", queuePath(name, queue)+"/"+verb, tenant.PauseRequest{State: o.state, Bcast: o.bcast})
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	var st tenant.QueueState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "tenant %s queue %q: pause state %s\n", st.Tenant, st.Queue, st.State)
	return nil
}

func (c *cli) queuePurge(name, queue string) error {
	data, err := c.request("POST", queuePath(name, queue)+"/purge", nil)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	var pr tenant.PurgeResult
	if err := json.Unmarshal(data, &pr); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "tenant %s queue %q: %d jobs removed\n", pr.Tenant, pr.Queue, pr.Removed)
	return nil
}

func (c *cli) health() error {
	data, err := c.request("GET", "/healthz", nil)
	if err != nil || c.json {
		return c.orJSON(data, err)
	}
	var h tenant.Health
	if err := json.Unmarshal(data, &h); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s (%d tenants)\n", h.Status, h.Tenants)
	return nil
}

func (c *cli) metrics() error {
	data, err := c.request("GET", "/metrics", nil)
	if err != nil {
		return err
	}
	_, err = c.out.Write(data)
	return err
}
