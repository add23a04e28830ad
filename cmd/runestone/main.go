// Command runestone is a local OpenAI-compatible LLM gateway.
package main

import (
	"os"

	"github.com/jmanhype/runestone/internal/cli"
)

// Stamped by the linker: -X main.version=... (see .goreleaser.yaml).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	os.Exit(cli.Main(cli.BuildInfo{Version: version, Commit: commit, Date: date}))
}
