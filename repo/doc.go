// Package repo is the repository: Init and Open on top of a backend.Backend,
// the encrypted config, key files, sealed repository files (index,
// snapshots, locks), blob reads through the local index cache, and Writer,
// the write session that turns blobs into packs and index files.
//
// The backend is the only source of truth. The local cache (index.DB) is
// rebuilt from index files whenever it is missing or behind, and nothing
// here assumes a single writer: every write session uploads its own packs
// and index files, and files are never modified.
package repo
