package cli

import (
	"context"
	"errors"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/restore"
)

// Exit codes. They are listed in the root command's help.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitPartial      = 3
	ExitNoRepository = 10
	ExitWrongPass    = 12
	ExitInterrupted  = 130
)

const exitHelp = `Exit codes:
  0    success
  1    error
  3    backup finished, but some files could not be read (the snapshot lists them);
       restore finished, but some entries could not be restored (each was reported);
       a command finished, but skipped objects of the repository that are missing
       or damaged (each was reported)
  10   no repository at the given location
  12   wrong password or no key found
  130  interrupted`

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, repo.ErrNoRepository):
		return ExitNoRepository
	case errors.Is(err, repo.ErrWrongPassword):
		return ExitWrongPass
	case errors.Is(err, backup.ErrPartial), errors.Is(err, restore.ErrIncomplete), errors.Is(err, repo.ErrDamaged):
		return ExitPartial
	}
	return ExitError
}
