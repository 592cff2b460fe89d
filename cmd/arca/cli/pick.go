package cli

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/pflag"
)

// pickFlags choose one snapshot by point in time: SNAPSHOT ("latest", an
// ID or prefix, optionally ":subpath") and --at, among the snapshots that
// pass --host, --tag and --path.
type pickFlags struct {
	filter snapFilterFlags
	at     string
}

func (p *pickFlags) register(f *pflag.FlagSet) {
	p.filter.register(f)
	f.StringVar(&p.at, "at", "", "the newest snapshot taken at or before this `time` (RFC 3339, \"YYYY-MM-DD [HH:MM[:SS]]\" local, or an age like 3d or 36h)")
}

// pick resolves ref, "latest", an ID or prefix, or nothing (with --at),
// each optionally followed by ":PATH", and pathArg, a PATH given as its
// own argument, to a snapshot, the clean absolute path inside it ("/" if
// none) and whether a path was given. When a path is given and no --path
// filter, "latest" and --at choose the newest snapshot (at or before the
// time) that holds the path. It says which snapshot was chosen and why
// when the choice was not by ID.
func (a *app) pick(ctx context.Context, r *repo.Repository, p *pickFlags, ref, pathArg string) (*snapshot.Snapshot, string, bool, error) {
	id, sub, colon := strings.Cut(ref, ":")
	pth := pathArg
	if pth == "" {
		pth = sub
	}
	given := pathArg != "" || colon
	pth = path.Clean("/" + pth)
	switch {
	case p.at != "" && id != "":
		return nil, "", false, fmt.Errorf("--at and %q both choose the snapshot: give only one of them (with --at, give a path as :PATH or on its own)", id)
	case p.at == "" && id == "":
		return nil, "", false, fmt.Errorf("give a snapshot (an ID, a prefix or latest) or --at")
	}
	list, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, "", false, err
	}
	if id != "" && id != "latest" {
		sn, err := snapshot.Find(list, id)
		return sn, pth, given, err
	}
	cands, why := p.filter.f.Select(list), "the latest"
	if p.at != "" {
		at, err := parseTime(p.at, time.Now())
		if err != nil {
			return nil, "", false, fmt.Errorf("--at: %w", err)
		}
		cands = slices.DeleteFunc(cands, func(sn *snapshot.Snapshot) bool { return sn.Time.After(at) })
		why = "the newest at or before " + at.Local().Format(time.DateTime)
		if len(cands) == 0 {
			return nil, "", false, fmt.Errorf("%w taken at or before %s", snapshot.ErrNotFound, at.Local().Format(time.DateTime))
		}
	}
	if len(cands) == 0 {
		return nil, "", false, fmt.Errorf("%w: none passes the filters", snapshot.ErrNotFound)
	}
	found := cands[len(cands)-1] // the list is oldest first
	if given && pth != "/" && len(p.filter.f.Paths) == 0 {
		found = nil
		for i := len(cands) - 1; i >= 0 && found == nil; i-- {
			_, err := tree.Lookup(ctx, r, cands[i].Tree, pth)
			switch {
			case err == nil:
				found = cands[i]
			case !errors.Is(err, tree.ErrNotFound):
				return nil, "", false, fmt.Errorf("snapshot %s: %w", cands[i].ID.Short(), err)
			}
		}
		if found == nil {
			return nil, "", false, fmt.Errorf("%w holding %s", snapshot.ErrNotFound, pth)
		}
		why += " holding " + pth
	}
	a.chosen(found, why)
	return found, pth, given, nil
}

func (a *app) chosen(sn *snapshot.Snapshot, why string) {
	if a.json || a.quiet {
		return
	}
	fmt.Fprintf(a.stderr, "using snapshot %s of %s from %s (%s)\n", sn.ID.Short(), sn.Hostname, sn.Time.Local().Format(time.DateTime), why)
}

// pickPath resolves the arguments "[SNAPSHOT[:PATH]] [PATH]" of ls and
// dump: a lone argument is PATH when --at chooses the snapshot (unless it
// holds ":" or is latest, which --at then refuses). It returns the
// snapshot, the clean absolute path ("/" if none) and whether a path was
// given.
func (a *app) pickPath(ctx context.Context, r *repo.Repository, p *pickFlags, args []string) (*snapshot.Snapshot, string, bool, error) {
	ref, pth := "", ""
	switch {
	case len(args) == 2:
		ref, pth = args[0], args[1]
	case len(args) == 1 && p.at != "" && !strings.Contains(args[0], ":") && args[0] != "latest":
		pth = args[0]
	case len(args) == 1:
		ref = args[0]
	}
	return a.pick(ctx, r, p, ref, pth)
}
