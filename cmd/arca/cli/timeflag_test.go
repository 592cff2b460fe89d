package cli

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.Local)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-17 13:00", time.Date(2026, 11, 17, 13, 0, 0, 0, time.Local)},
		{"2026-11-17 13:00:30", time.Date(2026, 11, 17, 13, 0, 30, 0, time.Local)},
		{"2026-11-17T13:00", time.Date(2026, 11, 17, 13, 0, 0, 0, time.Local)},
		{"2026-11-17", time.Date(2026, 11, 17, 0, 0, 0, 0, time.Local)},
		{"2026-11-17T13:00:00Z", time.Date(2026, 11, 17, 13, 0, 0, 0, time.UTC)},
		{"2026-11-17T13:00:00+02:00", time.Date(2026, 11, 17, 11, 0, 0, 0, time.UTC)},
		{"3d", now.Add(-72 * time.Hour)},
		{"36h", now.Add(-36 * time.Hour)},
		{"1w", now.Add(-7 * 24 * time.Hour)},
		{"1d12h30m", now.Add(-(36*time.Hour + 30*time.Minute))},
	} {
		got, err := parseTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "3", "3y", "2026-13-01", "d3"} {
		if _, err := parseTime(bad, now); err == nil {
			t.Errorf("parseTime(%q) succeeded", bad)
		}
	}
}
