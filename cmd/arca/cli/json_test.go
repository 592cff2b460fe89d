package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// shape describes a JSON value by its keys and their JSON types, so the
// golden file pins what tools may rely on without pinning values.
func shape(v any) string {
	b, _ := json.Marshal(v)
	var m any
	json.Unmarshal(b, &m)
	return describe(m, "")
}

func describe(v any, indent string) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		sb.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s  %s: %s\n", indent, k, describe(x[k], indent+"  "))
		}
		sb.WriteString(indent + "}")
		return sb.String()
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		return "[" + describe(x[0], indent) + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}

// TestJSONShapes runs every command that prints JSON against a small
// repository and pins the shape (keys and JSON types) of every message it
// prints, by command and message type, in testdata/json-shapes.golden:
// tools that read restic's --json rely on them (docs/cli.md, "JSON").
func TestJSONShapes(t *testing.T) {
	dir := t.TempDir()
	repoDir, src := filepath.Join(dir, "repo"), filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("alpha"), 0o644)
	os.WriteFile(filepath.Join(src, "d", "b"), []byte("beta"), 0o644)
	os.Symlink("a", filepath.Join(src, "link"))
	env := map[string]string{"ARCA_PASSWORD": "pw", "ARCA_NEW_PASSWORD": "pw2", "XDG_CACHE_HOME": filepath.Join(dir, "cache")}
	shapes := map[string]string{}
	var last string // stdout of the last command
	exec := func(args ...string) int {
		t.Helper()
		var out, errb bytes.Buffer
		defer func() { last = out.String() }()
		code := run(context.Background(), append([]string{"--json", "-r", repoDir}, args...), nil, &out, &errb, func(k string) string { return env[k] })
		for stream, text := range map[string]string{"stdout": out.String(), "stderr": errb.String()} {
			for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
				if line == "" {
					continue
				}
				var v any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Errorf("%q printed a line that is not JSON on %s: %q", args, stream, line)
					continue
				}
				name := args[0]
				if m, ok := v.(map[string]any); ok {
					for _, k := range []string{"message_type", "struct_type"} {
						if mt, ok := m[k].(string); ok {
							name += " " + mt
						}
					}
				} else if len(args) > 1 && strings.HasPrefix(args[1], "--") {
					name += " " + args[1]
				}
				if args[0] == "cat" {
					name += " " + args[1]
				}
				if stream == "stderr" {
					name += " (stderr)"
				}
				if _, seen := shapes[name]; !seen {
					shapes[name] = shape(json.RawMessage(line))
				}
			}
		}
		return code
	}
	kdf := []string{"--kdf-time", "1", "--kdf-memory", "64", "--kdf-threads", "1"}
	exec(append([]string{"init"}, kdf...)...)
	exec("backup", "-vv", "--exclude", "*.tmp", src)
	exec("snapshots")
	var first []map[string]any
	json.Unmarshal([]byte(last), &first)
	os.WriteFile(filepath.Join(src, "a"), []byte("alpha 2"), 0o644)
	exec("backup", "-vv", "--tag", "t1", src)
	exec("snapshots")
	exec("snapshots", "--group-by", "host")
	exec("ls", "latest")
	exec("find", "a")
	exec("diff", first[0]["short_id"].(string), "latest")
	target := filepath.Join(dir, "target")
	os.MkdirAll(target+src, 0o755)
	os.WriteFile(filepath.Join(target+src, "d"), []byte("a file in the way"), 0o644)
	exec("restore", "-vv", "latest", "--target", target)
	exec("stats", "latest")
	exec("tag", "--add", "t2")
	exec("forget", "--keep-last", "1", "--dry-run")
	exec("check", "--read-data")
	exec(append([]string{"key", "add"}, kdf...)...)
	exec("key", "list")
	exec("version")
	exec("cat", "config")
	exec("cat", "snapshot", "latest")
	exec("ls", "latest", "/")
	var root map[string]any
	json.Unmarshal([]byte(strings.SplitN(last, "\n", 2)[0]), &root)
	exec("cat", "tree", root["tree"].(string)[:8])
	srcRepo := repoDir
	repoDir = filepath.Join(dir, "copy")
	exec(append([]string{"init"}, kdf...)...)
	env["ARCA_FROM_PASSWORD"] = "pw"
	exec("copy", "--from-repo", srcRepo)
	repoDir = srcRepo
	os.WriteFile(filepath.Join(repoDir, "snapshots", strings.Repeat("0", 64)), []byte("damaged"), 0o600)
	exec("snapshots", "--latest", "1")
	exec("check")
	env["ARCA_PASSWORD"] = "wrong"
	exec("snapshots")

	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, shapes[n])
	}
	path := filepath.Join("testdata", "json-shapes.golden")
	if *update {
		os.WriteFile(path, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("JSON shapes changed (go test -update if intended):\n%s", b.String())
	}
}
