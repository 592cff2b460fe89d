package restore_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/restore"
)

func TestJournalParse(t *testing.T) {
	entries := []restore.JournalEntry{
		{Dir: "", Name: "file", Temp: ".arca-restore-0123456789abcdef"},
		{Dir: "a/b c", Name: "bad-\xff\"name\n", Temp: ".arca-restore-ffffffffffffffff"},
	}
	b := []byte(restore.JournalHeader)
	for _, e := range entries {
		b = restore.AppendJournalEntry(b, e)
	}
	got, err := restore.ParseJournal(b)
	if err != nil || !reflect.DeepEqual(got, entries) {
		t.Fatalf("round trip: %q, %v; want %q", got, err, entries)
	}
	// A last line cut short by a kill is dropped silently.
	got, err = restore.ParseJournal(append(b, `"x" "y" .arca-restore-01`...))
	if err != nil || len(got) != 2 {
		t.Errorf("cut line: %d entries, %v; want 2, nil", len(got), err)
	}
	for _, bad := range []string{
		`"" "../x" .arca-restore-0123456789abcdef`,
		`"../up" "x" .arca-restore-0123456789abcdef`,
		`"/abs" "x" .arca-restore-0123456789abcdef`,
		`"" "a/b" .arca-restore-0123456789abcdef`,
		`"" "x" ../../etc/passwd`,
		`"" "x" .arca-restore-0123456789ABCDEF`,
		`"" "x"`,
		`x y z`,
	} {
		got, err := restore.ParseJournal(append(append([]byte(nil), b...), bad+"\n"...))
		if err == nil || len(got) != 2 {
			t.Errorf("%s: %d entries, %v; want the 2 before it and an error", bad, len(got), err)
		}
	}
	if _, err := restore.ParseJournal([]byte("something else\n")); err == nil {
		t.Error("a file without the header was accepted")
	}
}

// FuzzParseJournal: whatever a journal holds, parsing never panics, every
// entry it returns names a temporary entry directly inside a directory
// beneath the target, and encoding the entries parses back to them.
func FuzzParseJournal(f *testing.F) {
	seed := []byte(restore.JournalHeader)
	seed = restore.AppendJournalEntry(seed, restore.JournalEntry{Dir: "a/b", Name: "c", Temp: ".arca-restore-0123456789abcdef"})
	f.Add(seed)
	f.Add([]byte(restore.JournalHeader + `"" "x" .arca-restore-0123456789abcdef` + "\n" + `"" "../y" .arca-restore-0123456789abcdef` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _ := restore.ParseJournal(b)
		enc := []byte(restore.JournalHeader)
		for _, e := range entries {
			elems := []string{e.Name, e.Temp}
			if e.Dir != "" {
				elems = append(elems, strings.Split(e.Dir, "/")...)
			}
			for _, elem := range elems {
				if elem == "" || elem == "." || elem == ".." || strings.ContainsAny(elem, "/\x00") {
					t.Fatalf("entry %q does not stay beneath the target", e)
				}
			}
			if !strings.HasPrefix(e.Temp, ".arca-restore-") {
				t.Fatalf("entry %q names something other than a temporary entry", e)
			}
			enc = restore.AppendJournalEntry(enc, e)
		}
		again, err := restore.ParseJournal(enc)
		if err != nil || len(again) != len(entries) || (len(entries) > 0 && !reflect.DeepEqual(again, entries)) {
			t.Fatalf("re-encoded journal parses to %q, %v; want %q", again, err, entries)
		}
	})
}
