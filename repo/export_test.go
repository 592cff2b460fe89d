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
