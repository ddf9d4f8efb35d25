package inmem

import "github.com/inmemdb/inmem/extension"

// RunID names a run: 16 bytes, printed and parsed as a UUID.
type RunID = extension.RunID

// GlobalRun is the zero RunID, the scope for state shared across runs: always active, never
// begun or ended, not journaled.
var GlobalRun RunID

// NewRunID returns a random (UUID version 4) RunID.
func NewRunID() RunID { return extension.NewRunID() }

// ParseRunID parses the UUID text form; anything else is ErrInvalidArgument.
func ParseRunID(s string) (RunID, error) { return extension.ParseRunID(s) }
