package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/fstest"
)

// remote is a repository on a real server a test started.
type remote struct {
	name string
	loc  string
	args []string // global flags (-o ...)
	env  []string
}

// remotes start a server of each remote kind on loopback.
var remotes = []struct {
	name  string
	start func(t *testing.T) remote
}{
	{"s3", func(t *testing.T) remote {
		srv := backendtest.StartVersityGW(t)
		return remote{name: "s3", loc: "s3:http://" + srv.Addr + "/arca/repo", args: []string{"-o", "s3.bucket-lookup=path"},
			env: []string{"AWS_ACCESS_KEY_ID=" + backendtest.S3KeyID, "AWS_SECRET_ACCESS_KEY=" + backendtest.S3Secret, "AWS_DEFAULT_REGION=us-east-1"}}
	}},
	{"sftp", func(t *testing.T) remote {
		srv := backendtest.StartSSHD(t)
		return remote{name: "sftp", loc: "sftp:127.0.0.1:" + filepath.Join(t.TempDir(), "repo"),
			args: []string{"-o", "sftp.command=" + strings.Join(srv.Command(), " "), "-o", "sftp.connections=2"}}
	}},
	{"rest", func(t *testing.T) remote {
		srv := backendtest.StartRclone(t)
		return remote{name: "rest", loc: "rest:http://" + srv.Addr + "/repo/",
			env: []string{"ARCA_REST_USERNAME=" + backendtest.RcloneUser, "ARCA_REST_PASSWORD=" + backendtest.RclonePassword}}
	}},
}

// nestedTree writes files of random content in nested directories.
func nestedTree(t *testing.T, dir string, seed byte) {
	for i := range 4 {
		randomFiles(t, filepath.Join(dir, fmt.Sprintf("d%d", i), "sub"), 3, 50<<10*(i+1), seed+byte(i))
	}
	randomFiles(t, dir, 2, 3<<20, seed+10)
}

// TestRemoteEndToEnd: on S3 (versitygw), SFTP (sshd) and REST (rclone
// serve restic): init, backup, restore byte-identical, a second backup,
// check --read-data, forget, prune, and the kept snapshot still restores.
func TestRemoteEndToEnd(t *testing.T) {
	for _, kind := range remotes {
		t.Run(kind.name, func(t *testing.T) {
			rm := kind.start(t)
			e := newEnv(t)
			e.vars = append(e.vars, rm.env...)
			arca := func(args ...string) result {
				t.Helper()
				return e.must(append(append([]string{"-r", rm.loc}, rm.args...), args...)...)
			}
			arca(append([]string{"init"}, cheapKDF...)...)
			src := filepath.Join(e.dir, "src")
			nestedTree(t, src, 1)
			arca("backup", src)
			target := filepath.Join(e.dir, "restored1")
			arca("restore", "latest", "--target", target)
			fstest.Compare(t, src, filepath.Join(target, src))

			os.RemoveAll(filepath.Join(src, "d0"))
			nestedTree(t, filepath.Join(src, "new"), 20)
			arca("backup", src)
			arca("check", "--read-data")
			arca("forget", "--keep-last", "1")
			var sum struct {
				Deleted struct{ Packs int } `json:"deleted"`
			}
			out := arca("--json", "prune", "--now", "--max-unused", "0")
			if err := json.Unmarshal([]byte(out.stdout), &sum); err != nil || sum.Deleted.Packs == 0 {
				t.Errorf("%s: prune --now deleted no pack (%v):\n%s", rm.name, err, out.stdout)
			}
			arca("check", "--read-data")
			target = filepath.Join(e.dir, "restored2")
			arca("restore", "latest", "--target", target)
			fstest.Compare(t, src, filepath.Join(target, src))
			if snaps := arca("--json", "snapshots").stdout; strings.Count(snaps, `"id"`) != 1 {
				t.Errorf("%s: snapshots after forget:\n%s", rm.name, snaps)
			}
		})
	}
}
