// Package promtext parses the Prometheus text exposition format strictly,
// so that tests can check a server's /metrics output (and disq-admin
// metrics) by the same rules wherever they run.
package promtext

import (
	"bufio"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Parse is a strict parser of the Prometheus text exposition format
// (version 0.0.4): HELP/TYPE comments, samples "name{l="v",...} value
// [timestamp]" with the three label-value escapes (blanks around label
// pairs allowed, as in Prometheus's own parser), float values including
// NaN and ±Inf. It refuses malformed lines, invalid names, duplicate label
// names, duplicate series, a metric name whose samples are not contiguous,
// a TYPE after its samples or given twice, and an unknown TYPE. It returns
// the samples keyed by "name{sorted labels}".
func Parse(text string) (map[string]float64, error) {
	var (
		nameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
		labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
		types   = map[string]bool{"counter": true, "gauge": true, "histogram": true, "summary": true, "untyped": true}
	)
	out := map[string]float64{}
	typed := map[string]bool{}
	seenName := map[string]bool{}
	last := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ln := 0
	for sc.Scan() {
		ln++
		line := sc.Text()
		fail := func(f string, a ...any) error { return fmt.Errorf("line %d %q: %s", ln, line, fmt.Sprintf(f, a...)) }
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 2 && (f[1] == "HELP" || f[1] == "TYPE") {
				if len(f) < 3 || !nameRE.MatchString(f[2]) {
					return nil, fail("bad %s", f[1])
				}
				if f[1] == "TYPE" {
					if len(f) != 4 || !types[f[3]] {
						return nil, fail("bad TYPE")
					}
					if typed[f[2]] || seenName[f[2]] {
						return nil, fail("TYPE twice or after samples")
					}
					typed[f[2]] = true
				}
			}
			continue
		}
		i := strings.IndexAny(line, "{ ")
		if i <= 0 {
			return nil, fail("no value")
		}
		name, rest := line[:i], line[i:]
		if !nameRE.MatchString(name) {
			return nil, fail("bad metric name")
		}
		var labels []string
		if rest[0] == '{' {
			rest = rest[1:]
			names := map[string]bool{}
			for {
				rest = strings.TrimLeft(rest, " \t") // blanks around label pairs, as Prometheus's parser allows
				if strings.HasPrefix(rest, "}") {
					rest = rest[1:]
					break
				}
				eq := strings.IndexByte(rest, '=')
				if eq <= 0 {
					return nil, fail("bad label")
				}
				ln := strings.TrimRight(rest[:eq], " \t")
				if !labelRE.MatchString(ln) || names[ln] {
					return nil, fail("bad or duplicate label name %q", ln)
				}
				names[ln] = true
				rest = strings.TrimLeft(rest[eq+1:], " \t")
				if !strings.HasPrefix(rest, `"`) {
					return nil, fail("label value not quoted")
				}
				var v strings.Builder
				j := 1
				for ; j < len(rest) && rest[j] != '"'; j++ {
					if rest[j] == '\\' {
						j++
						if j == len(rest) {
							return nil, fail("dangling escape")
						}
						switch rest[j] {
						case '\\':
							v.WriteByte('\\')
						case '"':
							v.WriteByte('"')
						case 'n':
							v.WriteByte('\n')
						default:
							return nil, fail("bad escape \\%c", rest[j])
						}
						continue
					}
					if rest[j] == '\n' {
						return nil, fail("raw newline in label value")
					}
					v.WriteByte(rest[j])
				}
				if j == len(rest) {
					return nil, fail("unterminated label value")
				}
				labels = append(labels, ln+"="+strconv.Quote(v.String()))
				rest = strings.TrimLeft(rest[j+1:], " \t")
				if strings.HasPrefix(rest, ",") {
					rest = rest[1:]
				} else if !strings.HasPrefix(rest, "}") {
					return nil, fail("expected , or }")
				}
			}
		}
		if !strings.HasPrefix(rest, " ") {
			return nil, fail("no space before the value")
		}
		f := strings.Fields(rest)
		if len(f) < 1 || len(f) > 2 {
			return nil, fail("bad value/timestamp")
		}
		val, err := ParseFloat(f[0])
		if err != nil {
			return nil, fail("bad value: %v", err)
		}
		if len(f) == 2 {
			if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
				return nil, fail("bad timestamp")
			}
		}
		if name != last && seenName[name] {
			return nil, fail("samples of %s not contiguous", name)
		}
		seenName[name], last = true, name
		slices.Sort(labels)
		key := name + "{" + strings.Join(labels, ",") + "}"
		if _, dup := out[key]; dup {
			return nil, fail("duplicate series")
		}
		out[key] = val
	}
	return out, sc.Err()
}

// ParseFloat parses a sample value: a Go float, or NaN, +Inf, Inf, -Inf as
// the format spells them.
func ParseFloat(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}
