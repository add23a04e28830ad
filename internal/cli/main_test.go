package cli_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"

	"github.com/jmanhype/runestone/internal/cli"
)

// TestMain serves two roles. Run by go test, it runs the tests and then checks that
// none left a goroutine behind. Run by a script as "runestone" (testscript.Main puts
// this binary on the scripts' $PATH under that name), it is the command line.
func TestMain(m *testing.M) {
	testscript.Main(leakChecked{m}, map[string]func(){
		"runestone": func() {
			os.Exit(cli.Main(cli.BuildInfo{Version: "v0.0.0-script", Commit: "abc1234", Date: "2026-01-02T03:04:05Z"}))
		},
	})
}

// leakChecked runs the tests, then goleak, as goleak.VerifyTestMain does (which
// cannot be used here: it exits instead of returning the code to testscript.Main).
type leakChecked struct{ m *testing.M }

func (l leakChecked) Run() int {
	code := l.m.Run()
	if code != 0 {
		return code
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
		return 1
	}
	return 0
}
