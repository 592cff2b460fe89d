package restore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/arcabackup/arca/repo/beneath"
	"golang.org/x/sys/unix"
)

// The journal records the temporary entries a restore creates, so that a
// restore run again after an interruption finds its partial files without
// their names being predictable (docs/format.md, "Restore journal"). It is
// the file .arca-restore-<16 hex>.journal in the target:
//
//	arca restore journal 1\n
//	"<dir>" "<name>" <temp>\n      one line per temporary entry
//
// <dir> is the directory's path relative to the target ("" for the target
// itself) and <name> the final name, both Go-quoted (strconv.Quote), so
// any bytes survive; <temp> is .arca-restore- and 16 lower-case hex
// digits. A last line without its newline (a write cut short) is ignored.

const (
	journalHeader = "arca restore journal 1\n"
	journalSuffix = ".journal"
	// maxJournal bounds what is read of an old journal.
	maxJournal = 256 << 20
)

// journalEntry is one temporary entry: Temp in directory Dir stands for
// Name.
type journalEntry struct {
	Dir, Name, Temp string
}

type journalKey struct{ dir, name string }

// isTempName reports whether s is a temporary name a restore makes.
func isTempName(s string) bool {
	hex, ok := strings.CutPrefix(s, tempPrefix)
	if !ok || len(hex) != 16 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validRel(rel string) bool {
	if rel == "" {
		return true
	}
	for _, elem := range strings.Split(rel, "/") {
		if !beneath.ValidName(elem) {
			return false
		}
	}
	return true
}

// appendJournalEntry encodes one line.
func appendJournalEntry(b []byte, e journalEntry) []byte {
	b = strconv.AppendQuote(b, e.Dir)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, e.Name)
	b = append(b, ' ')
	b = append(b, e.Temp...)
	return append(b, '\n')
}

// parseJournal decodes a journal. It returns the entries of the complete,
// valid lines before the first invalid one, and an error naming that line.
func parseJournal(b []byte) ([]journalEntry, error) {
	rest, ok := bytes.CutPrefix(b, []byte(journalHeader))
	if !ok {
		return nil, errors.New("restore journal: unknown header")
	}
	var out []journalEntry
	for line := 2; len(rest) > 0; line++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break // a write cut short
		}
		e, err := parseJournalLine(string(rest[:i]))
		if err != nil {
			return out, fmt.Errorf("restore journal: line %d: %w", line, err)
		}
		out = append(out, e)
		rest = rest[i+1:]
	}
	return out, nil
}

func parseJournalLine(s string) (journalEntry, error) {
	var e journalEntry
	var fields [2]string
	for i := range fields {
		q, err := strconv.QuotedPrefix(s)
		if err != nil || q[0] != '"' {
			return e, errors.New("bad quoted field")
		}
		if fields[i], err = strconv.Unquote(q); err != nil {
			return e, err
		}
		s = s[len(q):]
		if len(s) == 0 || s[0] != ' ' {
			return e, errors.New("missing field")
		}
		s = s[1:]
	}
	e = journalEntry{Dir: fields[0], Name: fields[1], Temp: s}
	switch {
	case !validRel(e.Dir):
		return e, fmt.Errorf("invalid directory %q", e.Dir)
	case !beneath.ValidName(e.Name):
		return e, fmt.Errorf("invalid name %q", e.Name)
	case !isTempName(e.Temp):
		return e, fmt.Errorf("invalid temporary name %q", e.Temp)
	}
	return e, nil
}

// journal is a restore's record of its temporary entries. The zero value
// (a dry run) records nothing.
type journal struct {
	root *beneath.Dir
	euid int
	warn func(path string, err error)

	mu   sync.Mutex
	f    *os.File // this run's journal, made on first use
	name string
	// old holds the temporary files of interrupted runs that this run has
	// not taken up yet.
	old map[journalKey]string
	// recent holds what this run recorded since the journal was last
	// rewritten (batchDone keeps those of batches still being written).
	recent []journalEntry
}

// openJournal reads the journals interrupted restores left in root (only
// this user's regular files with one name) and moves what they list into
// a journal of this run.
func openJournal(root *beneath.Dir, euid int, warn func(string, error)) *journal {
	j := &journal{root: root, euid: euid, warn: warn, old: map[journalKey]string{}}
	names, err := root.Names()
	if err != nil {
		warn(root.Path(), err)
		return j
	}
	var found []string
	for _, name := range names {
		base, ok := strings.CutSuffix(name, journalSuffix)
		if !ok || !isTempName(base) {
			continue
		}
		entries, err := j.load(name)
		if err != nil {
			warn(root.Join(name), err)
		}
		for _, e := range entries {
			j.old[journalKey{e.Dir, e.Name}] = e.Temp
		}
		found = append(found, name)
	}
	if len(found) == 0 {
		return j
	}
	j.mu.Lock()
	err = j.rewrite(nil)
	j.mu.Unlock()
	if err != nil {
		warn(root.Path(), err)
		return j
	}
	for _, name := range found {
		root.Remove(name)
	}
	return j
}

