// Package pack implements arca's pack file format (docs/format.md, "Pack
// files"): a sequence of sealed blobs followed by a sealed header that lists
// them and a 4-byte header length. Writer builds a pack in memory;
// ReadHeader parses the header of a stored pack; OpenBlob authenticates,
// decrypts, decompresses and verifies one blob.
package pack
