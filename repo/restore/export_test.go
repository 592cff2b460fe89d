package restore

// TempName is tempName for tests.
var TempName = tempName

// SetBatch sets the batch limits and returns a function restoring them.
func SetBatch(files, writes int) func() {
	f, w := batchFiles, batchWrites
	batchFiles, batchWrites = files, writes
	return func() { batchFiles, batchWrites = f, w }
}
