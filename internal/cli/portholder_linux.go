package cli

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portProcess names the process listening on addr's TCP port, as "PID N, COMMAND",
// or "" when it cannot be told: the listening socket's inode from /proc/net/tcp{,6},
// then the process with an fd linked to socket:[inode]. Best effort: another user's
// process hides its fds unless we are root.
func portProcess(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return ""
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, uint16(port), inodes)
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
				name := strings.TrimSpace(string(comm))
				if name == "" {
					name = "?"
				}
				return fmt.Sprintf("PID %s, %s", filepath.Base(dir), name)
			}
		}
	}
	return ""
}

// listeningInodes adds the inodes of the sockets listening on port in one
// /proc/net/tcp-format table.
func listeningInodes(table string, port uint16, into map[string]bool) {
	f, err := os.Open(table)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" { // 0A: LISTEN
			continue
		}
		i := strings.LastIndexByte(fs[1], ':')
		if p, err := strconv.ParseUint(fs[1][i+1:], 16, 16); err == nil && uint16(p) == port && fs[9] != "0" {
			into[fs[9]] = true
		}
	}
}
