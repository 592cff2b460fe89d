// Package crypto provides arca's cryptographic primitives: 256-bit IDs, the
// master Key (authenticated encryption and keyed BLAKE3 blob IDs), the
// argon2id KDF and the key files that wrap the master key under a password.
//
// Nothing here knows about repositories, packs or backends; crypto imports
// no other arca package.
package crypto
