package tenant

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// DefaultName is the built-in tenant's name; its index is 0.
const DefaultName = "default"

// MaxTenants is the number of tenant indexes on a node (default included).
const MaxTenants = 1 << 16

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// ValidName reports whether name is a valid tenant name ([a-z0-9_-]{1,64}).
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Options configure a Registry.
type Options struct {
	// File is the tenants-file: loaded by New when it exists, rewritten
	// atomically on every change. "" = no persistence.
	File string
	// Logger receives the changes and warnings (nil = discard).
	Logger *slog.Logger
	// Clock returns the current time (nil = time.Now). Tests inject one.
	Clock func() time.Time
	// DefaultPassword returns requirepass, read at every AUTH of the
	// default tenant ("" = no password). nil = none.
	DefaultPassword func() string
	// MaxQueueSeries caps the queues with per-queue series (0 =
	// DefaultMaxQueueSeries, negative = no per-queue series).
	MaxQueueSeries int
}

// Registry holds the tenants of a node. Reads (ByIndex, ByName,
// Authenticate, every Tenant method) are lock-free: they go through an
// immutable snapshot behind an atomic pointer, replaced whole (copy on
// write) by the writers, which a mutex serializes.
type Registry struct {
	snap atomic.Pointer[snapshot]

	mu       sync.Mutex             // writers
	defs     map[string]*Definition // the persisted state, tombstones included
	watchers []func(Change)

	file    string
	log     *slog.Logger
	clock   func() time.Time
	base    time.Time
	defPass func() string
	set     *metrics.Set

	qmu            sync.Mutex
	qsrc           func([]QueueStat) []QueueStat
	qbuf           []QueueStat
	qsel           map[string]struct{}
	maxQueueSeries int
}

type snapshot struct {
	byIndex []*Tenant          // may hold deleted tenants still draining
	byName  map[string]*Tenant // live tenants only
}

func (s *snapshot) byIndexLive(i uint16) *Tenant {
	if int(i) < len(s.byIndex) {
		if t := s.byIndex[i]; t != nil && !t.Deleted() {
			return t
		}
	}
	return nil
}

