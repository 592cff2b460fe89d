package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/tree"
)

// vdir is a directory on the way to the backup paths.
type vdir struct {
	children map[string]*vdir
	target   bool
}

func (a *archiver) walkRoot(paths []string, oldRoot *tree.Tree) *future {
	root := &vdir{children: map[string]*vdir{}}
	for _, p := range paths {
		v := root
		if p != "/" {
			for _, elem := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
				c, ok := v.children[elem]
				if !ok {
					c = &vdir{children: map[string]*vdir{}}
					v.children[elem] = c
				}
				v = c
			}
		}
		v.target = true
	}
	if root.target {
		n, err := a.lstatNode(nil, "/", "/")
		if err != nil {
			a.skip("/", err)
			return doneFuture(tree.Node{})
		}
		var old *tree.Node
		if oldRoot != nil {
			old = &tree.Node{Type: tree.Dir, Subtree: a.opts.Parent.Tree}
		}
		return a.walkDir("/", n, old, oldRoot, n.Device, a.newIgnorer(nil, "/"), false)
	}
	var old *tree.Node
	if oldRoot != nil {
		old = &tree.Node{Type: tree.Dir, Subtree: a.opts.Parent.Tree}
	}
	return a.walkVirtual("/", tree.Node{Name: "/", Type: tree.Dir}, root, old, oldRoot)
}

// walkVirtual stores an intermediate directory holding only the children
// on the way to backup paths.
func (a *archiver) walkVirtual(path string, node tree.Node, v *vdir, old *tree.Node, oldTree *tree.Tree) *future {
	names := make([]string, 0, len(v.children))
	for name := range v.children {
		names = append(names, name)
	}
	sort.Strings(names)
	var children []*future
	for _, name := range names {
		c := v.children[name]
		p := filepath.Join(path, name)
		var oldNode *tree.Node
		if oldTree != nil {
			if n, ok := oldTree.Find(name); ok {
				oldNode = n
			}
		}
		if c.target {
			if f := a.walkEntry(nil, p, name, oldNode, 0, a.ancestorIgnorer(path)); f != nil {
				children = append(children, f)
			}
			continue
		}
		n, err := a.lstatNode(nil, name, p)
		if err != nil {
			a.skip(p, err)
			continue
		}
		if n.Type != tree.Dir {
			a.skip(p, fmt.Errorf("not a directory"))
			continue
		}
		var oldSub *tree.Tree
		if oldNode != nil && oldNode.Type == tree.Dir {
			oldSub = a.loadTree(p, oldNode.Subtree)
		} else {
			oldNode = nil
		}
		children = append(children, a.walkVirtual(p, n, c, oldNode, oldSub))
	}
	return a.finishDir(path, node, old, children, false)
}

func (a *archiver) loadTree(path string, id crypto.ID) *tree.Tree {
	t, err := tree.Load(a.ctx, a.r, id)
	if err != nil {
		a.warn(path, fmt.Errorf("parent snapshot's tree cannot be read, reading all files again: %w", err))
		return nil
	}
	return t
}

// walkEntry stats one entry (relative to dir, when not nil) and starts
// storing it. It returns nil if the entry is skipped. rootDev is the device of the backup path the entry is
// under (0 for a backup path itself); ign holds the .gitignore rules in
// force, if any.
func (a *archiver) walkEntry(dir *dirHandle, path, name string, old *tree.Node, rootDev uint64, ign *ignorer) *future {
	if a.stopped() {
		return nil
	}
	node, err := a.lstatNode(dir, name, path)
	if err != nil {
		a.skip(path, err)
		return nil
	}
	if rootDev == 0 {
		rootDev = node.Device
	}
	d := a.decide(path, &node, rootDev, ign)
	if d == skipEntry {
		a.prog.Excluded.Add(1)
		return nil
	}
	xattrsByReader := false // a regular file's: read from the open file
	if old != nil && old.Type == node.Type && old.ChangeTime == node.ChangeTime && old.Inode == node.Inode {
		// Setting an xattr changes ctime: with ctime unchanged the parent's
		// xattrs are current, and listing them again is a wasted syscall.
		node.Xattrs = old.Xattrs
	} else if node.Type == tree.File {
		xattrsByReader = true
	} else if x, err := readXattrs(path); err != nil {
		a.warn(path, err)
	} else {
		node.Xattrs = x
	}
	switch node.Type {
	case tree.Dir:
		if d == keepNoWalk {
			return a.finishDir(path, node, old, nil, false)
		}
		var oldTree *tree.Tree
		if old != nil && old.Type == tree.Dir {
			oldTree = a.loadTree(path, old.Subtree)
		}
		return a.walkSubdir(path, node, old, oldTree, rootDev, a.newIgnorer(ign, path), d == walkInside)
	case tree.File:
		return a.walkFile(dir, path, node, old, xattrsByReader)
	case tree.Symlink:
		target, err := os.Readlink(path)
		if err != nil {
			a.skip(path, err)
			return nil
		}
		node.LinkTarget = target
	}
	return doneFuture(node) // not counted as a file, as in restic
}

// walkSubdir walks a directory on another goroutine when a walker is
// free, and in this one otherwise: stat calls and the lookups of unchanged
// files then run on every core, while the number of walkers, and so the
// directories listed at once, stays bounded.
func (a *archiver) walkSubdir(path string, node tree.Node, old *tree.Node, oldTree *tree.Tree, rootDev uint64, ign *ignorer, onlyIncluded bool) *future {
	select {
	case a.walkers <- struct{}{}:
	default:
		return a.walkDir(path, node, old, oldTree, rootDev, ign, onlyIncluded)
	}
	fut := newFuture()
	a.walking.Add(1)
	go func() {
		defer close(fut.done)
		inner := a.walkDir(path, node, old, oldTree, rootDev, ign, onlyIncluded)
		<-a.walkers // walked: the tree is stored in the background
		a.walking.Done()
		if inner != nil {
			<-inner.done
			fut.node, fut.ok = inner.node, inner.ok
		}
	}()
	return fut
}

