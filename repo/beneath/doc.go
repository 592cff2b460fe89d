// Package beneath does file-system work confined beneath an open directory.
//
// A Dir is an open directory handle. Every operation either names one
// entry directly inside it (a single path element, never "." or "..") or a
// relative path that is resolved inside it without following any symlink
// (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or openat with
// O_NOFOLLOW on every component where openat2 is missing). Files are
// created with O_EXCL|O_NOFOLLOW under unpredictable names, and metadata is
// set through handles (Entry), never by resolving a path string again. So a
// directory or file that someone swaps for a symlink, before or during the
// work, cannot redirect a write, chmod, chown, xattr or time change to
// anything outside the directory: at worst an operation fails or acts on
// the symlink itself.
//
// The package is Linux-only and imports nothing of arca's.
package beneath
