package server

import (
	"os"
	"path/filepath"
	"strings"
)

// Heartbeats written by append-only users are recorded with their writer
// in <repository>/.owners/<name> (outside the repository's layout, so no
// client lists or reads them), so that an append-only user may remove its
// own heartbeats and no other file.

func (s *Server) ownerPath(repo, name string) string {
	return filepath.Join(s.opts.Root, filepath.FromSlash(repo), ".owners", name)
}

func (s *Server) setOwner(repo, name, user string) error {
	p := s.ownerPath(repo, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(user), 0o600)
}

// owner returns the append-only user that wrote heartbeat name, or "".
func (s *Server) owner(repo, name string) string {
	b, err := os.ReadFile(s.ownerPath(repo, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s *Server) clearOwner(repo, name string) { os.Remove(s.ownerPath(repo, name)) }
