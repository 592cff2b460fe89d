// Command bound measures how fast backup and restore could be on this
// machine, stage by stage, and how close arca comes (docs/bench/README.md,
// `make bound`):
//
//	bound [-arca BIN] [-work DIR] [-compression auto|max|off] DATA...
//
// Each stage runs alone, on one goroutine, over all of DATA (after a pass
// that warms the page cache, the shorter of two passes): reading files
// from the page cache, chunking, hashing, compressing, sealing and writing
// the sealed bytes (backup); reading them back, checking them as packs,
// opening the sealed blobs, decompressing, verifying their IDs and writing
// files (restore). Blobs under repo.GroupBlobMax are compressed and sealed
// in groups, as arca stores them. A perfect pipeline on
// all cores spends at least the sum of the stages divided by the cores, and
// at least the longest stretch that cannot be split: one file's reading and
// chunking. bound prints that time next to arca's backup and restore of
// the same data into a repository under -work, and their ratio.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
)

type stages struct {
	names []string
	dur   map[string]time.Duration
}

func newStages(names ...string) *stages {
	return &stages{names: names, dur: map[string]time.Duration{}}
}

// time runs f and adds its duration to stage name.
func (s *stages) time(name string, f func()) {
	t := time.Now()
	f()
	s.dur[name] += time.Since(t)
}

// keepMin keeps the shorter time of each stage.
func (s *stages) keepMin(o *stages) {
	for _, n := range s.names {
		s.dur[n] = min(s.dur[n], o.dur[n])
	}
}

func (s *stages) sum() time.Duration {
	var d time.Duration
	for _, n := range s.names {
		d += s.dur[n]
	}
	return d
}

func main() {
	arca := flag.String("arca", "bin/arca", "the arca binary")
	work := flag.String("work", os.TempDir(), "directory for the repository, restores and written bytes (the disk under test)")
	comp := flag.String("compression", "auto", "compression: auto, max or off")
	flag.Parse()
	if abs, err := filepath.Abs(*arca); err == nil {
		*arca = abs
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: bound [-arca BIN] [-work DIR] [-compression auto|max|off] DATA...")
		os.Exit(2)
	}
	mode, err := pack.ParseCompression(*comp)
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp(*work, "arca-bound-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	cores := runtime.GOMAXPROCS(0)
	fmt.Printf("%d cores, compression %s, data: %s\n\n", cores, mode, strings.Join(flag.Args(), " "))
	// A first pass warms the page cache; of two more, each stage's
	// shorter time counts, as this machine's speed wanders.
	if _, _, _, _, err := measure(flag.Args(), dir, mode); err != nil {
		fail(err)
	}
	bk, rs, total, serial, err := measure(flag.Args(), dir, mode)
	if err != nil {
		fail(err)
	}
	bk2, rs2, _, serial2, err := measure(flag.Args(), dir, mode)
	if err != nil {
		fail(err)
	}
	bk.keepMin(bk2)
	rs.keepMin(rs2)
	serial = min(serial, serial2)
	mb := float64(total) / 1e6
	fmt.Printf("%d MB; one core per stage:\n", total/1e6)
	for _, s := range []*stages{bk, rs} {
		for _, n := range s.names {
			fmt.Printf("  %-12s %6.2f s  %7.0f MB/s\n", n, s.dur[n].Seconds(), mb/s.dur[n].Seconds())
		}
		fmt.Println()
	}
	bBound := max(bk.sum()/time.Duration(cores), serial)
	rBound := rs.sum() / time.Duration(cores)
	bWall, rWall, err := runArca(*arca, flag.Args(), dir, mode)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%-8s %9s %9s %9s %8s\n", "", "bound s", "arca s", "arca MB/s", "of bound")
	fmt.Printf("%-8s %9.2f %9.2f %9.0f %7.0f%%\n", "backup", bBound.Seconds(), bWall.Seconds(), mb/bWall.Seconds(), 100*bBound.Seconds()/bWall.Seconds())
	fmt.Printf("%-8s %9.2f %9.2f %9.0f %7.0f%%\n", "restore", rBound.Seconds(), rWall.Seconds(), mb/rWall.Seconds(), 100*rBound.Seconds()/rWall.Seconds())
	fmt.Printf("\narca's times exclude unlocking the key (the summary's duration); the bound's serial stretch (one file's read and chunk) is %.2f s\n", serial.Seconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bound:", err)
	os.Exit(1)
}

// files lists the regular files under the paths.
func files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// measure runs every stage over every file and returns the stage times,
// the bytes, and the longest read and chunk of one file.
func measure(paths []string, dir string, mode pack.Compression) (bk, rs *stages, total int64, serial time.Duration, err error) {
	list, err := files(paths)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	key, err := crypto.NewRandomKey()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	sealer, err := key.NewSealer()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	out, err := os.Create(filepath.Join(dir, "sealed"))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer out.Close()
	// Restored files are created anew, as a restore into an empty
	// directory does; they are removed after the pass, untimed.
	files, err := os.MkdirTemp(dir, "files-")
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer os.RemoveAll(files)
	bk = newStages("read", "chunk", "hash", "compress", "seal", "write")
	rs = newStages("read packs", "check packs", "open", "decompress", "verify", "write files")
	h := key.NewIDHasher()
	comp := pack.NewCompressor(mode)
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	ch := chunker.NewWithBoundaries(nil, pol, repo.DefaultChunkMin, repo.DefaultChunkMax)
	data := bufs.data
	p := &pipe{bk: bk, rs: rs, key: key, sealer: sealer, h: h, comp: comp, dec: dec, out: out,
		opened: bufs.plain, decoded: bufs.decoded}
	defer func() { bufs.data, bufs.plain, bufs.decoded = data, p.opened, p.decoded }()
	var chunks [][2]int
	for i, path := range list {
		var rerr error
		start := time.Now()
		bk.time("read", func() { data, rerr = readAll(path, data[:0]) })
		if rerr != nil {
			return nil, nil, 0, 0, rerr
		}
		total += int64(len(data))
		chunks = chunks[:0]
		bk.time("chunk", func() { chunks = cut(ch, pol, data, chunks) })
		serial = max(serial, time.Since(start))
		f, err := os.Create(filepath.Join(files, fmt.Sprintf("%d", i)))
		if err != nil {
			return nil, nil, 0, 0, err
		}
		target := &target{f: f}
		for _, c := range chunks {
			blob := data[c[0]:c[1]]
			var id crypto.ID
			bk.time("hash", func() { id = h.Sum(blob) })
			if err := p.blob(id, blob, target, int64(c[0])); err != nil {
				return nil, nil, 0, 0, err
			}
		}
		target.done = true
		if target.pending == 0 {
			if err := target.finish(rs); err != nil {
				return nil, nil, 0, 0, err
			}
		}
	}
	if err := p.flush(); err != nil {
		return nil, nil, 0, 0, err
	}
	bk.time("write", func() { err = out.Sync() })
	if err != nil {
		return nil, nil, 0, 0, err
	}
	// Restore reads packs in pieces of up to 4 MiB and checks a pack read
	// whole against its name.
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, nil, 0, 0, err
	}
	if cap(bufs.pack) < 4<<20 {
		bufs.pack = make([]byte, 4<<20)
	}
	fh := crypto.NewFileHasher()
	for {
		var n int
		rs.time("read packs", func() { n, err = io.ReadFull(out, bufs.pack) })
		rs.time("check packs", func() { fh.Write(bufs.pack[:n]) })
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return bk, rs, total, serial, nil
		} else if err != nil {
			return nil, nil, 0, 0, err
		}
	}
}

