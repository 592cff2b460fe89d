// Package restore turns a snapshot's trees back into files. It works in
// batches of bounded size: it walks the tree creating directories and
// special files, plans which blobs of which packs each regular file needs,
// reads each needed pack once per batch (coalescing nearby blobs into one
// ranged read), verifies every blob, and writes it to every file and offset
// that needs it. Files are written under a temporary name and renamed into
// place when complete; all-zero blobs are left as holes. Directory metadata
// is applied after the directory's contents.
package restore
