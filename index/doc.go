// Package index provides the repository's index-file format (File, Encode,
// Decode) and DB, the badger-backed local cache that maps blob IDs to pack
// locations. Index files in the repository are the truth; the DB is a cache
// that can be deleted and rebuilt from them at any time. Only this package
// imports badger.
package index
