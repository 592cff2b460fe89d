package restore

// SetBatch sets the batch limits and returns a function restoring them.
func SetBatch(files, writes int) func() {
	f, w := batchFiles, batchWrites
	batchFiles, batchWrites = files, writes
	return func() { batchFiles, batchWrites = f, w }
}

// SetBeforeCreate sets the hook called before a temporary entry is created
// at dir/name.
func SetBeforeCreate(o *Options, f func(dir, name string)) { o.hooks().beforeCreate = f }

// SetBeforeFlush sets the hook called when a batch is planned, before its
// files are written.
func SetBeforeFlush(o *Options, f func()) { o.hooks().beforeFlush = f }

// SetBeforeFinalize sets the hook called after a batch is written, before
// hard links and directory metadata.
func SetBeforeFinalize(o *Options, f func()) { o.hooks().beforeFinalize = f }

// SetAfterWrite sets the hook called after each blob written to a file,
// with the file's path.
func SetAfterWrite(o *Options, f func(path string)) { o.hooks().afterWrite = f }

// ParseJournal is parseJournal for tests.
func ParseJournal(b []byte) ([]JournalEntry, error) { return parseJournal(b) }

// AppendJournalEntry is appendJournalEntry for tests.
var AppendJournalEntry = appendJournalEntry

// JournalEntry is journalEntry for tests.
type JournalEntry = journalEntry

// JournalHeader is the first line of a journal.
const JournalHeader = journalHeader
