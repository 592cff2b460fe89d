// Package backend defines the storage interface a repository lives on: a
// flat namespace of immutable files grouped by FileType. Implementations
// live in sub-packages (local, mem, ...) and pass backendtest.Run.
//
// Contract every Backend keeps:
//   - Save is atomic: a file is either absent or complete under its name,
//     never partial, even if the process dies mid-write.
//   - A file saved and acknowledged is durable and visible to Load, Stat and
//     List (read-after-write).
//   - Files are never modified; saving a name that exists replaces it with
//     the same content (names are content hashes) and is not an error.
//   - Missing files give errors that satisfy errors.Is(err, ErrNotExist).
//   - Load of a range that runs past the end returns what there is; an
//     offset past the end is an error.
//   - A Save whose source fails, or whose context is cancelled, stores
//     nothing (rclone serve restic 1.60 does not keep this: it can keep
//     the start of an aborted upload; a retry overwrites it); every
//     operation with a cancelled context fails with an error wrapping
//     context.Canceled.
//   - Concurrent Saves of one name all succeed.
//
// This package imports nothing else of arca's.
package backend
