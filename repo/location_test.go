package repo_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/count"
	"github.com/arcabackup/arca/repo/backend/local"
)

func TestLocations(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	for _, loc := range []string{dir, "local:" + dir} {
		be, undo, err := repo.CreateBackend(t.Context(), loc, repo.BackendOptions{})
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		undo()
		if _, ok := backend.Ability[*count.Backend](be); !ok {
			t.Errorf("%s: no request counting", loc)
		}
		if _, ok := backend.Ability[*local.Backend](be); !ok {
			t.Errorf("%s: not a local backend", loc)
		}
	}
	for _, c := range []struct {
		loc  string
		opts map[string]string
		want string
	}{
		{"ftp://host/x", nil, `unknown kind of location "ftp"`},
		{"rclone:remote:path", map[string]string{"rest.connections": "2"}, `option "rest.connections" does not apply to a rclone repository`},
		{dir, map[string]string{"s3.region": "x"}, `option "s3.region" does not apply to a local repository (its options: none)`},
		{"s3:h/b", map[string]string{"sftp.command": "x"}, "its options: s3.connections, s3.region, s3.bucket-lookup"},
		{"rest:http://h/", map[string]string{"rest.connections": "0"}, "rest.connections"},
		{"sftp:h:/p", map[string]string{"sftp.command": "'ssh"}, "unterminated"},
	} {
		_, err := repo.OpenBackend(t.Context(), c.loc, repo.BackendOptions{Options: c.opts})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenBackend(%q, %v) = %v; want an error with %q", c.loc, c.opts, err, c.want)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	got, err := repo.SplitCommand(`ssh -i "/my keys/id" -o 'ProxyCommand=nc %h %p' host -s sftp`)
	want := []string{"ssh", "-i", "/my keys/id", "-o", "ProxyCommand=nc %h %p", "host", "-s", "sftp"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SplitCommand = %q, %v; want %q", got, err, want)
	}
}
