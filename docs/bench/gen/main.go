// Command gen writes the benchmark datasets of docs/bench/README.md,
// deterministically (the same bytes on every machine):
//
//	gen image FILE [-edit]   2 GiB mixed image: random, text, records, zeros;
//	                         -edit: 1 KiB inserted, 10 MiB overwritten, 50 MiB appended
//	gen sql FILE [-day]      ~500 MB SQL dump of a shop; -day: one more day of orders and updates
//	gen small DIR [-change]  300,000 files of 64 B-8 KiB, a quarter duplicates;
//	                         -change: 1% of them rewritten, 1% new
//
// Sizes scale with -scale (1 = the sizes above), for quick runs.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	kind, out := os.Args[1], os.Args[2]
	fs := flag.NewFlagSet(kind, flag.ExitOnError)
	scale := fs.Float64("scale", 1, "size factor")
	var err error
	switch kind {
	case "image":
		edit := fs.Bool("edit", false, "write the edited version")
		_ = fs.Parse(os.Args[3:])
		err = writeImage(out, int64(float64(2<<30)**scale), *edit)
	case "sql":
		day := fs.Bool("day", false, "one more day of changes")
		_ = fs.Parse(os.Args[3:])
		err = writeSQL(out, *scale, *day)
	case "small":
		change := fs.Bool("change", false, "change 1% and add 1%")
		_ = fs.Parse(os.Args[3:])
		err = writeSmall(out, int(300_000**scale), *change)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gen image|sql|small PATH [-edit|-day|-change] [-scale F]")
	os.Exit(2)
}
