// Package filter matches paths against exclude and include patterns in
// restic's syntax (docs/filters.md):
//
//   - a pattern is split at "/" into parts; each part is a filepath.Match
//     glob ("*", "?", "[...]") matched against one path element, and a
//     part "**" matches any number of elements, including none;
//   - a pattern starting with "/" is anchored at the root; any other
//     pattern may start at any depth (as if it began with "**/");
//   - a pattern matches a path when it matches the path or one of its
//     ancestors, so excluding a directory excludes everything in it;
//   - in a List, the last pattern that matches wins, and a pattern
//     starting with "!" re-includes what earlier patterns excluded.
package filter

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Pattern is one parsed pattern.
type Pattern struct {
	text    string
	parts   []string
	negated bool
	fold    bool // case-insensitive
}

// Parse parses one pattern. fold makes it case-insensitive.
func Parse(s string, fold bool) (Pattern, error) {
	p := Pattern{text: s, fold: fold}
	if strings.HasPrefix(s, "!") {
		p.negated = true
		s = s[1:]
	}
	if fold {
		s = strings.ToLower(s)
	}
	if s == "" {
		return Pattern{}, fmt.Errorf("filter: empty pattern %q", p.text)
	}
	anchored := strings.HasPrefix(s, "/")
	s = strings.Trim(path.Clean("/"+s), "/")
	if !anchored {
		p.parts = append(p.parts, "**")
	}
	if s != "" {
		for _, part := range strings.Split(s, "/") {
			if part != "**" {
				if _, err := filepath.Match(part, ""); err != nil {
					return Pattern{}, fmt.Errorf("filter: pattern %q: %w", p.text, err)
				}
			}
			p.parts = append(p.parts, part)
		}
	}
	return p, nil
}

// String returns the pattern as given.
func (p Pattern) String() string { return p.text }

// Negated reports whether the pattern starts with "!".
func (p Pattern) Negated() bool { return p.negated }

func split(p string) []string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Match reports whether the pattern matches p (an absolute, slash-separated
// path) or one of its ancestors.
func (pt Pattern) Match(p string) bool {
	if pt.fold {
		p = strings.ToLower(p)
	}
	elems := split(p)
	for k := 1; k <= len(elems); k++ {
		if matchParts(pt.parts, elems[:k]) {
			return true
		}
	}
	return false
}

// MatchPath reports whether the pattern matches p itself, not counting
// matches of its ancestors.
func (pt Pattern) MatchPath(p string) bool {
	if pt.fold {
		p = strings.ToLower(p)
	}
	return matchParts(pt.parts, split(p))
}

// MayMatchBelow reports whether the pattern could match a path inside the
// directory dir (so a walk must look inside it).
func (pt Pattern) MayMatchBelow(dir string) bool {
	if pt.fold {
		dir = strings.ToLower(dir)
	}
	return prefixMatch(pt.parts, split(dir))
}

// matchParts matches parts against all of elems.
func matchParts(parts, elems []string) bool {
	if len(parts) == 0 {
		return len(elems) == 0
	}
	if parts[0] == "**" {
		for i := 0; i <= len(elems); i++ {
			if matchParts(parts[1:], elems[i:]) {
				return true
			}
		}
		return false
	}
	if len(elems) == 0 {
		return false
	}
	ok, _ := filepath.Match(parts[0], elems[0])
	return ok && matchParts(parts[1:], elems[1:])
}

// prefixMatch reports whether elems can be extended (by at least one
// element) to a path that parts match.
func prefixMatch(parts, elems []string) bool {
	if len(elems) == 0 {
		return len(parts) > 0
	}
	if len(parts) == 0 {
		return false
	}
	if parts[0] == "**" {
		// "**" can take all of elems; the parts after it then match
		// the elements to come.
		return true
	}
	ok, _ := filepath.Match(parts[0], elems[0])
	return ok && prefixMatch(parts[1:], elems[1:])
}

// List is an ordered list of patterns.
type List struct {
	patterns []Pattern
}

// NewList parses patterns; fold makes them case-insensitive.
func NewList(patterns []string, fold bool) (*List, error) {
	l := &List{}
	return l, l.Add(patterns, fold)
}

// Add appends patterns.
func (l *List) Add(patterns []string, fold bool) error {
	for _, s := range patterns {
		p, err := Parse(s, fold)
		if err != nil {
			return err
		}
		l.patterns = append(l.patterns, p)
	}
	return nil
}

// Empty reports whether the list has no patterns.
func (l *List) Empty() bool { return l == nil || len(l.patterns) == 0 }

// Match reports whether p is matched: the last pattern matching p (or an
// ancestor) decides, and a negated one un-matches.
func (l *List) Match(p string) bool {
	if l == nil {
		return false
	}
	matched := false
	for _, pt := range l.patterns {
		if pt.Match(p) {
			matched = !pt.negated
		}
	}
	return matched
}

// MayMatchBelow reports whether a pattern that is not negated could match
// a path inside dir, so a walk for what the list includes must look
// inside dir even though dir itself is not matched.
func (l *List) MayMatchBelow(dir string) bool {
	if l == nil {
		return false
	}
	for _, pt := range l.patterns {
		if !pt.negated && pt.MayMatchBelow(dir) {
			return true
		}
	}
	return false
}

// MayIncludeBelow reports whether a negated pattern could re-include
// something inside dir, which is itself matched: then a walk must still
// look inside.
func (l *List) MayIncludeBelow(dir string) bool {
	if l == nil {
		return false
	}
	for _, pt := range l.patterns {
		if pt.negated && pt.MayMatchBelow(dir) {
			return true
		}
	}
	return false
}
