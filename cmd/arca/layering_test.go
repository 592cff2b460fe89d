package main_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/arcabackup/arca"

// TestLayering enforces the import rules of ../shared/STYLE.md with
// `go list`: layers point one way, and heavy dependencies stay where they
// belong.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct{ imports, deps []string }
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkgs[strings.TrimPrefix(f[0], module+"/")] = pkg{strings.Fields(f[1]), strings.Fields(f[2])}
	}
	// allowed returns the arca packages a package may depend on.
	allowed := func(p string) []string {
		switch {
		case p == "crypto":
			return nil
		case p == "pack":
			return []string{"crypto"}
		case p == "index":
			return []string{"crypto", "pack"}
		case strings.HasPrefix(p, "repo/backend"):
			return []string{"repo/backend"}
		case p == "repo/beneath": // file-system work beneath a directory handle
			return nil
		case p == "repo/prune", p == "repo/repair": // garbage collection and repair: the index only through repo (checked below)
			return []string{"crypto", "pack", "index", "repo"}
		case p == "repo/transfer": // copy between repositories: both through repo, trees and snapshots
			return []string{"crypto", "pack", "index", "repo"}
		case p == "repo/server": // arca serve: the local backend behind HTTP; names checked with crypto
			return []string{"crypto", "repo/backend"}
		case strings.HasPrefix(p, "repo"):
			return []string{"crypto", "pack", "index", "repo"}
		case strings.HasPrefix(p, "docs/bench/"): // benchmark programs (make bound): the layers below the CLI
			return []string{"crypto", "pack", "index", "repo"}
		case strings.HasPrefix(p, "cmd/arca"):
			return []string{"crypto", "pack", "index", "repo", "cmd/arca/cli"}
		}
		return nil
	}
	for name, p := range pkgs {
		for _, d := range p.deps {
			rel, ok := strings.CutPrefix(d, module+"/")
			if !ok {
				continue
			}
			okDep := false
			for _, a := range allowed(name) {
				if rel == a || strings.HasPrefix(rel, a+"/") {
					okDep = true
				}
			}
			if !okDep {
				t.Errorf("%s depends on %s, which its layer may not use", name, rel)
			}
			if strings.HasPrefix(rel, "cmd/") && !strings.HasPrefix(name, "cmd/") {
				t.Errorf("%s imports the command package %s", name, rel)
			}
		}
		// The intended arrows inside repo/: the two pipelines stay apart;
		// the data model knows no storage; only the repository (and its
		// test helper) reaches backend implementations and the index.
		for _, imp := range p.imports {
			rel, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			switch {
			case name == "repo/backup" && rel == "repo/restore", name == "repo/restore" && rel == "repo/backup":
				t.Errorf("%s imports %s: backup and restore never import each other", name, rel)
			case (name == "repo/tree" || name == "repo/snapshot") && strings.HasPrefix(rel, "repo/backend/") && rel != "repo/backend":
				t.Errorf("%s imports the backend implementation %s", name, rel)
			case strings.HasPrefix(rel, "repo/backend/") && !strings.HasPrefix(name, "repo/backend") &&
				name != "repo" && name != "repo/repotest" && name != "repo/server":
				t.Errorf("%s imports the backend implementation %s; only repo does", name, rel)
			case rel == "index" && name != "repo":
				t.Errorf("%s imports index; only repo does", name)
			}
		}
		for _, imp := range p.imports {
			if strings.HasPrefix(imp, "github.com/dgraph-io/badger") && name != "index" {
				t.Errorf("%s imports badger; only index may", name)
			}
			if strings.HasPrefix(imp, "github.com/spf13/cobra") && name != "cmd/arca/cli" {
				t.Errorf("%s imports cobra; only the CLI may", name)
			}
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
}