// walkDir stores a directory. onlyIncluded is set for a directory that is
// excluded but may hold re-included entries: it is kept only if one is.
func (a *archiver) walkDir(path string, node tree.Node, old *tree.Node, oldTree *tree.Tree, rootDev uint64, ign *ignorer, onlyIncluded bool) *future {
	dir, err := openDir(path)
	if err != nil {
		a.skip(path, err)
		return nil
	}
	defer dir.release()
	names, err := dir.f.Readdirnames(-1)
	if err != nil {
		a.skip(path, err)
		return nil
	}
	sort.Strings(names)
	children := make([]*future, 0, len(names))
	for _, name := range names {
		var oldNode *tree.Node
		if oldTree != nil {
			if n, ok := oldTree.Find(name); ok {
				oldNode = n
			}
		}
		if c := a.walkEntry(dir, filepath.Join(path, name), name, oldNode, rootDev, ign); c != nil {
			children = append(children, c)
		}
	}
	return a.finishDir(path, node, old, children, onlyIncluded)
}

// finishDir waits for the children in the background, then stores the
// directory's tree. With dropIfEmpty, a directory left with no children is
// skipped.
func (a *archiver) finishDir(path string, node tree.Node, old *tree.Node, children []*future, dropIfEmpty bool) *future {
	fut := newFuture()
	start := time.Now()
	go func() {
		defer close(fut.done)
		t := &tree.Tree{Nodes: make([]tree.Node, 0, len(children))}
		for _, c := range children {
			<-c.done
			if c.ok {
				t.Nodes = append(t.Nodes, c.node)
			}
		}
		if a.stopped() || dropIfEmpty && len(t.Nodes) == 0 {
			return
		}
		comp := <-a.comps
		id, saved, err := tree.Save(a.w, t, comp)
		a.comps <- comp
		if err != nil {
			a.setFatal(fmt.Errorf("backup: %s: %w", path, err))
			return
		}
		if saved.Stored > 0 {
			a.treeBlobs.Add(1)
		}
		it := Item{Path: strings.TrimSuffix(path, "/") + "/", Dir: true, Duration: time.Since(start),
			MetaSize: int64(saved.Size), MetaStored: int64(saved.Stored)}
		switch {
		case old == nil:
			a.dirsNew.Add(1)
			it.Action = ActionNew
		case old.Subtree == id:
			a.dirsUnmodified.Add(1)
			it = Item{Action: ActionUnchanged, Path: it.Path, Dir: true}
		default:
			a.dirsChanged.Add(1)
			it.Action = ActionModified
		}
		a.report(it)
		a.prog.Dirs.Add(1)
		node.Subtree = id
		fut.node, fut.ok = node, true
	}()
	return fut
}

func unchanged(old *tree.Node, n *tree.Node) bool {
	return old != nil && old.Type == tree.File && old.Size == n.Size && old.ModTime == n.ModTime &&
		old.ChangeTime == n.ChangeTime && old.Inode == n.Inode && (len(old.Content) > 0 || old.Size == 0)
}

// walkFile stores a regular file, named in dir, whose node holds its stat
// results; with readXattrs the reader lists its extended attributes.
func (a *archiver) walkFile(dir *dirHandle, path string, node tree.Node, old *tree.Node, readXattrs bool) *future {
	if testHookWalk != nil {
		testHookWalk(path)
	}
	if unchanged(old, &node) && (a.parentVerified || a.haveAll(old.Content)) {
		node.Content = old.Content
		a.filesUnmodified.Add(1)
		a.prog.Files.Add(1)
		a.prog.Bytes.Add(int64(node.Size))
		a.report(Item{Action: ActionUnchanged, Path: path})
		return doneFuture(node)
	}
	action := ActionNew
	if old != nil {
		a.filesChanged.Add(1)
		action = ActionModified
	} else {
		a.filesNew.Add(1)
	}
	if node.Links > 1 {
		key := devIno{node.Device, node.Inode}
		a.linksMu.Lock()
		first, ok := a.links[key]
		if !ok {
			first = newFuture()
			a.links[key] = first
		}
		a.linksMu.Unlock()
		if ok {
			// Another name of a file already being read: share its content.
			fut := newFuture()
			go func() {
				defer close(fut.done)
				<-first.done
				if !first.ok {
					return
				}
				node.Content, node.Size = first.node.Content, first.node.Size
				if readXattrs {
					node.Xattrs = first.node.Xattrs // the same inode's
				}
				fut.node, fut.ok = node, true
				a.prog.Files.Add(1)
				a.report(Item{Action: action, Path: path})
			}()
			return fut
		}
		first.node = node
		a.submit(fileJob{dir: dir, path: path, action: action, fut: first, xattrs: readXattrs})
		return first
	}
	fut := newFuture()
	fut.node = node
	a.submit(fileJob{dir: dir, path: path, action: action, fut: fut, xattrs: readXattrs})
	return fut
}

// submit hands a file to a reader, which holds its directory until it has
// opened the file.
func (a *archiver) submit(job fileJob) {
	job.dir.hold()
	select {
	case a.jobs <- job:
	case <-a.ctx.Done():
		job.dir.release()
		close(job.fut.done)
	}
}

func (a *archiver) haveAll(ids []crypto.ID) bool {
	if testHookHaveAll != nil {
		testHookHaveAll()
	}
	for _, id := range ids {
		ok, err := a.w.Has(pack.DataBlob, id)
		if err != nil || !ok {
			return false
		}
	}
	return true
}
