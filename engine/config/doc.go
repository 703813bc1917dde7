// Package config is disq's configuration: the typed model of every
// directive (Config), the config file and command-line parser, and the
// logic behind CONFIG GET, CONFIG SET and CONFIG REWRITE. It follows
// Disque's (Redis's) config.c; shared/spec/README.md lists the directives.
//
// # Model
//
// The config file and the command line become one text: the file's
// content, a newline, then one line per "--name value ..." option. The
// text is read line by line (one directive per line, # comments, blank
// lines, sdssplitargs quoting, names case-insensitive, include loading
// another file at that point) and each line overwrites what earlier lines
// set, so the last occurrence wins and command-line options override the
// file. A bad line stops everything with a *FatalError whose Error() is
// Redis's "*** FATAL CONFIG FILE ERROR ***" block.
//
// `dir` is not applied with chdir while parsing: it is resolved against the
// previous Dir (the process working directory at first), checked to be a
// directory, and stored absolute. Relative include paths are resolved
// against the current Dir, which is what Redis's chdir-while-parsing gives.
// The server changes to Dir once, before it opens the log, the AOF, the
// cluster config file or the unix socket, whose relative paths are
// therefore relative to Dir.
//
// A *Config is never modified once published. Set returns a modified copy
// (copy-on-write), so the server keeps the current configuration in an
// atomic.Pointer[Config]: readers on any goroutine load it without locks,
// and CONFIG SET (serialized by the server) swaps in the copy and then
// performs the side effects by comparing old and new values (chdir for
// dir, a background rewrite for appendonly yes, watchdog, limits).
//
// Differences from Disque, on purpose:
//   - Defaults: client-output-buffer-limit normal 256mb 64mb 60;
//     client-query-buffer-limit 1gb and proto-max-bulk-len 512mb (>= 1mb,
//     gettable and settable); the extension directives shards, event-loops,
//     admin-bind, admin-port, admin-token, tenants-file, repl-compression
//     and aof-compression.
//   - Limits Disque did not have: shards 0..4096 (more shards than the 4096
//     slots would stay empty), event-loops 0..1024, client-query-buffer-limit
//     and proto-max-bulk-len >= 1mb (Redis's minimum), bind and admin-bind
//     addresses non-empty without spaces or quotes, appendfilename not
//     empty, cluster-config-file not empty.
//   - An include cycle is a fatal error at the include line.
//   - daemonize yes is refused: disq always runs in the foreground.
//   - Integers are checked (Redis's atoi took "abc" as 0): "port abc" is
//     "Invalid port". CONFIG SET integers follow string2ll (no '+', no
//     leading zeros).
//   - tcp-keepalive is an integer (seconds) in CONFIG GET; CONFIG SET also
//     takes yes (300) and no (0).
//   - CONFIG SET maxmemory 0 means no limit (the file still requires > 0;
//     CONFIG REWRITE writes 0 as the largest value, 9223372036854775807).
//   - CONFIG SET cluster-node-timeout requires >= 1, as the file does.
//   - CONFIG SET client-output-buffer-limit accepts memory units, as newer
//     Redis does; auto-aof-rewrite-min-size stays plain bytes (the spec).
//   - Memory sizes never take a sign (Redis's memtoll took "-1").
//   - CONFIG GET never returns admin-token (a secret); it is settable.
//   - requirepass "" means no password.
//   - The pidfile default is Disque's /var/run/disque.pid; Disque only wrote
//     it when daemonized, so the server decides whether to write it.
//   - rename-command is stored as a map (upper-case name -> new name, ""
//     removes); renaming a name that an earlier rename-command introduced
//     renames the original command. CheckRenames validates the map against
//     the command table once the server knows it.
//   - CONFIG REWRITE keeps the last line of a duplicated directive (Redis:
//     the first), drops the others instead of leaving blank lines, and
//     replaces the file atomically by rename instead of overwriting it.
//
// # Usage
//
//  1. At startup, cfg, err := config.Load(os.Args[1:], os.Stdin); print err
//     (a *FatalError or *OpenError) and exit 1 on error.
//  2. Validate renames with cfg.CheckRenames(isCommand), chdir to cfg.Dir,
//     and publish cfg in an atomic.Pointer[config.Config].
//  3. CONFIG GET pattern: reply with cur.Get(pattern) as an array of bulk
//     strings.
//  4. CONFIG SET name value: next, err := cur.Set(name, value); on error
//     reply "-ERR " + err.Error(); else store next and apply side effects.
//  5. CONFIG REWRITE: if cur.ConfigFile == "" reply "The server is running
//     without a config file"; else err := config.Rewrite(cur.ConfigFile,
//     cur) and reply "Rewriting config file: " + err.Error() on failure.
//
// SplitArgs (sdssplitargs), Repr (sdscatrepr) and ParseMemory (memtoll) are
// exported for the other packages (inline commands, MONITOR, limits).
package config
