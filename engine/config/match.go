package config

// stringMatch reports whether s matches the glob pattern, with the
// semantics of Redis's stringmatchlen: '*' any run, '?' any byte, [...]
// a set with ranges (a-z, reversed ranges allowed) and ^ negation, '\'
// quoting the next byte. An unterminated [ set ends at the end of the
// pattern. Patterns that would backtrack exponentially are cut short as in
// Redis 7 (skipLongerMatches and a nesting limit).
func stringMatch(pattern, s string, nocase bool) bool {
	skip := false
	return matchImpl(pattern, s, nocase, &skip, 0)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func matchImpl(pat, str string, nocase bool, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	eq := func(a, b byte) bool {
		if nocase {
			return lower(a) == lower(b)
		}
		return a == b
	}
	p, s := 0, 0
	for p < len(pat) && s < len(str) {
		switch pat[p] {
		case '*':
			for p+1 < len(pat) && pat[p+1] == '*' {
				p++
			}
			if p+1 == len(pat) {
				return true
			}
			for s < len(str) {
				if matchImpl(pat[p+1:], str[s:], nocase, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s++
			}
			// The rest of the pattern matches nowhere in the rest of the
			// string: longer matches for earlier stars cannot help.
			*skipLonger = true
			return false
		case '?':
			s++
		case '[':
			p++
			not := p < len(pat) && pat[p] == '^'
			if not {
				p++
			}
			match := false
			for {
				if p+1 < len(pat) && pat[p] == '\\' {
					p++
					if pat[p] == str[s] {
						match = true
					}
				} else if p >= len(pat) {
					p-- // unterminated set: the p++ below lands at the end
					break
				} else if pat[p] == ']' {
					break
				} else if p+2 < len(pat) && pat[p+1] == '-' {
					start, end, c := pat[p], pat[p+2], str[s]
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, c = lower(start), lower(end), lower(c)
					}
					p += 2
					if c >= start && c <= end {
						match = true
					}
				} else if eq(pat[p], str[s]) {
					match = true
				}
				p++
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s++
		case '\\':
			if p+1 < len(pat) {
				p++
			}
			fallthrough
		default:
			if !eq(pat[p], str[s]) {
				return false
			}
			s++
		}
		p++
		if s == len(str) {
			for p < len(pat) && pat[p] == '*' {
				p++
			}
			break
		}
	}
	return p == len(pat) && s == len(str)
}
