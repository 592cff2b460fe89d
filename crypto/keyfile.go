package crypto

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// KeyFileVersion is the version of the key file format.
const KeyFileVersion = 1

// ErrWrongPassword is returned when a password opens no key file.
var ErrWrongPassword = errors.New("crypto: wrong password or no key found")

// KDFParams are argon2id parameters.
type KDFParams struct {
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
}

// DefaultKDF is used for new key files: t=3, m=64 MiB, p=4.
var DefaultKDF = KDFParams{Time: 3, Memory: 64 * 1024, Threads: 4}

// AutoKDFLimit bounds the argon2id cost of the key files that opening a
// repository tries by itself (twice the default memory, a third more
// passes); one above it is tried only when the user names it, so that key
// files planted by the storage cannot make every open slow.
var AutoKDFLimit = KDFParams{Time: 4, Memory: 128 * 1024, Threads: 16}

// Within reports whether p costs no more than limit in passes, memory and
// threads.
func (p KDFParams) Within(limit KDFParams) bool {
	return p.Time <= limit.Time && p.Memory <= limit.Memory && p.Threads <= limit.Threads
}

func (p KDFParams) String() string {
	return fmt.Sprintf("argon2id t=%d m=%d MiB p=%d", p.Time, p.Memory/1024, p.Threads)
}

// Limits that a key file's parameters must respect, so a hostile key file
// cannot make Open allocate without bound.
const (
	maxKDFMemory = 4 << 20 // KiB: 4 GiB
	maxKDFTime   = 100
)

// KeyFile is the stored form of one password's access to a master key, the
// only file in a repository that is not sealed under the master key: its
// Data is the master key sealed under a key derived from the password.
type KeyFile struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname,omitempty"`
	Username string    `json:"username,omitempty"`
	KDF      string    `json:"kdf"`
	Params   KDFParams `json:"params"`
	Salt     []byte    `json:"salt"`
	Data     []byte    `json:"data"`
}

type masterJSON struct {
	Encrypt []byte `json:"encrypt"`
	ID      []byte `json:"id"`
}

func deriveKey(password []byte, salt []byte, p KDFParams) *Key {
	k := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, 32)
	var enc [32]byte
	copy(enc[:], k)
	return newKey(enc, [32]byte{})
}

// NewKeyFile wraps master under password with argon2id parameters p.
func NewKeyFile(master *Key, password []byte, p KDFParams, hostname, username string, now time.Time) (*KeyFile, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("crypto: random salt: %w", err)
	}
	plain, err := json.Marshal(masterJSON{Encrypt: master.enc[:], ID: master.id[:]})
	if err != nil {
		return nil, err
	}
	wrap := deriveKey(password, salt, p)
	data, err := wrap.Seal(nil, plain, AD(nil, KindMaster, nil))
	if err != nil {
		return nil, err
	}
	return &KeyFile{
		Version: KeyFileVersion, Created: now.UTC(), Hostname: hostname, Username: username,
		KDF: "argon2id", Params: p, Salt: salt, Data: data,
	}, nil
}

// Validate checks that p is within what key files may hold.
func (p KDFParams) Validate() error {
	if p.Time < 1 || p.Time > maxKDFTime || p.Memory < 8 || p.Memory > maxKDFMemory || p.Threads < 1 {
		return fmt.Errorf("crypto: argon2id parameters out of range: t=%d (1..%d), m=%d KiB (8..%d), p=%d (at least 1)", p.Time, maxKDFTime, p.Memory, maxKDFMemory, p.Threads)
	}
	return nil
}

// ParseKeyFile decodes and validates a stored key file.
func ParseKeyFile(b []byte) (*KeyFile, error) {
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("crypto: key file: %w", err)
	}
	if kf.Version != KeyFileVersion {
		return nil, fmt.Errorf("crypto: key file version %d not supported (want %d)", kf.Version, KeyFileVersion)
	}
	if kf.KDF != "argon2id" {
		return nil, fmt.Errorf("crypto: key file: unknown kdf %q", kf.KDF)
	}
	if err := kf.Params.Validate(); err != nil {
		return nil, err
	}
	if len(kf.Salt) < 16 {
		return nil, fmt.Errorf("crypto: key file: salt of %d bytes is too short", len(kf.Salt))
	}
	if len(kf.Data) < Overhead {
		return nil, fmt.Errorf("crypto: key file: data of %d bytes is too short", len(kf.Data))
	}
	return &kf, nil
}

// Marshal encodes the key file.
func (kf *KeyFile) Marshal() ([]byte, error) { return json.MarshalIndent(kf, "", "  ") }

// Unlock derives the wrapping key from password and returns the master key.
// It returns ErrWrongPassword when the password does not open this file.
func (kf *KeyFile) Unlock(password []byte) (*Key, error) {
	wrap := deriveKey(password, kf.Salt, kf.Params)
	plain, err := wrap.Open(nil, kf.Data, AD(nil, KindMaster, nil))
	if err != nil {
		return nil, ErrWrongPassword
	}
	var m masterJSON
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	if len(m.Encrypt) != 32 || len(m.ID) != 32 {
		return nil, fmt.Errorf("crypto: master key: bad key lengths %d and %d", len(m.Encrypt), len(m.ID))
	}
	var enc, id [32]byte
	copy(enc[:], m.Encrypt)
	copy(id[:], m.ID)
	return newKey(enc, id), nil
}
