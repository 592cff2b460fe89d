// Package mount serves a repository's snapshots as a read-only FUSE file
// system (github.com/hanwen/go-fuse/v2):
//
//	snapshots/<time>/...        every snapshot, by time; snapshots/latest
//	hosts/<host>/<time>/...     by host
//	tags/<tag>/<time>/...       by tag
//	ids/<short id>/...          by ID
//
// Trees are loaded when a directory is first looked at, and file content
// is read from the repository on demand, a blob at a time.
package mount

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configure a mount.
type Options struct {
	// AllowOther lets other users than the one mounting see the files
	// (needs user_allow_other in /etc/fuse.conf when not root).
	AllowOther bool
	// Debug logs every FUSE request.
	Debug bool
}

// TimeFormat names snapshot directories.
const TimeFormat = "2006-01-02T15:04:05Z07:00"

// Mount serves snapshots (oldest first) of r at dir. The caller waits on
// the server and unmounts it.
func Mount(r *repo.Repository, snapshots []*snapshot.Snapshot, dir string, opts Options) (*fuse.Server, error) {
	root := &staticDir{mtime: time.Now()}
	root.build = func(ctx context.Context, d *staticDir) { buildRoot(ctx, r, snapshots, d) }
	timeout := time.Hour // nothing in a snapshot changes
	server, err := fs.Mount(dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			// Snapshots may hold setuid programs and device nodes of any
			// machine: they are shown, never honoured (nosuid, nodev), and
			// the kernel checks every access against the stored owner and
			// mode (default_permissions).
			FsName: "arca", Name: "arca", Options: []string{"ro", "nosuid", "nodev", "default_permissions"},
			AllowOther: opts.AllowOther, Debug: opts.Debug, DirectMount: true, MaxReadAhead: 1 << 20,
		},
		EntryTimeout: &timeout, AttrTimeout: &timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return server, nil
}

// staticDir is a directory whose children are made when it is added.
type staticDir struct {
	fs.Inode
	mtime time.Time
	build func(ctx context.Context, d *staticDir)
}

var _ = (fs.NodeOnAdder)((*staticDir)(nil))
var _ = (fs.NodeGetattrer)((*staticDir)(nil))

func (d *staticDir) OnAdd(ctx context.Context) {
	if d.build != nil {
		d.build(ctx, d)
	}
}

func (d *staticDir) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFDIR | 0o555
	out.SetTimes(nil, &d.mtime, &d.mtime)
	return 0
}

func (d *staticDir) addDir(ctx context.Context, name string, mtime time.Time, build func(context.Context, *staticDir)) {
	child := &staticDir{mtime: mtime, build: build}
	d.AddChild(name, d.NewPersistentInode(ctx, child, fs.StableAttr{Mode: fuse.S_IFDIR}), false)
}

func (d *staticDir) addSnapshot(ctx context.Context, r *repo.Repository, name string, sn *snapshot.Snapshot) {
	node := &tree.Node{Name: name, Type: tree.Dir, Mode: 0o555, ModTime: sn.Time.UnixNano(), Subtree: sn.Tree}
	d.AddChild(name, d.NewPersistentInode(ctx, &treeDir{entry: entry{r: r, node: node}}, fs.StableAttr{Mode: fuse.S_IFDIR}), false)
}

func (d *staticDir) addLink(ctx context.Context, name, target string) {
	l := &fs.MemSymlink{Data: []byte(target)}
	l.Attr.Mtime = uint64(d.mtime.Unix())
	d.AddChild(name, d.NewPersistentInode(ctx, l, fs.StableAttr{Mode: fuse.S_IFLNK}), false)
}

// names gives each snapshot of a list a unique name from its time.
func names(list []*snapshot.Snapshot) []string {
	out := make([]string, len(list))
	seen := map[string]int{}
	for i, sn := range list {
		name := sn.Time.Local().Format(TimeFormat)
		if k := seen[name]; k > 0 {
			name = fmt.Sprintf("%s-%d", name, k)
		}
		seen[sn.Time.Local().Format(TimeFormat)]++
		out[i] = name
	}
	return out
}

func snapshotDir(r *repo.Repository, list []*snapshot.Snapshot) func(context.Context, *staticDir) {
	return func(ctx context.Context, d *staticDir) {
		ns := names(list)
		for i, sn := range list {
			d.addSnapshot(ctx, r, ns[i], sn)
		}
		if len(list) > 0 {
			d.addLink(ctx, "latest", ns[len(list)-1])
		}
	}
}

func buildRoot(ctx context.Context, r *repo.Repository, list []*snapshot.Snapshot, root *staticDir) {
	now := root.mtime
	root.addDir(ctx, "snapshots", now, snapshotDir(r, list))
	group := func(key func(*snapshot.Snapshot) []string) func(context.Context, *staticDir) {
		return func(ctx context.Context, d *staticDir) {
			by := map[string][]*snapshot.Snapshot{}
			for _, sn := range list {
				for _, k := range key(sn) {
					by[k] = append(by[k], sn)
				}
			}
			keys := make([]string, 0, len(by))
			for k := range by {
				if tree.ValidName(k) && k != "." && k != ".." {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				d.addDir(ctx, k, now, snapshotDir(r, by[k]))
			}
		}
	}
	root.addDir(ctx, "hosts", now, group(func(sn *snapshot.Snapshot) []string { return []string{sn.Hostname} }))
	root.addDir(ctx, "tags", now, group(func(sn *snapshot.Snapshot) []string { return sn.Tags }))
	root.addDir(ctx, "ids", now, func(ctx context.Context, d *staticDir) {
		for _, sn := range list {
			d.addSnapshot(ctx, r, sn.ID.Short(), sn)
		}
	})
}
