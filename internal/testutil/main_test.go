package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks no test leaves a goroutine behind (the package has no tests yet;
// the check is in place for the first one).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
