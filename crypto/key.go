package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// Sizes of the sealed-message framing. A sealed message is
//
//	nonce[24] | ciphertext | tag[16]
//
// The first 16 nonce bytes select a subkey, subkey = BLAKE3-keyed(encKey,
// subkeyContext | nonce[:16]); the last 8 bytes, prefixed with 4 zero bytes,
// are the AES-256-GCM nonce under that subkey. See docs/design.md ("Nonces").
const (
	NonceSize    = 24
	TagSize      = 16
	Overhead     = NonceSize + TagSize
	prefixSize   = 16
	subkeyContxt = "arca v1 aead subkey"
)

// ErrAuth is returned when a sealed message fails authentication: it was
// modified, truncated, sealed under another key, or bound to other
// associated data.
var ErrAuth = errors.New("crypto: message authentication failed")

// Key is a repository's master key: the encryption key and the separate key
// for blob IDs. A Key is safe for concurrent use.
type Key struct {
	enc [32]byte
	id  [32]byte

	subkeys  sync.Pool // *blake3.Hasher keyed with enc
	idHashes sync.Pool // *IDHasher

	mu    sync.Mutex
	cache map[[prefixSize]byte]cipher.AEAD // subkeys for Open, bounded by cacheMax
}

const cacheMax = 256

// NewRandomKey returns a Key with fresh random material.
func NewRandomKey() (*Key, error) {
	var enc, id [32]byte
	if _, err := rand.Read(enc[:]); err != nil {
		return nil, fmt.Errorf("crypto: random key: %w", err)
	}
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("crypto: random key: %w", err)
	}
	return newKey(enc, id), nil
}

// KeyFromBytes returns the master key with encryption key enc and ID key
// id, for tests and tools that need a known key (golden files, fuzz
// corpora).
func KeyFromBytes(enc, id [32]byte) *Key { return newKey(enc, id) }

func newKey(enc, id [32]byte) *Key {
	k := &Key{enc: enc, id: id, cache: make(map[[prefixSize]byte]cipher.AEAD)}
	k.subkeys.New = func() any {
		h, _ := blake3.NewKeyed(k.enc[:])
		return h
	}
	k.idHashes.New = func() any { return k.NewIDHasher() }
	return k
}

// BlobID returns the keyed BLAKE3-256 of data. Hot paths should keep an
// IDHasher per goroutine instead.
func (k *Key) BlobID(data []byte) ID {
	h := k.idHashes.Get().(*IDHasher)
	id := h.Sum(data)
	k.idHashes.Put(h)
	return id
}

// IDHasher computes blob IDs under one Key. It is not safe for concurrent
// use; keep one per goroutine.
type IDHasher struct {
	h *blake3.Hasher
}

// NewIDHasher returns a hasher for blob IDs.
func (k *Key) NewIDHasher() *IDHasher {
	h, _ := blake3.NewKeyed(k.id[:])
	return &IDHasher{h: h}
}

// Sum returns the keyed BLAKE3-256 of data.
func (h *IDHasher) Sum(data []byte) ID {
	h.h.Reset()
	_, _ = h.h.Write(data)
	var id ID
	h.h.Sum(id[:0])
	return id
}

func (k *Key) deriveAEAD(prefix []byte) cipher.AEAD {
	h := k.subkeys.Get().(*blake3.Hasher)
	h.Reset()
	_, _ = h.WriteString(subkeyContxt)
	_, _ = h.Write(prefix)
	var sub [32]byte
	h.Sum(sub[:0])
	k.subkeys.Put(h)
	block, err := aes.NewCipher(sub[:])
	if err != nil {
		panic(err) // 32-byte key cannot fail
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// Sealer seals a sequence of messages under one random subkey, with counter
// nonces: the per-pack writer keeps one. It is not safe for concurrent use.
type Sealer struct {
	prefix  [prefixSize]byte
	counter uint64
	aead    cipher.AEAD
}

// NewSealer returns a Sealer with a fresh random 128-bit subkey selector.
func (k *Key) NewSealer() (*Sealer, error) {
	s := &Sealer{}
	if _, err := rand.Read(s.prefix[:]); err != nil {
		return nil, fmt.Errorf("crypto: random nonce: %w", err)
	}
	s.aead = k.deriveAEAD(s.prefix[:])
	return s, nil
}

// Seal appends nonce | ciphertext | tag of plaintext, bound to ad, to dst.
// dst and plaintext must not overlap.
func (s *Sealer) Seal(dst, plaintext, ad []byte) []byte {
	var gcmNonce [12]byte
	binary.BigEndian.PutUint64(gcmNonce[4:], s.counter)
	dst = append(dst, s.prefix[:]...)
	dst = append(dst, gcmNonce[4:]...)
	s.counter++
	return s.aead.Seal(dst, gcmNonce[:], plaintext, ad)
}

// SealInPlace seals plaintext in place: it writes the nonce to nonce and
// returns ciphertext | tag, which reuses plaintext's memory when its
// capacity allows TagSize more bytes. The stored message is nonce followed
// by the returned bytes, exactly as Seal would produce.
func (s *Sealer) SealInPlace(nonce *[NonceSize]byte, plaintext, ad []byte) []byte {
	var gcmNonce [12]byte
	binary.BigEndian.PutUint64(gcmNonce[4:], s.counter)
	copy(nonce[:], s.prefix[:])
	copy(nonce[prefixSize:], gcmNonce[4:])
	s.counter++
	return s.aead.Seal(plaintext[:0], gcmNonce[:], plaintext, ad)
}

// Seal seals one message under a fresh subkey and appends it to dst.
func (k *Key) Seal(dst, plaintext, ad []byte) ([]byte, error) {
	s, err := k.NewSealer()
	if err != nil {
		return nil, err
	}
	return s.Seal(dst, plaintext, ad), nil
}

// Open authenticates and decrypts a sealed message bound to ad and appends
// the plaintext to dst. It returns ErrAuth on any mismatch.
func (k *Key) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte overhead", ErrAuth, len(sealed), Overhead)
	}
	var prefix [prefixSize]byte
	copy(prefix[:], sealed[:prefixSize])
	k.mu.Lock()
	aead, ok := k.cache[prefix]
	k.mu.Unlock()
	if !ok {
		aead = k.deriveAEAD(prefix[:])
		k.mu.Lock()
		if len(k.cache) >= cacheMax {
			clear(k.cache)
		}
		k.cache[prefix] = aead
		k.mu.Unlock()
	}
	var gcmNonce [12]byte
	copy(gcmNonce[4:], sealed[prefixSize:NonceSize])
	out, err := aead.Open(dst, gcmNonce[:], sealed[NonceSize:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}
