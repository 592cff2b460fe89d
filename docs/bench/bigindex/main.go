// Command bigindex builds a repository whose index lists many blobs
// (default 10 million) and measures index lookups in it
// (docs/bench/README.md, `make bigindex`):
//
//	bigindex [-blobs N] [-dir DIR] [-password P]
//
// The index files are real, written through the repository, 50,000 blobs
// each (a write session's checkpoint) in packs of 1,000 blobs; the packs are
// sparse files of the indexed sizes, so the repository is consistent as far
// as listing and sizes go. It then times random lookups of present and
// absent blobs in the opened repository's cache and prints them with the
// process's peak RSS. The repository stays in DIR (password P) for a backup
// to be measured with it, e.g. by /usr/bin/time.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
)

func main() {
	blobs := flag.Int("blobs", 10_000_000, "blobs in the index")
	dir := flag.String("dir", "", "directory for the repository (repo) and its cache (cache); must not hold them")
	password := flag.String("password", "bigindex", "the repository's password")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: bigindex -dir DIR [-blobs N]")
		os.Exit(2)
	}
	if err := run(*dir, *blobs, []byte(*password)); err != nil {
		fmt.Fprintln(os.Stderr, "bigindex:", err)
		os.Exit(1)
	}
}

func run(dir string, blobs int, password []byte) error {
	ctx := context.Background()
	root := filepath.Join(dir, "repo")
	be, _, err := repo.CreateBackend(ctx, root, repo.BackendOptions{})
	if err != nil {
		return err
	}
	if _, err := repo.Init(ctx, be, password, repo.InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		return err
	}
	r, err := repo.Open(ctx, be, password, repo.OpenOptions{CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		return err
	}
	defer r.Close()

	const perPack, perFile = 1000, 50_000
	rng := rand.New(rand.NewPCG(1, 2))
	var sample []crypto.ID // every 1000th blob, for lookups
	start := time.Now()
	for done := 0; done < blobs; {
		f := &repo.IndexFile{}
		for n := 0; n < perFile && done < blobs; {
			p := repo.IndexPack{ID: randomID(rng)}
			off := uint32(0)
			for j := 0; j < perPack && done < blobs; j++ {
				e := pack.Entry{Type: pack.DataBlob, ID: randomID(rng), Offset: off, Length: 4096 + crypto.Overhead, RawLength: 8192, Flags: pack.FlagZstd}
				off += e.Length
				p.Entries = append(p.Entries, e)
				if done%1000 == 0 {
					sample = append(sample, e.ID)
				}
				done++
				n++
			}
			p.Size = int64(off) + 1024
			if err := sparsePack(root, p); err != nil {
				return err
			}
			f.Packs = append(f.Packs, p)
		}
		if _, err := r.SaveIndex(ctx, f); err != nil {
			return err
		}
	}
	fmt.Printf("%d blobs indexed in %.1f s\n", blobs, time.Since(start).Seconds())

	const lookups = 200_000
	for _, present := range []bool{true, false} {
		t := time.Now()
		for i := range lookups {
			id := sample[rng.IntN(len(sample))]
			if !present {
				id = randomID(rng)
			}
			_, ok, err := r.Lookup(pack.DataBlob, id)
			if err != nil {
				return err
			}
			if ok != present {
				return fmt.Errorf("lookup %d of %s: found %v", i, id.Short(), ok)
			}
		}
		fmt.Printf("lookup (present %v): %.2f us\n", present, float64(time.Since(t).Microseconds())/lookups)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		fmt.Printf("peak RSS of this process: %d MB\n", ru.Maxrss/1024)
	}
	return nil
}

func randomID(rng *rand.Rand) crypto.ID {
	var id crypto.ID
	for i := 0; i < len(id); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return id
}

// sparsePack creates pack p's file as a sparse file of its size.
func sparsePack(root string, p repo.IndexPack) error {
	name := p.ID.String()
	path := filepath.Join(root, "data", name[:2], name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(p.Size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