// Definition is a tenant's persistent definition: what tenants-file holds
// and what the cluster will exchange (the highest Version wins). A deleted
// tenant leaves a tombstone (Deleted true) so that an older definition
// arriving later does not bring it back.
type Definition struct {
	Name         string    `json:"name"`
	Version      uint64    `json:"version"`
	Deleted      bool      `json:"deleted,omitempty"`
	PasswordHash string    `json:"password_hash,omitempty"`
	Limits       Limits    `json:"limits"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// newer reports whether d should replace o ("newest wins": the higher
// version, then the later update, then a tombstone, then the greater hash,
// limits and creation time, so that every node picks the same one of two
// concurrent changes). Equal definitions are not newer.
func (d *Definition) newer(o *Definition) bool {
	if o == nil {
		return true
	}
	if d.Version != o.Version {
		return d.Version > o.Version
	}
	if !d.Updated.Equal(o.Updated) {
		return d.Updated.After(o.Updated)
	}
	if d.Deleted != o.Deleted {
		return d.Deleted
	}
	if d.PasswordHash != o.PasswordHash {
		return d.PasswordHash > o.PasswordHash
	}
	if c := slices.Compare(d.Limits.p[:], o.Limits.p[:]); c != 0 {
		return c > 0
	}
	return d.Created.After(o.Created)
}

// ChangeKind says what happened to a tenant.
type ChangeKind uint8

// The kinds of change.
const (
	Created ChangeKind = iota + 1
	Updated
	Deleted
)

func (k ChangeKind) String() string {
	switch k {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	}
	return "change"
}

// Change is one committed change, as Watch reports it.
type Change struct {
	Kind   ChangeKind
	Tenant *Tenant
	// Def is the committed definition (a tombstone for Deleted).
	Def Definition
	// FromPeer is true for a definition received from a peer (Apply,
	// ApplyAll) and false for a change made on this node (Put, SetLimits,
	// SetPassword, Delete): only the latter is broadcast to the cluster.
	FromPeer bool
}

// New returns a Registry holding the default tenant and, when opts.File
// exists, the tenants it defines.
func New(opts Options) (*Registry, error) {
	r := &Registry{file: opts.File, log: opts.Logger, clock: opts.Clock, defPass: opts.DefaultPassword,
		set: metrics.NewSet(), qsel: map[string]struct{}{}, maxQueueSeries: opts.MaxQueueSeries,
		defs: map[string]*Definition{}}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.defPass == nil {
		r.defPass = func() string { return "" }
	}
	if r.maxQueueSeries == 0 {
		r.maxQueueSeries = DefaultMaxQueueSeries
	}
	r.base = r.clock()
	now := r.base.UTC().Truncate(time.Millisecond)
	r.defs[DefaultName] = &Definition{Name: DefaultName, Created: now, Updated: now}
	if r.file != "" {
		defs, err := loadFile(r.file)
		if err != nil {
			return nil, err
		}
		for _, d := range defs {
			r.defs[d.Name] = d
		}
	}
	s := &snapshot{byName: map[string]*Tenant{}}
	for _, name := range slices.Sorted(maps.Keys(r.defs)) {
		d := r.defs[name]
		if d.Deleted {
			continue
		}
		idx := len(s.byIndex)
		if name == DefaultName {
			idx = 0
		} else if idx == 0 {
			idx = 1
		}
		if idx >= MaxTenants {
			return nil, fmt.Errorf("tenants-file %s: %w (at most %d)", r.file, ErrTooManyTenants, MaxTenants-1)
		}
		t, err := r.newTenant(d, uint16(idx))
		if err != nil {
			return nil, fmt.Errorf("tenants-file %s: tenant %q: %w", r.file, name, err)
		}
		for len(s.byIndex) <= idx {
			s.byIndex = append(s.byIndex, nil)
		}
		s.byIndex[idx] = t
		s.byName[name] = t
	}
	for _, t := range s.byIndex {
		if t != nil {
			t.registerMetrics(r.set)
		}
	}
	r.set.NewGauge("disq_tenants", func() float64 { return float64(len(r.snap.Load().byName)) })
	r.set.RegisterMetricsWriter(r.writeQueueSeries)
	r.snap.Store(s)
	if n := len(s.byName) - 1; n > 0 {
		r.log.Info("tenants loaded", "file", r.file, "tenants", n)
	}
	return r, nil
}

// newTenant builds the live tenant of definition d (not yet published).
func (r *Registry) newTenant(d *Definition, idx uint16) (*Tenant, error) {
	t := &Tenant{name: d.Name, index: idx}
	m, err := r.metaOf(d)
	if err != nil {
		return nil, err
	}
	t.meta.Store(m)
	l := d.Limits
	t.lim.Store(&l)
	return t, nil
}

func (r *Registry) metaOf(d *Definition) (*meta, error) {
	m := &meta{version: d.Version, created: d.Created, updated: d.Updated}
	if d.PasswordHash != "" {
		if d.Name == DefaultName {
			return nil, fmt.Errorf("%w: the default tenant's password is requirepass", ErrDefaultTenant)
		}
		c, err := parseCredential(d.PasswordHash)
		if err != nil {
			return nil, err
		}
		m.cred = c
	} else if d.Name != DefaultName {
		return nil, ErrPasswordRequired
	}
	return m, nil
}

// Now returns the current time on the Registry's clock in nanoseconds, as
// the admission methods take it (monotonic when Clock is time.Now).
func (r *Registry) Now() int64 { return int64(r.clock().Sub(r.base)) }

// NowFrom converts a time.Time (e.g. an event loop's cached clock) to the
// Registry's clock.
func (r *Registry) NowFrom(t time.Time) int64 { return int64(t.Sub(r.base)) }

// ByIndex returns the tenant with index i, nil if none. A deleted tenant
// stays reachable by index until its usage drained (so shards can release
// what its jobs held); check Tenant.Deleted where it matters.
func (r *Registry) ByIndex(i uint16) *Tenant {
	s := r.snap.Load()
	if int(i) < len(s.byIndex) {
		return s.byIndex[i]
	}
	return nil
}

// Default returns the built-in tenant (index 0).
func (r *Registry) Default() *Tenant { return r.snap.Load().byIndex[0] }

// ByName returns the live tenant called name, nil if none.
func (r *Registry) ByName(name string) *Tenant { return r.snap.Load().byName[name] }

// Configured reports whether any tenant besides default exists (with none,
// disq behaves exactly like Disque).
func (r *Registry) Configured() bool { return len(r.snap.Load().byName) > 1 }

// List returns the live tenants sorted by name.
func (r *Registry) List() []*Tenant {
	s := r.snap.Load()
	l := slices.Collect(maps.Values(s.byName))
	slices.SortFunc(l, func(a, b *Tenant) int { return cmp.Compare(a.name, b.name) })
	return l
}

// Authenticate checks a tenant name and password (AUTH <tenant>
// <password>) and returns the tenant, or ErrWrongPass. Comparisons are
// constant-time, an unknown name costs the same work as a wrong password,
// and nothing is allocated. The default tenant's password is requirepass,
// read live; without requirepass, default accepts any password (Redis 6's
// "nopass" default user) — the engine answers the one-argument AUTH per the
// spec before calling this. Authenticate does not count the connection:
// call AdmitConnection on the result.
func (r *Registry) Authenticate(name, password []byte) (*Tenant, error) {
	t := r.snap.Load().byName[string(name)]
	if t == nil {
		dummyCredential.check(password)
		return nil, ErrWrongPass
	}
	if t.index == 0 {
		pass := r.defPass()
		if pass == "" || checkPlain(password, pass) {
			return t, nil
		}
		return nil, ErrWrongPass
	}
	m := t.meta.Load()
	if m.cred == nil || !m.cred.check(password) {
		return nil, ErrWrongPass
	}
	return t, nil
}

// Watch registers f to be told of every committed change, in commit
// order. f runs under the Registry's write lock: it must be quick and must
// not call the Registry's write methods. The engine uses it to close the
// connections of a deleted tenant and drop its jobs.
func (r *Registry) Watch(f func(Change)) {
	r.mu.Lock()
	r.watchers = append(r.watchers, f)
	r.mu.Unlock()
}

// Put creates tenant name or replaces its definition. limits, when not
// nil, replace the old ones whole (nil keeps them; no limits on create);
// password nil keeps the old password (and is refused on create with
// ErrPasswordRequired). The default tenant takes limits only (its password
// is requirepass). It returns the tenant and whether it was created.
func (r *Registry) Put(name string, password *string, limits *Limits) (*Tenant, bool, error) {
	if !ValidName(name) {
		return nil, false, ErrInvalidName
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.live(name)
	if name == DefaultName && password != nil {
		return nil, false, fmt.Errorf("%w: its password is requirepass", ErrDefaultTenant)
	}
	if old == nil && password == nil {
		return nil, false, ErrPasswordRequired
	}
	d := r.nextDef(name)
	if limits != nil {
		d.Limits = *limits
	}
	if password != nil {
		c, err := newCredential(*password)
		if err != nil {
			return nil, false, err
		}
		d.PasswordHash = c.String()
	}
	t, kind, err := r.commit(d)
	return t, kind == Created, err
}

// SetLimits replaces tenant name's limits whole.
func (r *Registry) SetLimits(name string, limits Limits) (*Tenant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live(name) == nil {
		return nil, ErrNotFound
	}
	d := r.nextDef(name)
	d.Limits = limits
	t, _, err := r.commit(d)
	return t, err
}

// SetPassword replaces tenant name's password (credential rotation).
// Connections already authenticated stay so.
func (r *Registry) SetPassword(name, password string) (*Tenant, error) {
	if name == DefaultName {
		return nil, fmt.Errorf("%w: its password is requirepass", ErrDefaultTenant)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live(name) == nil {
		return nil, ErrNotFound
	}
	c, err := newCredential(password)
	if err != nil {
		return nil, err
	}
	d := r.nextDef(name)
	d.PasswordHash = c.String()
	t, _, err := r.commit(d)
	return t, err
}

// Delete deletes tenant name (not default). The tenant refuses every
// admission from then on; its index is reused only once its usage on this
// node drained to zero.
func (r *Registry) Delete(name string) error {
	if name == DefaultName {
		return fmt.Errorf("%w: it cannot be deleted", ErrDefaultTenant)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live(name) == nil {
		return ErrNotFound
	}
	d := r.nextDef(name)
	d.Deleted, d.PasswordHash, d.Limits = true, "", Limits{}
	_, _, err := r.commit(d)
	return err
}

// Export returns every definition, tombstones included, sorted by name:
// what a node sends to a peer.
func (r *Registry) Export() []Definition {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Definition, 0, len(r.defs))
	for _, name := range slices.Sorted(maps.Keys(r.defs)) {
		out = append(out, *r.defs[name])
	}
	return out
}

// Apply installs a definition received from a peer when it is newer than
// the local one (higher Version; see Definition). It reports whether it was
// applied.
func (r *Registry) Apply(d Definition) (bool, error) {
	n, err := r.ApplyAll([]Definition{d})
	return n == 1, err
}

// ApplyAll installs the definitions received from a peer that are newer
// than the local ones (as Apply does, the newest of the batch winning when
// a name appears twice), writing the tenants-file once for the whole batch,
// and returns how many it applied. Invalid definitions are skipped and the
// first such error is returned with the count of the others; a failed
// write of the file applies nothing.
func (r *Registry) ApplyAll(ds []Definition) (int, error) {
	var firstErr error
	fail := func(name string, err error) {
		if firstErr == nil {
			firstErr = err
		}
		r.log.Warn("tenant definition from a peer refused", "tenant", name, "err", err)
	}
	batch := make(map[string]*Definition, len(ds))
	for i := range ds {
		d := ds[i]
		if err := checkPeerDef(r, &d); err != nil {
			fail(d.Name, err)
			continue
		}
		if d.newer(batch[d.Name]) {
			batch[d.Name] = &d
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	free := s.freeCount()
	var apply []*Definition
	for _, name := range slices.Sorted(maps.Keys(batch)) {
		d := batch[name]
		if !d.newer(r.defs[name]) {
			continue
		}
		if s.byName[name] == nil && !d.Deleted {
			if free == 0 {
				fail(name, fmt.Errorf("%w: all %d indexes are in use or draining", ErrTooManyTenants, MaxTenants))
				continue
			}
			free--
		}
		apply = append(apply, d)
	}
	if len(apply) == 0 {
		return 0, firstErr
	}
	if err := r.persist(apply...); err != nil {
		return 0, err
	}
	for _, d := range apply {
		r.install(d, true)
	}
	return len(apply), firstErr
}

// checkPeerDef validates a definition from a peer and clears what a
// tombstone must not carry.
func checkPeerDef(r *Registry, d *Definition) error {
	if !ValidName(d.Name) {
		return ErrInvalidName
	}
	if d.Name == DefaultName && d.Deleted {
		return fmt.Errorf("%w: it cannot be deleted", ErrDefaultTenant)
	}
	if d.Deleted {
		d.PasswordHash, d.Limits = "", Limits{}
		return nil
	}
	_, err := r.metaOf(d)
	return err
}

// live returns the live tenant called name (under mu).
func (r *Registry) live(name string) *Tenant { return r.snap.Load().byName[name] }

// nextDef returns a copy of name's definition with the version incremented
// (a tombstone's version continues) and the update time set (under mu).
func (r *Registry) nextDef(name string) *Definition {
	now := r.clock().UTC().Truncate(time.Millisecond)
	var d Definition
	if o := r.defs[name]; o != nil {
		d = *o
		if d.Deleted {
			d = Definition{Version: o.Version}
		}
	}
	if d.Created.IsZero() {
		d.Created = now
	}
	d.Name, d.Version, d.Updated = name, d.Version+1, now
	return &d
}

// commit persists a change made on this node and then applies it to the
// live state (under mu). When persisting fails nothing changes.
func (r *Registry) commit(d *Definition) (*Tenant, ChangeKind, error) {
	s := r.snap.Load()
	if s.byName[d.Name] == nil && !d.Deleted && s.freeIndex() < 0 {
		return nil, 0, fmt.Errorf("%w: all %d indexes are in use or draining", ErrTooManyTenants, MaxTenants)
	}
	if !d.Deleted {
		if _, err := r.metaOf(d); err != nil {
			return nil, 0, err
		}
	}
	if err := r.persist(d); err != nil {
		return nil, 0, err
	}
	t, kind := r.install(d, false)
	return t, kind, nil
}

// persist writes the definitions with ds replacing theirs to the
// tenants-file (when there is one) and makes them the persisted state
// (under mu).
func (r *Registry) persist(ds ...*Definition) error {
	defs := maps.Clone(r.defs)
	for _, d := range ds {
		defs[d.Name] = d
	}
	if r.file != "" {
		if err := saveFile(r.file, defs); err != nil {
			r.log.Error("tenants-file not written: change refused", "file", r.file, "tenant", ds[0].Name, "err", err)
			return fmt.Errorf("%w: writing tenants-file: %v", ErrUnavailable, err)
		}
	}
	r.defs = defs
	return nil
}

// install applies a persisted, validated definition to the live state and
// tells the watchers (under mu). The caller checked that an index is free
// for a new tenant and that the credential parses.
func (r *Registry) install(d *Definition, fromPeer bool) (*Tenant, ChangeKind) {
	s := r.snap.Load()
	old := s.byName[d.Name]
	now := r.Now()
	ns := &snapshot{byIndex: s.byIndex, byName: s.byName}
	var t *Tenant
	var kind ChangeKind
	switch {
	case d.Deleted && old == nil:
		return nil, 0 // a tombstone for a tenant this node does not have
	case d.Deleted:
		t, kind = old, Deleted
		closed := *old.lim.Load()
		closed.closed = true
		old.lim.Store(&closed)
		old.meta.Store(&meta{version: d.Version, created: d.Created, updated: d.Updated})
		old.unregisterMetrics(r.set)
		ns.byName = maps.Clone(s.byName)
		delete(ns.byName, d.Name)
	case old != nil:
		m, _ := r.metaOf(d)
		t, kind = old, Updated
		l := d.Limits
		old.setLimits(&l, now)
		old.meta.Store(m)
	default:
		m, _ := r.metaOf(d)
		idx := s.freeIndex()
		kind = Created
		t = &Tenant{name: d.Name, index: uint16(idx)}
		t.meta.Store(m)
		l := d.Limits
		t.lim.Store(&l)
		t.registerMetrics(r.set)
		ns.byIndex = slices.Clone(s.byIndex)
		for len(ns.byIndex) <= idx {
			ns.byIndex = append(ns.byIndex, nil)
		}
		ns.byIndex[idx] = t
		ns.byName = maps.Clone(s.byName)
		ns.byName[d.Name] = t
	}
	r.snap.Store(ns)
	from := "local"
	if fromPeer {
		from = "peer"
	}
	r.log.Info("tenant "+kind.String(), "tenant", d.Name, "version", d.Version, "index", t.index, "from", from)
	for _, f := range r.watchers {
		f(Change{Kind: kind, Tenant: t, Def: *d, FromPeer: fromPeer})
	}
	return t, kind
}

// freeCount returns how many tenants could be created now.
func (s *snapshot) freeCount() int {
	n := MaxTenants - max(len(s.byIndex), 1)
	for i := 1; i < len(s.byIndex); i++ {
		if t := s.byIndex[i]; t == nil || (t.Deleted() && t.drained()) {
			n++
		}
	}
	return n
}

// freeIndex returns the lowest index free for a new tenant: never used, or
// held by a deleted tenant whose usage drained. -1 if none.
func (s *snapshot) freeIndex() int {
	for i := 1; i < len(s.byIndex); i++ {
		if t := s.byIndex[i]; t == nil || (t.Deleted() && t.drained()) {
			return i
		}
	}
	if len(s.byIndex) < MaxTenants {
		return max(len(s.byIndex), 1)
	}
	return -1
}
