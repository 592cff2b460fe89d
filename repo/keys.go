package repo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backend"
)

// KeyInfo describes one key file.
type KeyInfo struct {
	ID       crypto.ID `json:"id"`
	Current  bool      `json:"current"`
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username"`
}

// Keys lists the repository's key files. One that is damaged is reported
// through Damage and left out.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	ids, err := r.ListFiles(ctx, backend.KeyFile)
	if err != nil {
		return nil, err
	}
	var out []KeyInfo
	for _, id := range ids {
		data, err := backend.ReadAll(ctx, r.be, backend.Handle{Type: backend.KeyFile, Name: id.String()})
		if err != nil {
			return nil, fmt.Errorf("repo: load key %s: %w", id.Short(), err)
		}
		if crypto.Hash(data) != id {
			r.Damage("keys/"+id.String(), fmt.Errorf("%w: content does not match its name", ErrCorrupt))
			continue
		}
		kf, err := crypto.ParseKeyFile(data)
		if err != nil {
			r.Damage("keys/"+id.String(), fmt.Errorf("%w: %v", ErrCorrupt, err))
			continue
		}
		out = append(out, KeyInfo{ID: id, Current: id == r.keyID, Created: kf.Created, Hostname: kf.Hostname, Username: kf.Username})
	}
	return out, nil
}

// AddKey adds a key file for password and returns its ID.
func (r *Repository) AddKey(ctx context.Context, password []byte, p crypto.KDFParams, host, user string) (crypto.ID, error) {
	if p == (crypto.KDFParams{}) {
		p = crypto.DefaultKDF
	}
	return saveKeyFile(ctx, r.be, r.key, password, p, host, user, time.Now())
}

// ErrLastKey is returned when removing the only key or the one in use.
var ErrLastKey = errors.New("repo: refusing to remove the key in use")

// RemoveKey removes key file id, which must not be the key in use.
func (r *Repository) RemoveKey(ctx context.Context, id crypto.ID) error {
	if id == r.keyID {
		return ErrLastKey
	}
	if err := r.be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: id.String()}); err != nil {
		return fmt.Errorf("repo: remove key %s: %w", id.Short(), err)
	}
	return nil
}

// ChangePassword adds a key file for password and removes the one in use.
func (r *Repository) ChangePassword(ctx context.Context, password []byte, p crypto.KDFParams, host, user string) (crypto.ID, error) {
	id, err := r.AddKey(ctx, password, p, host, user)
	if err != nil {
		return crypto.ID{}, err
	}
	old := r.keyID
	r.keyID = id
	if err := r.be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: old.String()}); err != nil {
		return id, fmt.Errorf("repo: remove old key %s: %w", old.Short(), err)
	}
	return id, nil
}
