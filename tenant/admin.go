package tenant

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Backend is what the admin API needs from the server (the engine
// implements it; tests use a fake). Its methods are called from HTTP
// handler goroutines.
type Backend interface {
	// PauseQueue sets the pause state of tenant's queue on this node to
	// state ("none", "in", "out" or "all"; built from scratch as Disque's
	// PAUSE does), or only reports it when state is "state". bcast also
	// sends the resulting state to the other nodes. It returns the
	// resulting state. ErrNotFound and ErrUnavailable map to 404 and 503.
	PauseQueue(tenant, queue, state string, bcast bool) (string, error)
	// PurgeQueue deletes the jobs queued in tenant's queue on this node,
	// oldest first, as many as were queued when it started (in chunks:
	// jobs queued meanwhile may go too), and returns how many it removed.
	PurgeQueue(tenant, queue string) (int64, error)
	// TenantUsage returns node-side figures the Registry does not count
	// (e.g. "queued", "active" jobs from the shards); nil if none.
	TenantUsage(tenant string) map[string]int64
	// WriteMetrics writes the server-wide series (commands, latencies,
	// shard inboxes, ...) after the Registry's own (Registry.WritePrometheus).
	WriteMetrics(w io.Writer)
}

// MaxAdminBody is the largest request body the admin API reads.
const MaxAdminBody = 64 << 10

// Error codes of the admin API ({"error": {"code": ..., "message": ...}}).
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodePayloadTooLarge  = "payload_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeInternal         = "internal"
	CodeUnavailable      = "unavailable"
)

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code and message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// TenantView is a tenant as the API shows it (never the password hash).
type TenantView struct {
	Name        string    `json:"name"`
	Index       uint16    `json:"index"`
	Version     uint64    `json:"version"`
	HasPassword bool      `json:"has_password"`
	Limits      Limits    `json:"limits"`
	Usage       *Usage    `json:"usage,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// TenantList is the answer of GET /v1/tenants.
type TenantList struct {
	Tenants []TenantView `json:"tenants"`
}

// PutTenantRequest is the body of PUT /v1/tenants/{name}: on replace, an
// absent password or limits keeps the current one; limits, when given,
// replace the old ones whole.
type PutTenantRequest struct {
	Password *string `json:"password,omitempty"`
	Limits   *Limits `json:"limits,omitempty"`
}

// CredentialsRequest is the (optional) body of POST .../credentials.
type CredentialsRequest struct {
	Password *string `json:"password,omitempty"`
}

// CredentialsResponse answers POST .../credentials; Password is present
// only when the server generated it (shown this once).
type CredentialsResponse struct {
	Tenant   string `json:"tenant"`
	Version  uint64 `json:"version"`
	Password string `json:"password,omitempty"`
}

// PauseRequest is the (optional) body of POST .../pause and .../resume:
// the directions to pause or resume (default "all") and whether to
// broadcast the result to the other nodes.
type PauseRequest struct {
	State string `json:"state,omitempty"`
	Bcast bool   `json:"bcast,omitempty"`
}

// QueueState answers pause and resume.
type QueueState struct {
	Tenant string `json:"tenant"`
	Queue  string `json:"queue"`
	State  string `json:"state"`
}

// PurgeResult answers purge.
type PurgeResult struct {
	Tenant  string `json:"tenant"`
	Queue   string `json:"queue"`
	Removed int64  `json:"removed"`
}

// Health answers GET /healthz.
type Health struct {
	Status  string `json:"status"`
	Tenants int    `json:"tenants"`
}

type admin struct {
	reg     *Registry
	backend Backend
	token   func() string
	log     *slog.Logger
}

type params map[string]string

type route struct {
	method  string
	pattern string
	segs    []string
	h       func(a *admin, w http.ResponseWriter, r *http.Request, p params)
}

// adminRoutes is the routing table; the OpenAPI test checks it against
// openapi.json.
var adminRoutes = []*route{
	{method: "GET", pattern: "/healthz", h: (*admin).health},
	{method: "GET", pattern: "/metrics", h: (*admin).metrics},
	{method: "GET", pattern: "/v1/tenants", h: (*admin).listTenants},
	{method: "GET", pattern: "/v1/tenants/{name}", h: (*admin).getTenant},
	{method: "PUT", pattern: "/v1/tenants/{name}", h: (*admin).putTenant},
	{method: "DELETE", pattern: "/v1/tenants/{name}", h: (*admin).deleteTenant},
	{method: "GET", pattern: "/v1/tenants/{name}/limits", h: (*admin).getLimits},
	{method: "PUT", pattern: "/v1/tenants/{name}/limits", h: (*admin).putLimits},
	{method: "GET", pattern: "/v1/tenants/{name}/usage", h: (*admin).getUsage},
	{method: "POST", pattern: "/v1/tenants/{name}/credentials", h: (*admin).rotate},
	{method: "POST", pattern: "/v1/tenants/{name}/queues/{queue}/pause", h: (*admin).pause},
	{method: "POST", pattern: "/v1/tenants/{name}/queues/{queue}/resume", h: (*admin).resume},
	{method: "POST", pattern: "/v1/tenants/{name}/queues/{queue}/purge", h: (*admin).purge},
}

func init() {
	for _, rt := range adminRoutes {
		rt.segs = strings.Split(strings.TrimPrefix(rt.pattern, "/"), "/")
	}
}

// NewAdminHandler returns the admin HTTP API over reg and backend. token
// returns the bearer token (admin-token, read per request so CONFIG SET
// applies at once): when it is set, every route but /healthz needs
// "Authorization: Bearer <token>" (401 otherwise); when it is empty, only
// loopback peers are answered (403 otherwise). logger may be nil.
func NewAdminHandler(reg *Registry, backend Backend, token func() string, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = reg.log
	}
	if token == nil {
		token = func() string { return "" }
	}
	return &admin{reg: reg, backend: backend, token: token, log: logger}
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	tok := a.token()
	if tok == "" && !isLoopback(r.RemoteAddr) {
		writeError(w, http.StatusForbidden, CodeForbidden, "the admin API has no admin-token: it answers loopback clients only")
		return
	}
	segs, ok := splitPath(r.URL.EscapedPath())
	if tok != "" && !(len(segs) == 1 && segs[0] == "healthz") && !bearerOK(r.Header.Get("Authorization"), tok) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="disq-admin"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing or wrong bearer token")
		return
	}
	if !ok {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "bad percent-encoding in the path")
		return
	}
	var allow []string
	for _, rt := range adminRoutes {
		p, match := rt.match(segs)
		if !match {
			continue
		}
		if rt.method != r.Method {
			allow = append(allow, rt.method)
			continue
		}
		rt.h(a, w, r, p)
		return
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" not allowed here (allowed: "+strings.Join(allow, ", ")+")")
		return
	}
	writeError(w, http.StatusNotFound, CodeNotFound, "no such route")
}

// splitPath splits an escaped path into unescaped segments ("%2F" stays
// inside its segment).
func splitPath(p string) ([]string, bool) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func (rt *route) match(segs []string) (params, bool) {
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var p params
	for i, s := range rt.segs {
		if strings.HasPrefix(s, "{") {
			if p == nil {
				p = params{}
			}
			p[s[1:len(s)-1]] = segs[i]
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	return p, true
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bearerOK(h, token string) bool {
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	want := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(ErrorBody{ErrorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeErr maps a Registry or Backend error to its HTTP answer.
func (a *admin) writeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, ErrDefaultTenant):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.Is(err, ErrTooManyTenants):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.Is(err, ErrInvalidName), errors.Is(err, ErrPasswordRequired), errors.Is(err, ErrInvalidPassword),
		errors.Is(err, ErrInvalidLimits), errors.Is(err, ErrInvalidArgument):
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
	default:
		a.log.Error("admin API", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}

// readJSON decodes the request body strictly into v: at most MaxAdminBody
// bytes, one JSON value, no unknown fields. An empty body is accepted when
// optional (v is left as is). It writes the error answer and returns false
// on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if mt = strings.TrimSpace(strings.ToLower(mt)); mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "the body must be application/json")
			return false
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAdminBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxAdminBody))
			return false
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "reading the body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "a JSON body is required")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "bad JSON: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "bad JSON: data after the value")
		return false
	}
	return true
}

// tenant returns the live tenant named in the path, writing 400/404 when
// there is none.
func (a *admin) tenant(w http.ResponseWriter, p params) *Tenant {
	name := p["name"]
	if !ValidName(name) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, ErrInvalidName.Error())
		return nil
	}
	t := a.reg.ByName(name)
	if t == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "no tenant "+strconv.Quote(name))
	}
	return t
}

func view(t *Tenant, withUsage bool) TenantView {
	m := t.meta.Load()
	v := TenantView{Name: t.name, Index: t.index, Version: m.version, HasPassword: m.cred != nil,
		Limits: *t.Limits(), Created: m.created, Updated: m.updated}
	if withUsage {
		u := t.Usage()
		v.Usage = &u
	}
	return v
}

func (a *admin) health(w http.ResponseWriter, _ *http.Request, _ params) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", Tenants: len(a.reg.List())})
}

func (a *admin) metrics(w http.ResponseWriter, _ *http.Request, _ params) {
	var b bytes.Buffer
	a.reg.WritePrometheus(&b)
	if a.backend != nil {
		a.backend.WriteMetrics(&b)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func (a *admin) listTenants(w http.ResponseWriter, _ *http.Request, _ params) {
	l := TenantList{Tenants: []TenantView{}}
	for _, t := range a.reg.List() {
		l.Tenants = append(l.Tenants, view(t, true))
	}
	writeJSON(w, http.StatusOK, l)
}

func (a *admin) getTenant(w http.ResponseWriter, _ *http.Request, p params) {
	if t := a.tenant(w, p); t != nil {
		v := view(t, true)
		if a.backend != nil {
			v.Usage.Node = a.backend.TenantUsage(t.name)
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *admin) putTenant(w http.ResponseWriter, r *http.Request, p params) {
	name := p["name"]
	if !ValidName(name) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, ErrInvalidName.Error())
		return
	}
	var req PutTenantRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	if name == DefaultName && req.Password != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the default tenant's password is requirepass: send limits only")
		return
	}
	t, created, err := a.reg.Put(name, req.Password, req.Limits)
	if err != nil {
		a.writeErr(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/tenants/"+name)
	}
	writeJSON(w, status, view(t, false))
}

func (a *admin) deleteTenant(w http.ResponseWriter, _ *http.Request, p params) {
	name := p["name"]
	if !ValidName(name) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, ErrInvalidName.Error())
		return
	}
	if err := a.reg.Delete(name); err != nil {
		a.writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *admin) getLimits(w http.ResponseWriter, _ *http.Request, p params) {
	if t := a.tenant(w, p); t != nil {
		writeJSON(w, http.StatusOK, t.Limits())
	}
}

func (a *admin) putLimits(w http.ResponseWriter, r *http.Request, p params) {
	if a.tenant(w, p) == nil {
		return
	}
	var lim Limits
	if !readJSON(w, r, &lim, false) {
		return
	}
	t, err := a.reg.SetLimits(p["name"], lim)
	if err != nil {
		a.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t.Limits())
}

func (a *admin) getUsage(w http.ResponseWriter, _ *http.Request, p params) {
	if t := a.tenant(w, p); t != nil {
		u := t.Usage()
		if a.backend != nil {
			u.Node = a.backend.TenantUsage(t.name)
		}
		writeJSON(w, http.StatusOK, u)
	}
}

func (a *admin) rotate(w http.ResponseWriter, r *http.Request, p params) {
	t := a.tenant(w, p)
	if t == nil {
		return
	}
	var req CredentialsRequest
	if !readJSON(w, r, &req, true) {
		return
	}
	if t.index == 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the default tenant's password is requirepass")
		return
	}
	resp := CredentialsResponse{Tenant: t.name}
	pw := ""
	if req.Password != nil {
		pw = *req.Password
	} else {
		pw = GeneratePassword()
		resp.Password = pw
	}
	t, err := a.reg.SetPassword(t.name, pw)
	if err != nil {
		a.writeErr(w, err)
		return
	}
	resp.Version = t.Version()
	writeJSON(w, http.StatusOK, resp)
}

// queueTarget validates the tenant and queue of a queue route.
func (a *admin) queueTarget(w http.ResponseWriter, p params) (*Tenant, string) {
	t := a.tenant(w, p)
	if t == nil {
		return nil, ""
	}
	q := p["queue"]
	if q == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "empty queue name")
		return nil, ""
	}
	if a.backend == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "no queue backend")
		return nil, ""
	}
	return t, q
}

// pauseBits maps a pause state to bits (1 in, 2 out).
func pauseBits(s string) (int, bool) {
	switch s {
	case "none":
		return 0, true
	case "in":
		return 1, true
	case "out":
		return 2, true
	case "all":
		return 3, true
	}
	return 0, false
}

var pauseNames = [4]string{"none", "in", "out", "all"}

func (a *admin) pauseOrResume(w http.ResponseWriter, r *http.Request, p params, resume bool) {
	t, q := a.queueTarget(w, p)
	if t == nil {
		return
	}
	req := PauseRequest{State: "all"}
	if !readJSON(w, r, &req, true) {
		return
	}
	dirs, ok := pauseBits(req.State)
	if !ok || dirs == 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `state must be "in", "out" or "all"`)
		return
	}
	want := dirs
	if !(dirs == 3) {
		// A single direction: combine with the current state.
		cur, err := a.backend.PauseQueue(t.name, q, "state", false)
		if err != nil {
			a.writeErr(w, err)
			return
		}
		c, ok := pauseBits(cur)
		if !ok {
			a.writeErr(w, fmt.Errorf("backend reported pause state %q", cur))
			return
		}
		want = c | dirs
		if resume {
			want = c &^ dirs
		}
	} else if resume {
		want = 0
	}
	st, err := a.backend.PauseQueue(t.name, q, pauseNames[want], req.Bcast)
	if err != nil {
		a.writeErr(w, err)
		return
	}
	verb := "paused"
	if resume {
		verb = "resumed"
	}
	a.log.Info("queue "+verb+" by the admin API", "tenant", t.name, "queue", q, "state", st)
	writeJSON(w, http.StatusOK, QueueState{Tenant: t.name, Queue: q, State: st})
}

func (a *admin) pause(w http.ResponseWriter, r *http.Request, p params) {
	a.pauseOrResume(w, r, p, false)
}

func (a *admin) resume(w http.ResponseWriter, r *http.Request, p params) {
	a.pauseOrResume(w, r, p, true)
}

func (a *admin) purge(w http.ResponseWriter, r *http.Request, p params) {
	t, q := a.queueTarget(w, p)
	if t == nil {
		return
	}
	var req struct{}
	if !readJSON(w, r, &req, true) {
		return
	}
	n, err := a.backend.PurgeQueue(t.name, q)
	if err != nil {
		a.writeErr(w, err)
		return
	}
	a.log.Info("queue purged by the admin API", "tenant", t.name, "queue", q, "removed", n)
	writeJSON(w, http.StatusOK, PurgeResult{Tenant: t.name, Queue: q, Removed: n})
}

// ListenAdmin serves h on bind:port (admin-bind, admin-port) and returns
// the running server (stop it with Shutdown or Close). port 0 disables the
// API: it returns nil, nil. Without a token the API answers loopback peers
// only (h from NewAdminHandler enforces it, and so does the wrapper added
// here), and says so in the log.
func ListenAdmin(bind string, port int, token func() string, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if token == nil {
		token = func() string { return "" }
	}
	if port == 0 {
		logger.Info("admin API disabled (admin-port 0)")
		return nil, nil
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("admin-port %d out of range", port)
	}
	addr := net.JoinHostPort(bind, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	guard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token() == "" && !isLoopback(r.RemoteAddr) {
			writeError(w, http.StatusForbidden, CodeForbidden, "the admin API has no admin-token: it answers loopback clients only")
			return
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Addr: ln.Addr().String(), Handler: guard,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if token() == "" {
		logger.Warn("admin API has no admin-token: it answers loopback clients only", "addr", srv.Addr)
	} else {
		logger.Info("admin API listening", "addr", srv.Addr)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin API stopped", "err", err)
		}
	}()
	return srv, nil
}
