package config

import (
	"fmt"
	"strings"
)

// Get implements CONFIG GET: it returns flat name, value pairs for every
// gettable parameter whose name matches the glob pattern (case-sensitive,
// Redis's stringmatchlen), in the order of the Disque reply followed by the
// disq additions. Numbers are decimal, booleans yes/no, unixsocketperm
// octal, bind space-separated. admin-token is never returned (a secret).
// No match gives an empty, non-nil slice. Get only reads c.
func (c *Config) Get(pattern string) []string {
	out := []string{}
	for _, p := range params {
		if p.flags&fGet != 0 && stringMatch(pattern, p.name, false) {
			out = append(out, p.name, p.get(c))
		}
	}
	return out
}

// Set implements CONFIG SET: it returns a copy of c with the parameter
// changed, leaving c untouched, so the caller can publish the copy
// atomically. name is case-insensitive. Errors read as the reply after
// "-ERR ": "Unsupported CONFIG parameter: <name>", "Invalid argument
// '<value>' for CONFIG SET '<name>'", or for dir "Changing directory: <OS
// error>" (Set does not chdir: the server does, when it applies Dir).
// Side effects (turning the AOF on, resizing limits) are the caller's: it
// compares the old and new values.
func (c *Config) Set(name, value string) (*Config, error) {
	p := byName[strings.ToLower(name)]
	if p == nil || p.flags&fSet == 0 {
		return nil, fmt.Errorf("Unsupported CONFIG parameter: %s", name)
	}
	n := c.Clone()
	if err := p.set(n, value); err != nil {
		if err == errBadValue {
			return nil, fmt.Errorf("Invalid argument '%s' for CONFIG SET '%s'", value, name)
		}
		return nil, err
	}
	return n, nil
}

// Settable reports whether CONFIG SET accepts the parameter name
// (case-insensitive).
func Settable(name string) bool {
	p := byName[strings.ToLower(name)]
	return p != nil && p.flags&fSet != 0
}
