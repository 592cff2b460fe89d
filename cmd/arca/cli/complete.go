package cli

import (
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

// Shell completion. Snapshot IDs, hosts, tags, paths and paths inside a
// snapshot (SNAP:PATH) come from the repository, opened only when that
// needs no prompt (ARCA_PASSWORD, a password file or command); otherwise
// completion offers nothing. Fixed flag values are always offered.

type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// completeRepo opens the repository for completion, silently, and lists
// its snapshots; it returns no repository when it cannot without asking
// for a password. The caller closes the repository.
func (a *app) completeRepo(cmd *cobra.Command) (*repo.Repository, []*snapshot.Snapshot) {
	if a.passwordFile == "" && a.passwordCmd == "" && a.getenv("ARCA_PASSWORD") == "" &&
		a.getenv("ARCA_PASSWORD_FILE") == "" && a.getenv("ARCA_PASSWORD_COMMAND") == "" {
		return nil, nil
	}
	a.stderr, a.quiet = io.Discard, true // a completion prints only candidates
	r, err := a.openRepo(cmd.Context())
	if err != nil {
		return nil, nil
	}
	list, err := snapshot.List(cmd.Context(), r)
	if err != nil {
		r.Close()
		return nil, nil
	}
	return r, list
}

// completeList offers fixed values.
func completeList(values ...string) completeFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSnapshots offers "latest" and snapshot IDs (with their time,
// host and paths), and for SNAP:PATH the entries of the snapshot's
// directory being typed. maxArgs bounds the positional arguments
// completed (0: any number).
func (a *app) completeSnapshots(maxArgs int, withPath bool) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		r, list := a.completeRepo(cmd)
		if r == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer r.Close()
		if ref, p, ok := strings.Cut(toComplete, ":"); ok && withPath {
			sn, err := snapshot.Find(list, ref)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completePath(cmd, r, sn, ref+":", p), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		}
		out := []string{"latest\tthe newest snapshot"}
		for i := len(list) - 1; i >= 0; i-- {
			sn := list[i]
			out = append(out, sn.ID.Short()+"\t"+sn.Time.Local().Format(time.DateTime)+" "+sn.Hostname+" "+strings.Join(sn.Paths, " "))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completePath lists the entries of sn's directory that typed is in,
// whose names start with what follows its last slash; directories end in
// "/" so that completion goes on into them.
func completePath(cmd *cobra.Command, r *repo.Repository, sn *snapshot.Snapshot, prefix, typed string) []string {
	if !strings.HasPrefix(typed, "/") {
		typed = "/" + typed
	}
	dir, base := typed[:strings.LastIndex(typed, "/")+1], typed[strings.LastIndex(typed, "/")+1:]
	n, err := tree.Lookup(cmd.Context(), r, sn.Tree, dir)
	if err != nil || n.Type != tree.Dir {
		return nil
	}
	t, err := tree.Load(cmd.Context(), r, n.Subtree)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range t.Nodes {
		if !strings.HasPrefix(c.Name, base) {
			continue
		}
		s := prefix + path.Join(dir, c.Name)
		if c.Type == tree.Dir {
			s += "/"
		}
		out = append(out, s)
	}
	return out
}

// completeField offers the hosts, tags or paths of the repository's
// snapshots.
func (a *app) completeField(field func(*snapshot.Snapshot) []string) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		r, list := a.completeRepo(cmd)
		if r == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		r.Close()
		var out []string
		for _, sn := range list {
			out = append(out, field(sn)...)
		}
		slices.Sort(out)
		return slices.Compact(out), cobra.ShellCompDirectiveNoFileComp
	}
}

// registerCompletions attaches completions to the commands and flags of
// root that take snapshots or fixed values.
func (a *app) registerCompletions(root *cobra.Command) {
	args := map[string]completeFunc{
		"restore": a.completeSnapshots(1, true), "ls": a.completeSnapshots(1, true), "dump": a.completeSnapshots(1, true),
		"diff": a.completeSnapshots(2, true), "snapshots": a.completeSnapshots(0, false), "tag": a.completeSnapshots(0, false),
		"stats": a.completeSnapshots(0, false),
	}
	flags := map[string]completeFunc{
		"host":        a.completeField(func(sn *snapshot.Snapshot) []string { return []string{sn.Hostname} }),
		"tag":         a.completeField(func(sn *snapshot.Snapshot) []string { return sn.Tags }),
		"path":        a.completeField(func(sn *snapshot.Snapshot) []string { return sn.Paths }),
		"kind":        completeList(snapshot.KindIncremental, snapshot.KindDifferential, snapshot.KindFull),
		"overwrite":   completeList("if-changed", "always", "if-newer", "never"),
		"compression": completeList("auto", "off", "max"),
		"mode":        completeList("restore-size", "files-by-contents", "raw-data"),
		"group-by":    completeList("host", "paths", "tags", "host,paths", "host,tags", "paths,tags", "host,paths,tags"),
		"archive":     completeList("tar", "zip"),
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f, ok := args[c.Name()]; ok && c.Parent() == root {
			c.ValidArgsFunction = f
		}
		for name, f := range flags {
			if c.Flags().Lookup(name) != nil {
				c.RegisterFlagCompletionFunc(name, f)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
