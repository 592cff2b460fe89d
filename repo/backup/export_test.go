package backup

// SetTestHookRead sets a function run when a file was opened for reading,
// before it is read; nil removes it.
func SetTestHookRead(f func(path string)) { testHookRead = f }

// SetTestHookWalk sets a function run when the walk has stat'ed a file,
// before a reader opens it; nil removes it.
func SetTestHookWalk(f func(path string)) { testHookWalk = f }

// SetTestHookHaveAll sets a function run when the blobs of an unchanged
// file are looked up one by one; nil removes it.
func SetTestHookHaveAll(f func()) { testHookHaveAll = f }
