package filter

import (
	"bufio"
	"bytes"
	"strings"
)

// GitIgnore holds the rules of the .gitignore files that apply in one
// directory: its own and those of its ancestors. It follows git's rules
// (gitignore(5)): blank lines and "#" comments are skipped, trailing
// spaces are trimmed unless escaped, "!" re-includes, a trailing "/"
// matches only directories, a pattern with a "/" at its start or middle is
// relative to the .gitignore's directory while one without matches at any
// depth below it, "**" matches any number of directories, and the last
// matching rule wins, deeper files after shallower ones. As in git, an
// ignored directory is not entered, so nothing inside it can be
// re-included.
type GitIgnore struct {
	rules []gitRule
}

type gitRule struct {
	base    []string // the directory of the .gitignore, as elements
	parts   []string
	negated bool
	dirOnly bool
}

// With returns the rules for a subdirectory dir that has a .gitignore
// with content data (nil: none). g may be nil.
func (g *GitIgnore) With(dir string, data []byte) *GitIgnore {
	if len(data) == 0 {
		return g
	}
	out := &GitIgnore{}
	if g != nil {
		out.rules = append(out.rules, g.rules...)
	}
	base := split(dir)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if r, ok := parseGitRule(sc.Text(), base); ok {
			out.rules = append(out.rules, r)
		}
	}
	return out
}

func parseGitRule(line string, base []string) (gitRule, bool) {
	line = strings.TrimSuffix(line, "\r")
	if line == "" || strings.HasPrefix(line, "#") {
		return gitRule{}, false
	}
	// Trailing spaces are ignored unless escaped with a backslash.
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, "\\ ") {
		line = line[:len(line)-1]
	}
	r := gitRule{base: base}
	if strings.HasPrefix(line, "!") {
		r.negated = true
		line = line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return gitRule{}, false
	}
	anchored := strings.Contains(line, "/")
	line = strings.TrimPrefix(line, "/")
	if !anchored {
		r.parts = append(r.parts, "**")
	}
	for _, p := range strings.Split(line, "/") {
		if p == "" {
			continue
		}
		if p != "**" {
			p = strings.ReplaceAll(p, "**", "*")
			p = strings.ReplaceAll(p, "[!", "[^")
		}
		r.parts = append(r.parts, p)
	}
	return r, true
}

// Ignored reports whether the entry at p (absolute, slash-separated) is
// ignored.
func (g *GitIgnore) Ignored(p string, isDir bool) bool {
	if g == nil {
		return false
	}
	elems := split(p)
	for i := len(g.rules) - 1; i >= 0; i-- {
		r := g.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		if len(elems) <= len(r.base) || !hasPrefix(elems, r.base) {
			continue
		}
		if matchParts(r.parts, elems[len(r.base):]) {
			return !r.negated
		}
	}
	return false
}

func hasPrefix(elems, prefix []string) bool {
	for i, e := range prefix {
		if elems[i] != e {
			return false
		}
	}
	return true
}
