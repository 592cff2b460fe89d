package index

import (
	"runtime"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
)

// Lookups share read transactions. Opening and discarding one per lookup
// cost more than a lookup's reads in a large cache: each wakes badger's
// watermark goroutine, and on a machine whose system calls flush the TLB
// the reads after it may miss again (docs/bench/README.md, 10M-blob index). A
// shared transaction is retired by the next write, so a lookup that begins
// after a write has returned sees it.
type readers struct {
	gen  atomic.Uint64 // bumped after every write
	pool chan *readTxn
}

type readTxn struct {
	txn *badger.Txn
	gen uint64 // the writes it sees: those before gen was bumped past this
}

func (r *readers) init() { r.pool = make(chan *readTxn, runtime.GOMAXPROCS(0)) }

// view runs fn in a read transaction that no write has retired. fn must
// not keep the transaction or its items.
func (d *DB) view(fn func(txn *badger.Txn) error) error {
	gen := d.readers.gen.Load()
	var r *readTxn
	select {
	case r = <-d.readers.pool:
	default:
	}
	if r != nil && r.gen != gen {
		r.txn.Discard()
		r = nil
	}
	if r == nil {
		r = &readTxn{txn: d.db.NewTransaction(false), gen: gen}
	}
	err := fn(r.txn)
	select {
	case d.readers.pool <- r:
	default:
		r.txn.Discard()
	}
	return err
}

// wrote retires the shared read transactions. Every write calls it once
// its changes are committed or abandoned (deferred where it begins, as a
// write batch may commit part of its changes before it fails).
func (d *DB) wrote() { d.readers.gen.Add(1) }

// update runs fn in a read-write transaction, then retires the shared
// read transactions.
func (d *DB) update(fn func(txn *badger.Txn) error) error {
	defer d.wrote()
	return d.db.Update(fn)
}

// closeReaders discards the pooled read transactions.
func (d *DB) closeReaders() {
	for {
		select {
		case r := <-d.readers.pool:
			r.txn.Discard()
		default:
			return
		}
	}
}
