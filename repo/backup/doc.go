// Package backup walks files and directories and stores them as a snapshot:
// it reads, chunks, hashes, deduplicates, compresses, seals and packs file
// contents concurrently, reuses the blob lists of files that are unchanged
// since the parent snapshot, and writes the snapshot only after everything
// it references is durable and indexed.
package backup
