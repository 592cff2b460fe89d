package snapshot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is a span of calendar time: years, months, days and hours, as
// restic writes it ("1y2m3d4h").
type Duration struct {
	Years, Months, Days, Hours int
}

// ParseDuration reads "1y2m3d4h": numbers each followed by y, m, d or h,
// in any combination.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	if s == "" {
		return d, fmt.Errorf("snapshot: empty duration")
	}
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return d, fmt.Errorf("snapshot: duration %q: want numbers followed by y, m, d or h (e.g. 1y2m3d4h)", s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return d, fmt.Errorf("snapshot: duration %q: %w", s, err)
		}
		switch rest[i] {
		case 'y':
			d.Years += n
		case 'm':
			d.Months += n
		case 'd':
			d.Days += n
		case 'h':
			d.Hours += n
		default:
			return d, fmt.Errorf("snapshot: duration %q: unknown unit %q (want y, m, d or h)", s, rest[i])
		}
		rest = rest[i+1:]
	}
	return d, nil
}

func (d Duration) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if p.n != 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.unit)
		}
	}
	return b.String()
}

// Zero reports whether d is no time at all.
func (d Duration) Zero() bool { return d == Duration{} }

// before returns t moved back by d.
func (d Duration) before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}

// Policy says which snapshots forget keeps; its semantics are restic's
// (0.14): snapshots are considered newest first, each "last N" rule keeps
// the newest snapshot of each of its N most recent periods (hour, day,
// ISO week, month, year, or each snapshot for Last), the within rules keep
// what is newer than a duration before the newest snapshot that is not in
// the future, and tags keep every snapshot that has all the tags of one of
// their lists.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly                                 int
	Within, WithinHourly, WithinDaily, WithinWeekly, WithinMonthly, WithinYearly Duration
	Tags                                                                         [][]string
}

// Empty reports whether the policy keeps nothing by any rule: forget then
// removes nothing.
func (p Policy) Empty() bool {
	counts := p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 && p.Yearly == 0
	within := p.Within.Zero() && p.WithinHourly.Zero() && p.WithinDaily.Zero() && p.WithinWeekly.Zero() &&
		p.WithinMonthly.Zero() && p.WithinYearly.Zero()
	return counts && within && len(p.Tags) == 0
}

// Validate refuses negative counts (restic 0.14 takes -1 as "keep none of
// this rule" and removes snapshots silently).
func (p Policy) Validate() error {
	for _, c := range []struct {
		name string
		n    int
	}{{"last", p.Last}, {"hourly", p.Hourly}, {"daily", p.Daily}, {"weekly", p.Weekly}, {"monthly", p.Monthly}, {"yearly", p.Yearly}} {
		if c.n < 0 {
			return fmt.Errorf("snapshot: --keep-%s %d: give a number of snapshots, 0 or more", c.name, c.n)
		}
	}
	return nil
}

func (p Policy) String() string {
	var keeps, within []string
	for _, c := range []struct {
		n     int
		descr string
	}{{p.Last, "latest"}, {p.Hourly, "hourly"}, {p.Daily, "daily"}, {p.Weekly, "weekly"}, {p.Monthly, "monthly"}, {p.Yearly, "yearly"}} {
		if c.n > 0 {
			keeps = append(keeps, fmt.Sprintf("%d %s", c.n, c.descr))
		}
	}
	for _, c := range []struct {
		d     Duration
		descr string
	}{{p.WithinHourly, "hourly"}, {p.WithinDaily, "daily"}, {p.WithinWeekly, "weekly"}, {p.WithinMonthly, "monthly"}, {p.WithinYearly, "yearly"}} {
		if !c.d.Zero() {
			within = append(within, fmt.Sprintf("%s snapshots within %s", c.descr, c.d))
		}
	}
	var s string
	if len(keeps) > 0 {
		s = strings.Join(keeps, ", ") + " snapshots"
	}
	if len(within) > 0 {
		if s != "" {
			s += ", "
		}
		s += strings.Join(within, ", ")
	}
	if len(p.Tags) > 0 {
		if s != "" {
			s += " and "
		}
		s += fmt.Sprintf("all snapshots with tags %v", p.Tags)
	}
	if !p.Within.Zero() {
		if s != "" {
			s += " and "
		}
		s += fmt.Sprintf("all snapshots within %s of the newest", p.Within)
	}
	return "keep " + s
}

