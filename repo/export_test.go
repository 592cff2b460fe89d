package repo

// KillHeartbeat stops a heartbeat's refreshing without removing its file,
// as a killed process leaves it.
func KillHeartbeat(h *Heartbeat) {
	close(h.stop)
	h.wg.Wait()
}

// DroppedPacks returns how many dropped packs the cache still marks.
func DroppedPacks(r *Repository) int { return r.idx.GoneCount() }

// SplitCommand is splitCommand, for tests.
var SplitCommand = splitCommand

// SetMaxPackBlobs sets how many blobs a pack holds at most and returns a
// function that restores the limit.
func SetMaxPackBlobs(n int) func() {
	old := maxPackBlobs
	maxPackBlobs = n
	return func() { maxPackBlobs = old }
}

// The file encoder makes its pool of encoders on first use. Made inside a
// synctest bubble (TestCheckpointTimer, the heartbeat tests), its channel
// belongs to that bubble and the next test's use of it from another one
// is fatal ("receive on synctest channel from outside bubble"), as with
// -count=3 or -run naming one of them; made here, it belongs to none.
func init() { fileEncoder.EncodeAll(nil, nil) }
