package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseMemory parses a memory size: decimal digits followed by an optional
// case-insensitive unit: b = 1, k = 1000, kb = 1024, m = 1000^2,
// mb = 1024^2, g = 1000^3, gb = 1024^3 (Redis's memtoll). Signs, spaces,
// fractions, other units and values over math.MaxInt64 are errors.
// It is safe for concurrent use.
func ParseMemory(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	var mul int64
	switch strings.ToLower(s[i:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	}
	if i == 0 || mul == 0 {
		return 0, fmt.Errorf("invalid memory size '%s'", s)
	}
	v, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || v > math.MaxInt64/mul {
		return 0, fmt.Errorf("memory size out of range '%s'", s)
	}
	return v * mul, nil
}

// formatMemory renders bytes with the largest binary unit (gb, mb, kb) that
// divides it exactly, as CONFIG REWRITE does.
func formatMemory(b int64) string {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return strconv.FormatInt(b/(1<<30), 10) + "gb"
	case b != 0 && b%(1<<20) == 0:
		return strconv.FormatInt(b/(1<<20), 10) + "mb"
	case b != 0 && b%(1<<10) == 0:
		return strconv.FormatInt(b/(1<<10), 10) + "kb"
	}
	return strconv.FormatInt(b, 10)
}

// parseFileInt parses an integer from a config file: optional sign, decimal
// digits (leading zeros allowed).
func parseFileInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// parseStrictInt parses an integer as Redis's string2ll does for CONFIG
// SET: an optional '-', no '+', no leading zeros, no spaces, no overflow.
func parseStrictInt(s string) (int64, bool) {
	d := strings.TrimPrefix(s, "-")
	if d == "" || (d[0] == '0' && (len(d) > 1 || len(s) != len(d))) {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
