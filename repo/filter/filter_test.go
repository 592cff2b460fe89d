package filter

import "testing"

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"*.go", "/src/main.go", true},
		{"*.go", "/src/main.go/inner", true}, // ancestor matches
		{"*.go", "/src/main.c", false},
		{"foo", "/a/foo", true},
		{"foo", "/a/foo/bar", true},
		{"foo", "/a/foobar", false},
		{"foo/bar", "/x/foo/bar/baz", true},
		{"foo/bar", "/x/foo/baz", false},
		{"/foo", "/foo/x", true},
		{"/foo", "/a/foo", false},
		{"/home/*/cache", "/home/ann/cache/x", true},
		{"/home/*/cache", "/home/ann/b/cache", false},
		{"/home/**/cache", "/home/ann/b/cache", true},
		{"/home/**/cache", "/home/cache", true},
		{"**/node_modules", "/p/q/node_modules/x.js", true},
		{"/a/**", "/a/b/c", true},
		{"/a/**", "/b", false},
		{"c?t", "/dir/cat", true},
		{"[ab]*", "/dir/bee", true},
		{"[ab]*", "/dir/cee", false},
		{"*", "/anything", true},
	}
	for _, c := range cases {
		p, err := Parse(c.pattern, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(c.path); got != c.want {
			t.Errorf("%q matches %q = %v; want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestFold(t *testing.T) {
	p, _ := Parse("*.JPG", true)
	if !p.Match("/Photos/IMG.jpg") || !p.Match("/photos/img.JpG") {
		t.Error("case-insensitive pattern does not match")
	}
	p, _ = Parse("*.JPG", false)
	if p.Match("/photos/img.jpg") {
		t.Error("case-sensitive pattern matches other case")
	}
}

func TestListNegation(t *testing.T) {
	l, err := NewList([]string{"/data", "!/data/keep", "*.tmp", "!important.tmp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"/data":                 true,
		"/data/x":               true,
		"/data/keep":            false,
		"/data/keep/deep":       false,
		"/data/keep/deep/a.tmp": true,
		"/other/a.tmp":          true,
		"/other/important.tmp":  false,
		"/other/b":              false,
	}
	for p, want := range cases {
		if got := l.Match(p); got != want {
			t.Errorf("Match(%q) = %v; want %v", p, got, want)
		}
	}
	if !l.MayIncludeBelow("/data") {
		t.Error("/data may hold /data/keep")
	}
	only, _ := NewList([]string{"/data", "!/other/x"}, false)
	if only.MayIncludeBelow("/data") {
		t.Error("no negated pattern reaches into /data")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"", "!", "[", "a/[b"} {
		if _, err := Parse(bad, false); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
