package rclone

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
)

func TestParseLocation(t *testing.T) {
	if c, err := ParseLocation("rclone:remote:bucket/path"); err != nil || c.Remote != "remote:bucket/path" {
		t.Errorf("ParseLocation = %+v, %v", c, err)
	}
	if _, err := ParseLocation("rclone:"); err == nil {
		t.Error("an empty remote parsed")
	}
}

// TestStdio runs the conformance suite on `rclone serve restic --stdio`
// over a local directory.
func TestStdio(t *testing.T) {
	if _, err := exec.LookPath("rclone"); err != nil {
		backendtest.Skip(t, "rclone is not installed (make deps installs it)")
	}
	backendtest.RunWith(t, backendtest.Options{PartialAbortedSave: true}, func(t *testing.T) backend.Backend {
		dir := t.TempDir()
		b, err := Create(t.Context(), Config{Remote: filepath.Join(dir, "repo"), Args: []string{"--config", filepath.Join(dir, "rclone.conf")}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}
