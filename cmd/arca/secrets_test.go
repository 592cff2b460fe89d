package main_test

import (
	"strings"
	"testing"
)

// TestChildrenGetNoSecrets: the programs arca runs never see its secrets,
// and a failing password command is named by its program only.
func TestChildrenGetNoSecrets(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	secrets := []string{"ARCA_PASSWORD=pw", "ARCA_NEW_PASSWORD=new-secret"}
	r := e.runEnv(secrets, "-r", repoDir, "backup", "--stdin-filename", "env.txt", "--stdin-from-command", "--", "sh", "-c", "env")
	if r.code != 0 {
		t.Fatalf("backup: exit %d\n%s", r.code, r.stderr)
	}
	dumped := e.must("-r", repoDir, "dump", "latest", "/env.txt").stdout
	if !strings.Contains(dumped, "PATH=") {
		t.Fatalf("the command's environment was not stored:\n%s", dumped)
	}
	for _, s := range []string{"ARCA_PASSWORD=", "ARCA_NEW_PASSWORD=", "new-secret"} {
		if strings.Contains(dumped, s) {
			t.Errorf("the snapshot holds %q: a secret was passed to --stdin-from-command", s)
		}
	}

	// The password command does not see them either.
	noEnv := []string{"ARCA_PASSWORD=", "ARCA_NEW_PASSWORD=new-secret"}
	r = e.runEnv(noEnv, "-r", repoDir, "--password-command", `test -z "$ARCA_NEW_PASSWORD" && echo pw`, "snapshots")
	if r.code != 0 {
		t.Errorf("password command saw ARCA_NEW_PASSWORD (exit %d)\n%s", r.code, r.stderr)
	}
	// A failing one is named by its program, not its arguments.
	r = e.runEnv(noEnv, "-r", repoDir, "--password-command", "false --token=hunter2", "snapshots")
	if r.code == 0 || strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, `"false"`) {
		t.Errorf("failing password command: exit %d, message %q; want an error naming \"false\" without its arguments", r.code, r.stderr)
	}
}