func (j *journal) load(name string) ([]journalEntry, error) {
	f, err := j.root.OpenFile(name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	if int(st.Uid) != j.euid || st.Nlink != 1 {
		return nil, nil // not a journal this user wrote: not ours to follow
	}
	b, err := io.ReadAll(io.LimitReader(f, maxJournal))
	if err != nil {
		return nil, err
	}
	return parseJournal(b)
}

// record appends entries to the journal, in one write.
func (j *journal) record(entries ...journalEntry) {
	if j.root == nil || len(entries) == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		if err := j.create(); err != nil {
			j.warn(j.root.Path(), fmt.Errorf("restore journal: %w (an interrupted restore will not resume its partial files)", err))
			return
		}
	}
	var b []byte
	for _, e := range entries {
		b = appendJournalEntry(b, e)
	}
	j.recent = append(j.recent, entries...)
	if _, err := j.f.Write(b); err != nil {
		j.warn(j.f.Name(), err)
	}
}

// create starts a new, empty journal file. j.mu is held.
func (j *journal) create() error {
	for range 100 {
		name := beneath.RandomName(tempPrefix) + journalSuffix
		f, err := j.root.Create(name, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := f.WriteString(journalHeader); err != nil {
			f.Close()
			j.root.Remove(name)
			return err
		}
		j.f, j.name = f, name
		return nil
	}
	return os.ErrExist
}

// rewrite replaces this run's journal by one that lists only the old
// entries still waiting and keep, or by none. j.mu is held.
func (j *journal) rewrite(keep []journalEntry) error {
	prevF, prev := j.f, j.name
	j.f, j.name = nil, ""
	if len(j.old)+len(keep) > 0 {
		if err := j.create(); err != nil {
			j.f, j.name = prevF, prev
			return err
		}
		var b []byte
		for k, tmp := range j.old {
			b = appendJournalEntry(b, journalEntry{Dir: k.dir, Name: k.name, Temp: tmp})
		}
		for _, e := range keep {
			b = appendJournalEntry(b, e)
		}
		if _, err := j.f.Write(b); err != nil {
			return err
		}
	}
	if prevF != nil {
		prevF.Close()
		j.root.Remove(prev)
	}
	return nil
}

// take returns the temporary file an interrupted run left for name in the
// directory rel, if any; it is no longer counted as waiting.
func (j *journal) take(rel, name string) (string, bool) {
	if j.root == nil {
		return "", false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	k := journalKey{rel, name}
	tmp, ok := j.old[k]
	delete(j.old, k)
	return tmp, ok
}

// batchDone is called when a batch's files are all complete or removed:
// the journal then needs to list only the old entries still waiting and
// what this run recorded for the batch still being written, those for
// which live is true (live nil: none).
func (j *journal) batchDone(live func(journalEntry) bool) {
	if j.root == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return
	}
	var keep []journalEntry
	if live != nil {
		for _, e := range j.recent {
			if live(e) {
				keep = append(keep, e)
			}
		}
	}
	if err := j.rewrite(keep); err != nil {
		j.warn(j.root.Path(), fmt.Errorf("restore journal: %w", err))
		return
	}
	j.recent = keep
}

// finish ends the journal. After a complete run, the temporary entries of
// interrupted runs that this one did not take up are removed, and so is
// the journal; otherwise it stays for the next run.
func (j *journal) finish(complete bool) {
	if j.root == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if !complete {
		if j.f != nil {
			j.f.Close()
		}
		return
	}
	for k, tmp := range j.old {
		j.removeTemp(k.dir, tmp)
	}
	clear(j.old)
	if j.f != nil {
		j.f.Close()
		j.root.Remove(j.name)
		j.f, j.name = nil, ""
	}
}

// discard removes a temporary entry of an interrupted run that cannot be
// used.
func (j *journal) discard(dn *dirNode, tmp string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.removeTemp(dn.rel, tmp)
}

// removeTemp removes the temporary entry tmp of directory rel if it is this
// user's and not a directory. j.mu is held.
func (j *journal) removeTemp(rel, tmp string) {
	d, err := j.root.OpenDir(rel)
	if err != nil {
		return
	}
	defer d.Close()
	st, err := d.Lstat(tmp)
	if err != nil || int(st.Uid) != j.euid || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return
	}
	if err := d.Remove(tmp); err != nil {
		j.warn(path.Join(d.Path(), tmp), err)
	}
}
