package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// ParseHtpasswd reads an htpasswd file of bcrypt entries ("user:$2y$..."),
// as `htpasswd -B` writes them. Other hash kinds are refused: they are too
// cheap to guess.
func ParseHtpasswd(r io.Reader) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("server: htpasswd line %d: want user:hash", n)
		}
		if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
			return nil, fmt.Errorf("server: htpasswd line %d (%s): not a bcrypt hash; make it with htpasswd -B", n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("server: htpasswd line %d (%s): %w", n, user, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("server: htpasswd: %w", err)
	}
	return users, nil
}

// authCache remembers passwords bcrypt accepted (as SHA-256, with the hash
// they matched), so that a client's every request does not cost a bcrypt.
type authCache struct {
	mu sync.Mutex
	ok map[string]okEntry
}

type okEntry struct {
	hash []byte   // the bcrypt hash it matched
	sum  [32]byte // SHA-256 of the password
}

func newAuthCache() *authCache { return &authCache{ok: map[string]okEntry{}} }

// authenticate returns the user of r and their permission, or false.
func (s *Server) authenticate(r *http.Request) (string, Permission, bool) {
	if s.opts.Users == nil {
		return "", s.opts.Default, true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return user, 0, false
	}
	hash, known := s.opts.Users[user]
	if !known {
		// The same cost as a known user's check, so timing tells nothing.
		bcrypt.CompareHashAndPassword(dummyHash, []byte(pass))
		return user, 0, false
	}
	sum := sha256.Sum256([]byte(pass))
	s.auth.mu.Lock()
	e, cached := s.auth.ok[user]
	s.auth.mu.Unlock()
	if !cached || subtle.ConstantTimeCompare(e.hash, hash) != 1 || subtle.ConstantTimeCompare(e.sum[:], sum[:]) != 1 {
		if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
			return user, 0, false
		}
		s.auth.mu.Lock()
		s.auth.ok[user] = okEntry{hash: hash, sum: sum}
		s.auth.mu.Unlock()
	}
	perm, ok := s.opts.Permissions[user]
	if !ok {
		perm = s.opts.Default
	}
	return user, perm, true
}

// dummyHash is a bcrypt hash (cost 10) of a password nobody uses.
var dummyHash = []byte("$2a$10$3u4coFVv9Z.T4PHC8M/14etioyuRddBbvCoy8PboMFcc3li3bS9.S")
