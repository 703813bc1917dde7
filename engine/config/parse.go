package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// FatalError is a configuration line that aborts startup. Line counts from
// 1 in the text being parsed (an included file has its own numbering;
// command-line options continue the numbering of the config file).
type FatalError struct {
	Line   int    // 1-based line number
	Text   string // the offending line, trimmed
	Reason string // why the line is refused
}

// Error renders the error exactly as Disque/Redis print it, starting with
// an empty line and without a trailing newline.
func (e *FatalError) Error() string {
	return fmt.Sprintf("\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line %d\n>>> '%s'\n%s",
		e.Line, e.Text, e.Reason)
}

// OpenError is a configuration file that cannot be read.
type OpenError struct {
	Path string // the path as given
	Err  error  // the OS error
}

// Error returns "Fatal error, can't open config file '<path>': <OS error>".
func (e *OpenError) Error() string {
	return fmt.Sprintf("Fatal error, can't open config file '%s': %v", e.Path, bareError(e.Err))
}

// Unwrap returns the OS error.
func (e *OpenError) Unwrap() error { return e.Err }

// Load builds the configuration from the command-line arguments that
// follow the program name: `[configfile|-] [--directive value ...]`. As in
// Redis, a first argument that does not start with "--" names the config
// file ("-" reads it from stdin); every "--name" then starts a new line and
// the arguments up to the next "--name" are its values, quoted as needed.
// Those lines are appended after the file's text (after one "\n"), so the
// last occurrence of a directive wins and line numbers continue. Errors are
// *FatalError (a bad line) or *OpenError (the file cannot be read).
func Load(args []string, stdin io.Reader) (*Config, error) {
	cfg := Default()
	if len(args) == 0 {
		return cfg, nil
	}
	var text strings.Builder
	var stack []string
	i := 0
	if !strings.HasPrefix(args[0], "--") {
		i = 1
		var data []byte
		var err error
		if args[0] == "-" {
			if stdin == nil {
				return nil, &OpenError{Path: "-", Err: os.ErrInvalid}
			}
			data, err = io.ReadAll(stdin)
			if err != nil {
				return nil, &OpenError{Path: "-", Err: err}
			}
		} else {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return nil, &OpenError{Path: args[0], Err: err}
			}
			if data, err = os.ReadFile(abs); err != nil {
				return nil, &OpenError{Path: args[0], Err: err}
			}
			cfg.ConfigFile = abs
			stack = []string{canonicalPath(abs)}
		}
		text.Write(data)
	}
	text.WriteByte('\n')
	opts := false
	for ; i < len(args); i++ {
		a := args[i]
		if name, ok := strings.CutPrefix(a, "--"); ok {
			if opts {
				text.WriteByte('\n')
			}
			text.WriteString(name)
		} else {
			text.WriteString(quoteArg(a))
		}
		text.WriteByte(' ')
		opts = true
	}
	if err := parse(cfg, text.String(), stack); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseText applies the directives in text to cfg, in order (the last
// occurrence wins). On error cfg may be partly modified; the error is a
// *FatalError.
func ParseText(text string, cfg *Config) error {
	return parse(cfg, text, nil)
}

// canonicalPath identifies a file for include cycle detection.
func canonicalPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// parse applies text to cfg; stack holds the canonical paths of the files
// being loaded (the includers of text).
func parse(cfg *Config, text string, stack []string) error {
	for i, raw := range strings.Split(text, "\n") {
		line := strings.Trim(raw, " \t\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		fatal := func(reason string) error {
			return &FatalError{Line: i + 1, Text: line, Reason: reason}
		}
		argv, err := SplitArgs(line)
		if err != nil {
			return fatal(reasonQuotes)
		}
		if len(argv) == 0 {
			continue
		}
		name := strings.ToLower(argv[0])
		switch {
		case name == "include" && len(argv) == 2:
			path := argv[1]
			if !filepath.IsAbs(path) {
				path = filepath.Join(cfg.Dir, path)
			}
			canon := canonicalPath(path)
			if slices.Contains(stack, canon) {
				return fatal(fmt.Sprintf("Include cycle: '%s' is already being loaded", argv[1]))
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fatal((&OpenError{Path: argv[1], Err: err}).Error())
			}
			if err := parse(cfg, string(data), append(slices.Clip(stack), canon)); err != nil {
				return err
			}
		case name == "rename-command" && len(argv) == 3:
			cfg.addRename(argv[1], argv[2], i+1, line)
		default:
			p := byName[name]
			if p == nil || p.flags&fFile == 0 || (p.nargs >= 0 && len(argv)-1 != p.nargs) || (p.nargs < 0 && len(argv) < 2) {
				return fatal(reasonBadDirective)
			}
			if reason := p.load(cfg, argv[1:]); reason != "" {
				return fatal(reason)
			}
		}
	}
	return nil
}

// addRename records rename-command old newname. Renaming a name that an
// earlier rename-command introduced renames the original command instead
// (rename-command GET FOO, rename-command FOO BAR: GET is served as BAR).
func (c *Config) addRename(old, to string, line int, text string) {
	key := strings.ToUpper(old)
	for k, v := range c.RenameCommands {
		if v != "" && strings.EqualFold(v, old) {
			key = k
			break
		}
	}
	if c.RenameCommands == nil {
		c.RenameCommands = map[string]string{}
	}
	if c.renameAt == nil {
		c.renameAt = map[string]lineRef{}
	}
	c.RenameCommands[key] = to
	c.renameAt[key] = lineRef{line: line, text: text, to: to}
}

// CheckRenames validates RenameCommands against the server's command table:
// isCommand reports whether a name (lower case) is a command. A renamed
// command must exist ("No such command in rename-command") and a new name
// must not clash with a command that keeps its name or with another new
// name ("Target command name already exists"). The error is a *FatalError
// pointing at the rename-command line when it came from a file.
func (c *Config) CheckRenames(isCommand func(name string) bool) error {
	keys := make([]string, 0, len(c.RenameCommands))
	for k := range c.RenameCommands {
		keys = append(keys, k)
	}
	// Report the earliest offending line first.
	sort.Slice(keys, func(i, j int) bool {
		li, lj := c.renameAt[keys[i]].line, c.renameAt[keys[j]].line
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	fail := func(k, reason string) error {
		at, ok := c.renameAt[k]
		if !ok || at.to != c.RenameCommands[k] {
			at = lineRef{text: "rename-command " + quoteArg(k) + " " + quoteArg(c.RenameCommands[k])}
		}
		return &FatalError{Line: at.line, Text: at.text, Reason: reason}
	}
	taken := map[string]bool{}
	for _, k := range keys {
		if !isCommand(strings.ToLower(k)) {
			return fail(k, "No such command in rename-command")
		}
	}
	for _, k := range keys {
		to := strings.ToLower(c.RenameCommands[k])
		if to == "" {
			continue
		}
		_, renamedAway := c.RenameCommands[strings.ToUpper(to)]
		if taken[to] || (isCommand(to) && !renamedAway) {
			return fail(k, "Target command name already exists")
		}
		taken[to] = true
	}
	return nil
}
