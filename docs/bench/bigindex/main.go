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
	"runtime/pprof"
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
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the lookups to this file")
	reuse := flag.Bool("reuse", false, "measure the repository an earlier run left in DIR instead of writing one")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: bigindex -dir DIR [-blobs N]")
		os.Exit(2)
	}
	if err := run(*dir, *blobs, []byte(*password), *reuse, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "bigindex:", err)
		os.Exit(1)
	}
}

func run(dir string, blobs int, password []byte, reuse bool, cpuProfile string) error {
	ctx := context.Background()
	root := filepath.Join(dir, "repo")
	samplePath := filepath.Join(dir, "sample")
	var sample []crypto.ID
	if reuse {
		b, err := os.ReadFile(samplePath)
		if err != nil {
			return err
		}
		for ; len(b) >= crypto.IDSize; b = b[crypto.IDSize:] {
			sample = append(sample, crypto.ID(b[:crypto.IDSize]))
		}
	} else {
		var err error
		if sample, err = generate(ctx, root, blobs, password, rand.New(rand.NewPCG(1, 2))); err != nil {
			return err
		}
		var b []byte
		for _, id := range sample {
			b = append(b, id[:]...)
		}
		if err := os.WriteFile(samplePath, b, 0o600); err != nil {
			return err
		}
	}
	start := time.Now()
	be, err := repo.OpenBackend(ctx, root, repo.BackendOptions{})
	if err != nil {
		return err
	}
	r, err := repo.Open(ctx, be, password, repo.OpenOptions{CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Printf("opened in %.2f s\n", time.Since(start).Seconds())
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return lookups(r, sample, rand.New(rand.NewPCG(3, 4))) // not the generator's IDs
}

// generate writes the repository and returns every 1000th blob ID.
func generate(ctx context.Context, root string, blobs int, password []byte, rng *rand.Rand) ([]crypto.ID, error) {
	be, _, err := repo.CreateBackend(ctx, root, repo.BackendOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := repo.Init(ctx, be, password, repo.InitOptions{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}); err != nil {
		return nil, err
	}
	r, err := repo.Open(ctx, be, password, repo.OpenOptions{CacheDir: filepath.Join(filepath.Dir(root), "cache")})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	const perPack, perFile = 1000, 50_000
	var sample []crypto.ID
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
				return nil, err
			}
			f.Packs = append(f.Packs, p)
		}
		if _, err := r.SaveIndex(ctx, f); err != nil {
			return nil, err
		}
	}
	fmt.Printf("%d blobs indexed in %.1f s\n", blobs, time.Since(start).Seconds())
	return sample, nil
}

// lookups times random lookups of present and absent blobs and prints
// them with the process's peak RSS.
func lookups(r *repo.Repository, sample []crypto.ID, rng *rand.Rand) error {
	const n = 200_000
	for _, present := range []bool{true, false} {
		t := time.Now()
		for i := range n {
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
		fmt.Printf("lookup (present %v): %.2f us\n", present, float64(time.Since(t).Microseconds())/n)
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
