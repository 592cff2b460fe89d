package snapshot

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Duration
		ok   bool
	}{
		{"1y2m3d4h", Duration{1, 2, 3, 4}, true},
		{"30h", Duration{Hours: 30}, true},
		{"2m", Duration{Months: 2}, true},
		{"1d1d", Duration{Days: 2}, true},
		{"", Duration{}, false},
		{"5", Duration{}, false},
		{"3w", Duration{}, false},
		{"d", Duration{}, false},
	} {
		got, err := ParseDuration(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("ParseDuration(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && c.in != "1d1d" && got.String() != c.in {
			t.Errorf("%+v.String() = %q; want %q", got, got.String(), c.in)
		}
	}
}

// TestPolicyRefusesNegative: restic 0.14 takes --keep-daily -1 as "keep
// none" and removes everything; arca refuses it.
func TestPolicyRefusesNegative(t *testing.T) {
	if err := (Policy{Daily: -1}).Validate(); err == nil {
		t.Error("a negative count was accepted")
	}
	list := []*Snapshot{{Time: time.Now().Add(-time.Hour)}, {Time: time.Now().Add(-2 * time.Hour)}}
	keep, remove, _ := ApplyPolicy(list, Policy{}, time.Now())
	if len(keep) != 2 || len(remove) != 0 {
		t.Errorf("an empty policy keeps %d and removes %d; want all kept", len(keep), len(remove))
	}
}