// bufs are reused from pass to pass, so that no stage pays for first
// touching fresh memory (page faults), which arca's reused buffers do not.
var bufs struct{ data, plain, decoded, pack []byte }

// readAll reads path into buf, as a backup reader does.
func readAll(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && int64(cap(buf)) < fi.Size()+1 {
		buf = make([]byte, 0, fi.Size()+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		} else if err != nil {
			return nil, err
		}
	}
}

// cut appends the chunk boundaries of data: files under the minimum chunk
// size are one chunk, as in a backup.
func cut(ch *chunker.Chunker, pol chunker.Pol, data []byte, out [][2]int) [][2]int {
	if len(data) < repo.DefaultChunkMin {
		if len(data) == 0 {
			return out
		}
		return append(out, [2]int{0, len(data)})
	}
	ch.ResetWithBoundaries(bytes.NewReader(data), pol, repo.DefaultChunkMin, repo.DefaultChunkMax)
	ch.SetAverageBits(repo.DefaultChunkAvgBits)
	off := 0
	var buf []byte
	for {
		c, err := ch.Next(buf[:0])
		if err != nil {
			return out
		}
		buf = c.Data
		out = append(out, [2]int{off, off + int(c.Length)})
		off += int(c.Length)
	}
}

// runArca backs up paths into a fresh repository under dir and restores
// it, returning the durations arca's JSON summaries report.
func runArca(bin string, paths []string, dir string, mode pack.Compression) (backup, restore time.Duration, err error) {
	env := append(os.Environ(), "ARCA_PASSWORD=bound")
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stderr = os.Stderr
		return cmd.Output()
	}
	r := filepath.Join(dir, "repo")
	base := []string{"-r", r, "--cache-dir", filepath.Join(dir, "cache")}
	if _, err := run(append(base, "init", "-q")...); err != nil {
		return 0, 0, fmt.Errorf("arca init: %w", err)
	}
	runtime.GC()
	syncDisk()
	out, err := run(append(append(base, "--json", "backup", "--compression", string(mode)), paths...)...)
	if err != nil {
		return 0, 0, fmt.Errorf("arca backup: %w", err)
	}
	if backup, err = summaryDuration(out, "total_duration"); err != nil {
		return 0, 0, err
	}
	syncDisk()
	out, err = run(append(base, "--json", "restore", "latest", "--target", filepath.Join(dir, "restore"))...)
	if err != nil {
		return 0, 0, fmt.Errorf("arca restore: %w", err)
	}
	restore, err = summaryDuration(out, "total_duration")
	return backup, restore, err
}

func syncDisk() { _ = exec.Command("sync").Run() }

// summaryDuration returns a duration in seconds from the last JSON line of
// a command's output (its summary).
func summaryDuration(out []byte, field string) (time.Duration, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		return 0, fmt.Errorf("arca summary: %w", err)
	}
	s, ok := m[field].(float64)
	if !ok {
		return 0, fmt.Errorf("arca summary has no %s", field)
	}
	return time.Duration(s * float64(time.Second)), nil
}
