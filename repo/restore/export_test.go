package restore

// TempName is tempName for tests.
var TempName = tempName
