//go:build !linux

package cli

// portProcess cannot name the holder of a port off Linux (no /proc): the message
// says how to pick another port instead.
func portProcess(string) string { return "" }
