package cassette

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listFiles lists a folder's cassettes as the readers see them.
func listFiles(dir string) ([]string, error) {
	f, err := openFolder(dir, 0)
	if err != nil {
		return nil, err
	}
	return f.files()
}
