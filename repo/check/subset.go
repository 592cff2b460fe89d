package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/arcabackup/arca/crypto"
)

// Subset selects the packs --read-data reads: the N-th of T groups (by
// the pack ID's first byte modulo T), a random Percent of the packs, or
// random packs up to Size bytes. The zero Subset selects all.
type Subset struct {
	N, T    int
	Percent float64
	Size    int64
}

// ParseSubset reads "N/T" or "P%"; anything else is handed to parseSize
// as a size ("500M").
func ParseSubset(s string, parseSize func(string) (int64, error)) (Subset, error) {
	switch {
	case strings.Contains(s, "/"):
		ns, ts, _ := strings.Cut(s, "/")
		n, err1 := strconv.Atoi(ns)
		t, err2 := strconv.Atoi(ts)
		if err1 != nil || err2 != nil || t < 1 || n < 1 || n > t {
			return Subset{}, fmt.Errorf("check: subset %q: want N/T with 1 <= N <= T", s)
		}
		return Subset{N: n, T: t}, nil
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return Subset{}, fmt.Errorf("check: subset %q: want a percentage above 0 and up to 100", s)
		}
		return Subset{Percent: p}, nil
	}
	size, err := parseSize(s)
	if err != nil || size <= 0 {
		return Subset{}, fmt.Errorf("check: subset %q: want N/T, P%% or a size like 500M", s)
	}
	return Subset{Size: size}, nil
}

// pick returns the packs s selects among packs (ID -> size), sorted by ID
// before any random choice.
func (s Subset) pick(packs map[crypto.ID]int64) []crypto.ID {
	ids := make([]crypto.ID, 0, len(packs))
	for id := range packs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b crypto.ID) int { return strings.Compare(a.String(), b.String()) })
	switch {
	case s.T > 0:
		return slices.DeleteFunc(ids, func(id crypto.ID) bool { return int(id[0])%s.T != s.N-1 })
	case s.Percent > 0:
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		return ids[:min(len(ids), int(float64(len(ids))*s.Percent/100+0.999999))]
	case s.Size > 0:
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		var total int64
		for i, id := range ids {
			if total >= s.Size {
				return ids[:i]
			}
			total += packs[id]
		}
	}
	return ids
}