// Counters are the counts of each "last N" rule left after a snapshot.
type Counters struct {
	Last    int `json:"last,omitempty"`
	Hourly  int `json:"hourly,omitempty"`
	Daily   int `json:"daily,omitempty"`
	Weekly  int `json:"weekly,omitempty"`
	Monthly int `json:"monthly,omitempty"`
	Yearly  int `json:"yearly,omitempty"`
}

// KeepReason says why a snapshot is kept: restic's matches ("daily
// snapshot", "within 1y", "has tags [a b]", ...) and counters.
type KeepReason struct {
	Snapshot *Snapshot
	Matches  []string
	Counters Counters
}

func period(kind string, t time.Time, nr int) int {
	switch kind {
	case "hourly":
		return t.Year()*1000000 + int(t.Month())*10000 + t.Day()*100 + t.Hour()
	case "daily":
		return t.Year()*10000 + int(t.Month())*100 + t.Day()
	case "weekly":
		y, w := t.ISOWeek()
		return y*100 + w
	case "monthly":
		return t.Year()*100 + int(t.Month())
	case "yearly":
		return t.Year()
	}
	return nr // "last": every snapshot is its own period
}

// ApplyPolicy splits list into the snapshots p keeps (with the reasons,
// in the same order) and those it removes, both newest first. now bounds
// the newest snapshot the within rules count from (later ones are in the
// future). An empty policy keeps everything.
func ApplyPolicy(list []*Snapshot, p Policy, now time.Time) (keep, remove []*Snapshot, reasons []KeepReason) {
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b *Snapshot) int { return b.Time.Compare(a.Time) })
	if p.Empty() {
		for _, sn := range list {
			reasons = append(reasons, KeepReason{Snapshot: sn, Matches: []string{"policy is empty"}})
		}
		return list, nil, reasons
	}
	if len(list) == 0 {
		return nil, nil, nil
	}
	type bucket struct {
		kind   string
		count  int
		last   int
		reason string
	}
	buckets := []*bucket{{"last", p.Last, -1, "last snapshot"}, {"hourly", p.Hourly, -1, "hourly snapshot"},
		{"daily", p.Daily, -1, "daily snapshot"}, {"weekly", p.Weekly, -1, "weekly snapshot"},
		{"monthly", p.Monthly, -1, "monthly snapshot"}, {"yearly", p.Yearly, -1, "yearly snapshot"}}
	type withinBucket struct {
		kind   string
		within Duration
		last   int
	}
	withins := []*withinBucket{{"hourly", p.WithinHourly, -1}, {"daily", p.WithinDaily, -1},
		{"weekly", p.WithinWeekly, -1}, {"monthly", p.WithinMonthly, -1}, {"yearly", p.WithinYearly, -1}}
	var latest time.Time // the newest snapshot that is not in the future
	for _, sn := range list {
		if sn.Time.After(latest) && sn.Time.Before(now) {
			latest = sn.Time
		}
	}
	for nr, sn := range list {
		var matches []string
		for _, tags := range p.Tags {
			if hasTags(sn, tags) {
				matches = append(matches, fmt.Sprintf("has tags %v", tags))
			}
		}
		if !p.Within.Zero() && sn.Time.After(p.Within.before(latest)) {
			matches = append(matches, fmt.Sprintf("within %s", p.Within))
		}
		for _, b := range buckets {
			if b.count <= 0 {
				continue
			}
			if v := period(b.kind, sn.Time, nr); v != b.last {
				b.last = v
				b.count--
				matches = append(matches, b.reason)
			}
		}
		for _, w := range withins {
			if w.within.Zero() || !sn.Time.After(w.within.before(latest)) {
				continue
			}
			if v := period(w.kind, sn.Time, nr); v != w.last {
				w.last = v
				matches = append(matches, fmt.Sprintf("%s within %s", w.kind, w.within))
			}
		}
		if len(matches) == 0 {
			remove = append(remove, sn)
			continue
		}
		keep = append(keep, sn)
		reasons = append(reasons, KeepReason{Snapshot: sn, Matches: matches, Counters: Counters{
			Last: buckets[0].count, Hourly: buckets[1].count, Daily: buckets[2].count,
			Weekly: buckets[3].count, Monthly: buckets[4].count, Yearly: buckets[5].count}})
	}
	return keep, remove, reasons
}

// hasTags reports whether sn has every tag of tags.
func hasTags(sn *Snapshot, tags []string) bool {
	for _, t := range tags {
		if !slices.Contains(sn.Tags, t) {
			return false
		}
	}
	return true
}
