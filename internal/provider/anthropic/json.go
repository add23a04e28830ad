package anthropic

import "github.com/jmanhype/runestone/internal/jsonx"

// Short local names for the shared allocation-free JSON writers.
var (
	appendString = jsonx.AppendString
	appendInt    = jsonx.AppendInt
)
