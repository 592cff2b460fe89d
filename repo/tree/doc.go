// Package tree defines the node and tree types of a snapshot and their
// canonical binary encoding (docs/format.md, "Trees"): one tree blob per
// directory, nodes sorted by name bytes, so the same directory always
// encodes to the same bytes and the same tree ID. Names and link targets
// are arbitrary bytes and survive exactly, valid UTF-8 or not.
package tree
