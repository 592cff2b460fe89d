package cli

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
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

// pick resolves ref (may be empty with --at) to a snapshot and the path
// inside it after ":" ("/" without one). It says which snapshot was chosen
// and why when the choice was not by ID.
func (a *app) pick(ctx context.Context, r *repo.Repository, p *pickFlags, ref string) (*snapshot.Snapshot, string, error) {
	id, sub, _ := strings.Cut(ref, ":")
	if sub == "" {
		sub = "/"
	}
	list, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, "", err
	}
	if p.at == "" {
		if id == "" {
			return nil, "", fmt.Errorf("give a snapshot (an ID, a prefix or latest) or --at")
		}
		if id != "latest" {
			sn, err := snapshot.Find(list, id)
			return sn, sub, err
		}
		sn, err := snapshot.Find(p.filter.f.Select(list), "latest")
		if err != nil {
			return nil, "", err
		}
		a.chosen(sn, "the latest")
		return sn, sub, nil
	}
	if id != "" && id != "latest" {
		return nil, "", fmt.Errorf("--at chooses the snapshot: give no snapshot ID with it (SNAPSHOT may be latest or latest:PATH)")
	}
	at, err := parseTime(p.at, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("--at: %w", err)
	}
	var found *snapshot.Snapshot
	for _, sn := range p.filter.f.Select(list) {
		if !sn.Time.After(at) {
			found = sn // the list is oldest first
		}
	}
	if found == nil {
		return nil, "", fmt.Errorf("%w taken at or before %s", snapshot.ErrNotFound, at.Local().Format(time.DateTime))
	}
	a.chosen(found, "the newest at or before "+at.Local().Format(time.DateTime))
	return found, sub, nil
}

func (a *app) chosen(sn *snapshot.Snapshot, why string) {
	if a.json || a.quiet {
		return
	}
	fmt.Fprintf(a.stderr, "using snapshot %s of %s from %s (%s)\n", sn.ID.Short(), sn.Hostname, sn.Time.Local().Format(time.DateTime), why)
}

// pickPath resolves the arguments "[SNAPSHOT[:PATH]] [PATH]" of ls and
// dump: a lone argument is PATH when --at chooses the snapshot. It returns
// the snapshot, the clean absolute path ("/" if none) and whether a path
// was given.
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
	sn, sub, err := a.pick(ctx, r, p, ref)
	if err != nil {
		return nil, "", false, err
	}
	if pth == "" {
		pth = sub
	}
	pth = path.Clean("/" + pth)
	return sn, pth, pth != "/" || strings.Contains(ref, ":"), nil
}
