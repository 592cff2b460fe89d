package cli

import (
	"slices"
	"strings"
)

// internalPrefixes are the package names that arca's error texts start
// with, as Go's do ("pack: corrupt"): useful in a chain of wrapped errors
// for developers, noise for a user, who reads the message without them.
var internalPrefixes = []string{"backend", "backup", "beneath", "crypto", "dump", "find", "index", "local",
	"mount", "pack", "repo", "restore", "snapshot", "stats", "tree"}

// userText turns an error's or warning's text into what a user reads: the
// internal package prefixes of its parts are dropped, and an
// interruption is called one.
func userText(s string) string {
	parts := strings.Split(s, ": ")
	out := parts[:0]
	for _, p := range parts {
		switch {
		case slices.Contains(internalPrefixes, p):
			continue
		case p == "context canceled":
			p = "interrupted"
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}
