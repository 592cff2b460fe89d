package index

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RemoveStale removes the caches in directory parent whose names start
// with prefix, that this user owns, that were last changed before cutoff,
// and that no process holds open: the private caches of processes that
// were killed. An open cache is recognized by badger's lock on its
// directory, so one in use is never removed. It returns how many it
// removed.
func RemoveStale(parent, prefix string, cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		var st unix.Stat_t
		if unix.Lstat(dir, &st) != nil || int(st.Uid) != os.Geteuid() || st.Mtim.Nano() >= cutoff.UnixNano() {
			continue
		}
		if removeUnlocked(dir) {
			n++
		}
	}
	return n, nil
}

// removeUnlocked removes dir if it can take badger's lock on it.
func removeUnlocked(dir string) bool {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // in use
	}
	return os.RemoveAll(dir) == nil
}
