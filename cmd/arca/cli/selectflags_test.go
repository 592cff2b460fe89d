package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseSize(t *testing.T) {
	cases := map[string]int64{"0": 0, "1234": 1234, "500K": 500 << 10, "1.5M": 3 << 19, "2g": 2 << 30, "1TiB": 1 << 40, "10MB": 10 << 20}
	for in, want := range cases {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1Q"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
}

func TestFilesFrom(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.txt", "b.txt", "c.dat"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	list := filepath.Join(dir, "list")
	os.WriteFile(list, []byte("# comment\n\n  "+dir+"/*.txt  \n"+dir+"/c.dat\n"), 0o644)
	verb := filepath.Join(dir, "verbatim")
	os.WriteFile(verb, []byte(dir+"/ spaced name \n#not a comment\n"), 0o644)
	raw := filepath.Join(dir, "raw")
	os.WriteFile(raw, []byte(dir+"/new\nline\x00"+dir+"/z\x00"), 0o644)
	s := selectFlags{filesFrom: []string{list}, verbatim: []string{verb}, rawish: []string{raw}}
	got, err := s.paths([]string{"arg"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"arg", dir + "/a.txt", dir + "/b.txt", dir + "/c.dat", dir + "/ spaced name ", "#not a comment", dir + "/new\nline", dir + "/z"}
	if len(got) != len(want) {
		t.Fatalf("paths = %q\nwant %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("path %d = %q; want %q", i, got[i], want[i])
		}
	}
	if _, err := (&selectFlags{}).paths(nil); err == nil {
		t.Error("no paths accepted")
	}
}
