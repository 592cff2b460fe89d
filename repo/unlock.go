package repo

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backend"
)

// keyProblem is a key file that was skipped while unlocking, and why.
type keyProblem struct {
	id      crypto.ID
	corrupt bool // damaged (reported as such), not merely unusable
	err     error
}

// unlocked is what a password opened: the master key, the key file that
// holds it, and the repository's config.
type unlocked struct {
	key   *crypto.Key
	keyID crypto.ID
	cfg   Config
}

// unlock finds the key file that password opens and whose master key opens
// the config. Key files are checked against their names (the hash of their
// content) before anything is derived, and only those whose argon2id cost
// is within crypto.AutoKDFLimit are tried, unless hint (an ID prefix)
// names them; hinted ones are tried first. A key that the password opens
// but that does not open the config (left by an interrupted init, or
// planted) is skipped. The working memory of each derivation is returned
// to the OS before the next. Problems with key files are returned for the
// caller to report.
func unlock(ctx context.Context, be backend.Backend, password []byte, hint string, cfgData []byte) (unlocked, []keyProblem, error) {
	var names []string
	err := be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return unlocked{}, nil, fmt.Errorf("repo: list keys: %w", err)
	}
	slices.Sort(names)
	hint = strings.ToLower(hint)
	hinted := func(name string) bool { return hint != "" && strings.HasPrefix(name, hint) }
	if hint != "" {
		if !slices.ContainsFunc(names, hinted) {
			return unlocked{}, nil, fmt.Errorf("repo: no key file matches the key hint %q", hint)
		}
		slices.SortStableFunc(names, func(a, b string) int {
			switch ha, hb := hinted(a), hinted(b); {
			case ha && !hb:
				return -1
			case hb && !ha:
				return 1
			}
			return 0
		})
	}
	var problems []keyProblem
	var cfgErr error // the config did not open with a key the password opened
	for _, name := range names {
		id, err := crypto.ParseID(name)
		if err != nil {
			continue
		}
		data, err := backend.ReadAll(ctx, be, backend.Handle{Type: backend.KeyFile, Name: name})
		if errors.Is(err, backend.ErrNotExist) {
			continue // removed meanwhile
		} else if err != nil {
			return unlocked{}, problems, fmt.Errorf("repo: load key %s: %w", id.Short(), err)
		}
		if crypto.Hash(data) != id {
			problems = append(problems, keyProblem{id, true, fmt.Errorf("%w: content does not match its name", ErrCorrupt)})
			continue
		}
		kf, err := crypto.ParseKeyFile(data)
		if err != nil {
			problems = append(problems, keyProblem{id, true, fmt.Errorf("%w: %v", ErrCorrupt, err)})
			continue
		}
		if !kf.Params.Within(crypto.AutoKDFLimit) && !hinted(name) {
			problems = append(problems, keyProblem{id, false, fmt.Errorf("its key derivation (%s) costs more than arca tries by itself (%s); name it with --key-hint %s to use it",
				kf.Params, crypto.AutoKDFLimit, id.Short())})
			continue
		}
		key, err := kf.Unlock(password)
		debug.FreeOSMemory() // the derivation's memory, before the next one
		if errors.Is(err, crypto.ErrWrongPassword) {
			continue
		} else if err != nil {
			problems = append(problems, keyProblem{id, true, fmt.Errorf("%w: %v", ErrCorrupt, err)})
			continue
		}
		plain, err := OpenFile(key, crypto.KindConfig, cfgData)
		if err != nil {
			cfgErr = err
			problems = append(problems, keyProblem{id, false, errors.New("this password opens it, but its master key does not open the config (a key left by an interrupted init, or not of this repository)")})
			continue
		}
		cfg, err := ParseConfig(plain)
		if err != nil {
			return unlocked{}, problems, err
		}
		return unlocked{key, id, cfg}, problems, nil
	}
	return unlocked{}, problems, unlockError(problems, cfgErr)
}

// unlockError explains why no key opened the repository.
func unlockError(problems []keyProblem, cfgErr error) error {
	var notes []string
	corrupt := false
	for _, p := range problems {
		notes = append(notes, fmt.Sprintf("keys/%s: %v", p.id.Short(), p.err))
		corrupt = corrupt || p.corrupt
	}
	switch {
	case cfgErr != nil:
		// The keys this password opens do not open the config: the config
		// is damaged (or the keys are not of this repository).
		return fmt.Errorf("repo: config: %w (with every key this password opens)", cfgErr)
	case corrupt:
		return fmt.Errorf("repo: no key file opens with this password, and some are damaged (%s): %w", strings.Join(notes, "; "), ErrCorrupt)
	case len(notes) > 0:
		return fmt.Errorf("%w (%s)", ErrWrongPassword, strings.Join(notes, "; "))
	}
	return ErrWrongPassword
}
